/** Built-in architectures: shapes, torchvision layouts, fastai groups, deterministic init, freezing. */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildSync } from 'esbuild';
import { architectures, buildNet, seedDropout, trainableParams, Net, NetSpec } from '../worker/models';
import { selectBackend } from '../worker/backend';

beforeAll(async () => {
  // wasm with ringtune's gradient kernels (worker/backend.ts) when it loads; results do not depend on it.
  await selectBackend('wasm').catch(() => tf.setBackend('cpu'));
});

const numel = (v: tf.LayerVariable) => (v.shape as number[]).reduce((a, b) => a * b, 1);
const layerOf = (v: tf.LayerVariable) => v.originalName.split('/')[0];
const isHead = (v: tf.LayerVariable) => layerOf(v).startsWith('head_');

/** sha256 over every weight (trainable and BN statistics) in model order. */
function weightHash(net: Net): string {
  const h = createHash('sha256');
  for (const w of net.model.weights) h.update(Buffer.from((w.read().dataSync() as Float32Array).buffer));
  return h.digest('hex');
}

async function withNet<T>(spec: NetSpec, fn: (net: Net) => T | Promise<T>): Promise<T> {
  const net = await buildNet(spec);
  try {
    return await fn(net);
  } finally {
    net.model.dispose();
  }
}

// Trainable parameter counts of torchvision's models without their final fc (weights + BN affine).
const TORCHVISION_BODY_PARAMS: Record<string, number> = {
  resnet18: 11_176_512,
  resnet34: 21_284_672,
  resnet50: 23_508_032,
  mobilenet_v2: 2_223_872,
};

/**
 * Runs `body` (TypeScript, with `buildNet` and `tf` in scope) in a plain Node process: jest's vm
 * sandbox makes the per-element init loops of the big models ~20x slower, and a second process
 * is also what the determinism promise is about. Returns the JSON the script prints last.
 */
function runInNode(body: string): unknown {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtune-models-'));
  try {
    const src = path.join(dir, 'child.ts');
    fs.writeFileSync(
      src,
      `import * as tf from '@tensorflow/tfjs';
       import { createHash } from 'crypto';
       import { buildNet } from ${JSON.stringify(path.resolve(__dirname, '../worker/models'))};
       const hashOf = (model: tf.LayersModel) => {
         const h = createHash('sha256');
         for (const w of model.weights) h.update(Buffer.from((w.read().dataSync() as Float32Array).buffer));
         return h.digest('hex');
       };
       (async () => {
         await tf.setBackend('cpu');
         const result: unknown = await (async () => { ${body} })();
         process.stdout.write('\\nRESULT ' + JSON.stringify(result) + '\\n');
       })().catch((e) => { console.error(e); process.exit(1); });`,
    );
    buildSync({
      entryPoints: [src],
      bundle: true,
      platform: 'node',
      outfile: path.join(dir, 'child.js'),
      external: ['@tensorflow/*'],
      logLevel: 'error',
    });
    const r = spawnSync(process.execPath, [path.join(dir, 'child.js')], {
      env: { ...process.env, NODE_PATH: path.resolve(__dirname, '../node_modules') },
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) throw new Error(`child failed (${r.status} ${r.signal}): ${r.stderr}`);
    return JSON.parse(/\nRESULT (.*)\n/.exec(r.stdout)![1]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('architectures', () => {
  test('lists the built-ins', () => {
    expect(architectures().sort()).toEqual(['mobilenet_v2', 'resnet-small', 'resnet18', 'resnet34', 'resnet50']);
  });

  test('every arch: logits [B, nClasses], torchvision body sizes, fastai head (in a plain node process)', () => {
    const cases: [string, number, number][] = [
      ['resnet-small', 28, 128],
      ['resnet18', 32, 512],
      ['resnet34', 32, 512],
      ['resnet50', 32, 2048],
      ['mobilenet_v2', 48, 1280],
    ];
    const results = runInNode(`
      const out = [];
      for (const [arch, size] of ${JSON.stringify(cases)}) {
        const net = await buildNet({ arch, nClasses: 7, size, seed: 0 });
        const x = tf.randomUniform([2, size, size, 3], -1, 1, 'float32', 5);
        const y = net.model.predict(x) as tf.Tensor;
        const isHead = (v: tf.LayerVariable) => v.originalName.startsWith('head_');
        out.push({
          shape: y.shape,
          finite: Array.from(y.dataSync()).every(Number.isFinite),
          bodyParams: net.params.filter((p) => !isHead(p.variable)).reduce((a, p) => a + p.variable.shape.reduce((s: number, d) => s * (d as number), 1), 0),
          headShapes: net.params.filter((p) => isHead(p.variable)).map((p) => p.variable.shape),
          features: (net.model.getLayer('head_maxpool').input as tf.SymbolicTensor).shape,
        });
        tf.dispose([x, y]);
        net.model.dispose();
      }
      return out;`) as { shape: number[]; finite: boolean; bodyParams: number; headShapes: number[][]; features: number[] }[];
    results.forEach((r, i) => {
      const [arch, , nf] = cases[i];
      expect([arch, r.shape, r.finite]).toEqual([arch, [2, 7], true]);
      if (TORCHVISION_BODY_PARAMS[arch]) expect([arch, r.bodyParams]).toEqual([arch, TORCHVISION_BODY_PARAMS[arch]]);
      // BN(2nf) gamma, beta; Linear 2nf->512; BN(512) gamma, beta; Linear 512->7; no biases.
      expect(r.headShapes).toEqual([[2 * nf], [2 * nf], [2 * nf, 512], [512], [512], [512, 7]]);
      expect(r.features[3]).toBe(nf);
    });
    // Spatial sizes follow PyTorch's padding arithmetic: 28 -> 28,14,7,4; 32 -> /32 = 1; 48 -> /32 = 2.
    expect(results.map((r) => r.features.slice(1, 3))).toEqual([
      [4, 4],
      [1, 1],
      [1, 1],
      [1, 1],
      [2, 2],
    ]);
  });

  test('resnet-small in process: shapes and imagenet stats', async () => {
    await withNet({ arch: 'resnet-small', nClasses: 3, size: 48, seed: 0 }, (net) => {
      expect((net.model.getLayer('head_maxpool').input as tf.SymbolicTensor).shape).toEqual([null, 6, 6, 128]);
      const x = tf.zeros([1, 48, 48, 3]);
      const y = net.model.predict(x) as tf.Tensor;
      expect(y.shape).toEqual([1, 3]);
      tf.dispose([x, y]);
      expect(net.stats).toEqual({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    });
  });

  test('bad specs fail with a clear message', async () => {
    await expect(buildNet({ arch: 'resnet99', nClasses: 2, size: 28, seed: 0 })).rejects.toThrow(/unknown arch 'resnet99'.*resnet-small/);
    await expect(buildNet({ arch: 'resnet-small', nClasses: 0, size: 28, seed: 0 })).rejects.toThrow(/nClasses/);
    await expect(buildNet({ arch: 'resnet-small', nClasses: 2, size: 0, seed: 0 })).rejects.toThrow(/size/);
    await expect(buildNet({ arch: 'resnet-small', nClasses: 2, size: 28, seed: 0.5 })).rejects.toThrow(/seed/);
    await expect(buildNet({ arch: 'resnet-small', nClasses: 2, size: 28, seed: 0, groups: 1 })).rejects.toThrow(
      /groups must be an integer >= 2/,
    );
    await expect(buildNet({ arch: 'resnet-small', nClasses: 2, size: 28, seed: 0, groups: 7 })).rejects.toThrow(/only 5 units/);
  });
});

describe('parameter groups', () => {
  test('resnet: every trainable weight once, fastai split stem..stage2 / stage3-4 / head, flags', async () => {
    await withNet({ arch: 'resnet-small', nClasses: 4, size: 28, seed: 1 }, (net) => {
      expect(net.nGroups).toBe(3);
      const ids = net.params.map((p) => p.variable.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.sort()).toEqual(net.model.trainableWeights.map((w) => (w as unknown as tf.LayerVariable).id).sort());
      for (const p of net.params) {
        const layer = layerOf(p.variable);
        const want = layer.startsWith('head_') ? 2 : /^layer[34]_/.test(layer) ? 1 : 0;
        expect([layer, p.group]).toEqual([layer, want]);
        const kind = p.variable.originalName.split('/')[1];
        expect([layer, kind, p.norm]).toEqual([layer, kind, kind === 'gamma' || kind === 'beta']);
        expect(p.bias).toBe(false);
      }
      expect(net.params.filter((p) => p.group === 0).some((p) => layerOf(p.variable).startsWith('stem'))).toBe(true);
      expect(net.params.filter((p) => p.group === 0).some((p) => layerOf(p.variable).startsWith('layer2_'))).toBe(true);
      // BN statistics: moving mean and variance of every BN layer, never trainable.
      const bnLayers = net.model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
      expect(net.bnStats.length).toBe(2 * bnLayers.length);
      expect(net.bnStats.map((v) => v.originalName.split('/')[1])).toEqual(bnLayers.flatMap(() => ['moving_mean', 'moving_variance']));
      expect(net.bnStats.every((v) => !v.trainable)).toBe(true);
    });
  });

  test('groups override: body in groups-1 contiguous chunks, head last', async () => {
    await withNet({ arch: 'resnet-small', nClasses: 2, size: 28, seed: 1, groups: 4 }, (net) => {
      expect(net.nGroups).toBe(4);
      // Units: stem, layer1..layer4 (one block each) -> 3 chunks: [stem] [layer1, layer2] [layer3, layer4].
      const unitGroup: Record<string, number> = {};
      for (const p of net.params) {
        const unit = layerOf(p.variable).split('_')[0];
        if (unit in unitGroup) expect([unit, p.group]).toEqual([unit, unitGroup[unit]]);
        unitGroup[unit] = p.group;
      }
      expect(unitGroup).toEqual({ stem: 0, layer1: 1, layer2: 1, layer3: 2, layer4: 2, head: 3 });
    });
    // Asking for the arch's own count keeps fastai's split.
    await withNet({ arch: 'resnet-small', nClasses: 2, size: 28, seed: 1, groups: 3 }, (net) => {
      expect(net.params.find((p) => layerOf(p.variable) === 'layer2_0_1_conv')!.group).toBe(0);
    });
  });

  test('mobilenet_v2: body halves + head', async () => {
    await withNet({ arch: 'mobilenet_v2', nClasses: 2, size: 32, seed: 1 }, (net) => {
      expect(net.nGroups).toBe(3);
      const groupOf = (layer: string) => net.params.find((p) => layerOf(p.variable) === layer)!.group;
      // 19 units (stem, 17 inverted residuals, last conv): units 0-8 | 9-18.
      expect([
        groupOf('stem_conv'),
        groupOf('block7_project_conv'),
        groupOf('block8_expand_conv'),
        groupOf('last_conv'),
        groupOf('head_fc2'),
      ]).toEqual([0, 0, 1, 1, 2]);
    });
  });

  test('trainableParams: frozen phase trains the head and every norm param (train_bn)', async () => {
    await withNet({ arch: 'resnet-small', nClasses: 4, size: 28, seed: 1 }, (net) => {
      const frozen = trainableParams(net, net.nGroups - 1);
      expect(frozen).toEqual(net.params.filter((p) => p.group === 2 || p.norm));
      expect(frozen.some((p) => p.group === 0 && p.norm)).toBe(true);
      expect(frozen.some((p) => p.group < 2 && !p.norm)).toBe(false);
      expect(trainableParams(net, -1)).toEqual(frozen);
      expect(trainableParams(net, 0)).toEqual(net.params);
      expect(trainableParams(net, 2).length).toBeLessThan(trainableParams(net, 1).length);
    });
  });
});

describe('deterministic init', () => {
  test('same seed -> bitwise identical, different seed -> different', async () => {
    const spec = { arch: 'resnet-small', nClasses: 10, size: 28, seed: 42 };
    const a = await withNet(spec, weightHash);
    const b = await withNet(spec, weightHash);
    const c = await withNet({ ...spec, seed: 43 }, weightHash);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  test('identical in another process', async () => {
    const spec = { arch: 'resnet-small', nClasses: 3, size: 32, seed: 7 };
    const here = await withNet(spec, weightHash);
    expect(runInNode(`const net = await buildNet(${JSON.stringify(spec)}); return hashOf(net.model);`)).toBe(here);
  });

  test('values follow torchvision (body) and fastai (head) init', async () => {
    await withNet({ arch: 'resnet-small', nClasses: 5, size: 28, seed: 3 }, (net) => {
      const values = (name: string) =>
        net.model.weights
          .find((w) => w.originalName === name)!
          .read()
          .dataSync() as Float32Array;
      const std = (v: Float32Array) => {
        const m = v.reduce((a, b) => a + b, 0) / v.length;
        return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
      };
      // Body conv: kaiming normal, fan_out = kh*kw*cout.
      expect(std(values('layer3_0_1_conv/kernel')) / Math.sqrt(2 / (9 * 64))).toBeCloseTo(1, 1);
      // Head linear: kaiming normal, fan_in.
      expect(std(values('head_fc1/kernel')) / Math.sqrt(2 / 256)).toBeCloseTo(1, 1);
      expect(std(values('head_fc2/kernel')) / Math.sqrt(2 / 512)).toBeCloseTo(1, 1);
      expect(Array.from(values('layer1_0_1_bn/gamma')).every((v) => v === 1)).toBe(true);
      expect(Array.from(values('layer1_0_1_bn/beta')).every((v) => v === 0)).toBe(true);
      expect(Array.from(values('head_bn1/gamma')).every((v) => v === 1)).toBe(true);
      expect(Array.from(values('head_bn1/beta')).every((v) => v === Math.fround(1e-3))).toBe(true);
      expect(Array.from(values('head_bn2/moving_variance')).every((v) => v === 1)).toBe(true);
      const bn = net.model.getLayer('head_bn1').getConfig();
      expect([bn.momentum, bn.epsilon]).toEqual([0.9, 1e-5]);
    });
  });
});

describe('training mode', () => {
  test('every param gets a finite gradient; BN statistics move with PyTorch momentum 0.1', async () => {
    await withNet({ arch: 'resnet-small', nClasses: 3, size: 16, seed: 4 }, (net) => {
      const x = tf.randomUniform([4, 16, 16, 3], -1, 1, 'float32', 9);
      const stemOut = tf.model({ inputs: net.model.inputs, outputs: net.model.getLayer('stem_conv').output as tf.SymbolicTensor });
      const { mean, variance } = tf.tidy(() => tf.moments(stemOut.predict(x) as tf.Tensor, [0, 1, 2]));
      const vars = net.params.map((p) => p.variable.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(
        () => tf.tidy(() => tf.mean(tf.square(net.model.apply(x, { training: true }) as tf.Tensor))) as tf.Scalar,
        vars,
      );
      for (const v of vars) {
        const g = grads[v.name];
        expect([v.name, g.shape]).toEqual([v.name, v.shape]);
        expect([v.name, Array.from(g.dataSync()).every(Number.isFinite)]).toEqual([v.name, true]);
      }
      const stat = (name: string) =>
        Array.from(
          net.bnStats
            .find((v) => v.originalName === `stem_bn/${name}`)!
            .read()
            .dataSync(),
        );
      const close = (a: number[], b: number[]) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 5));
      close(
        stat('moving_mean'),
        Array.from(mean.dataSync()).map((m) => 0.1 * m),
      );
      close(
        stat('moving_variance'),
        Array.from(variance.dataSync()).map((v) => 0.9 + 0.1 * v),
      );
      tf.dispose([x, mean, variance, value, ...Object.values(grads)]);
    });
  });

  test('seedDropout: same seed -> same masks, new seed -> new masks, rate .25', async () => {
    await withNet({ arch: 'resnet-small', nClasses: 3, size: 16, seed: 4 }, (net) => {
      const x = tf.randomUniform([8, 16, 16, 3], -1, 1, 'float32', 9);
      const drop1 = net.model.getLayer('head_drop1');
      const probe = tf.model({ inputs: net.model.inputs, outputs: drop1.output as tf.SymbolicTensor });
      const zeros = (seed: number) => {
        seedDropout(net.model, seed);
        return tf.tidy(() => Array.from((probe.apply(x, { training: true }) as tf.Tensor).equal(0).dataSync()));
      };
      const a = zeros(1);
      expect(zeros(1)).toEqual(a);
      expect(zeros(2)).not.toEqual(a);
      expect(a.reduce((s, v) => s + v, 0) / a.length).toBeCloseTo(0.25, 1);
      x.dispose();
    });
  });
});
