/** Model files: save/load round trip, loader errors, pretrained body weights, Keras-model cut. */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildNet, Net } from '../worker/models';
import { loadModelDir, modelArtifacts, saveModelDir } from '../worker/models/io';
import { selectBackend } from '../worker/backend';

let tmp: string;
beforeAll(async () => {
  // wasm (worker/backend.ts) only makes predictions faster; nothing here depends on the backend.
  await selectBackend('wasm').catch(() => tf.setBackend('cpu'));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ringtune-models-io-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** sha1 of a weight's bytes: exact comparison without jest diffing 100k-element arrays. */
const values = (w: tf.LayerVariable) =>
  createHash('sha1')
    .update(w.read().dataSync() as Float32Array)
    .digest('hex');
const byName = (model: tf.LayersModel) => new Map(model.weights.map((w) => [w.originalName, w]));

/** Gives BN statistics non-default values so a round trip that dropped them would show. */
function perturbBnStats(net: Net, seed: number): void {
  net.bnStats.forEach((v, i) => {
    const t = tf.randomUniform(v.shape as number[], 0.5, 1.5, 'float32', seed + i);
    v.write(t);
    t.dispose();
  });
}

function predict(model: tf.LayersModel, size: number): Float32Array {
  const x = tf.randomUniform([2, size, size, 3], -2, 2, 'float32', 11);
  const y = model.predict(x) as tf.Tensor;
  const out = y.dataSync() as Float32Array;
  tf.dispose([x, y]);
  return out;
}

describe('model files', () => {
  let net: Net;
  let dir: string;
  beforeAll(async () => {
    net = await buildNet({ arch: 'resnet-small', nClasses: 4, size: 28, seed: 1 });
    perturbBnStats(net, 100);
    dir = path.join(tmp, 'roundtrip');
    await saveModelDir(net.model, dir, { 'labels.json': '["a","b","c","d"]' });
  });
  afterAll(() => net.model.dispose());

  test('standard layout: model.json -> weights.bin holding every weight, extra files beside', async () => {
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.modelTopology.class_name).toBe('Model');
    expect(json.weightsManifest.map((g: { paths: string[] }) => g.paths)).toEqual([['weights.bin']]);
    const floats = net.model.weights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0);
    expect(fs.statSync(path.join(dir, 'weights.bin')).size).toBe(4 * floats);
    expect(fs.readFileSync(path.join(dir, 'labels.json'), 'utf8')).toBe('["a","b","c","d"]');
    expect(fs.readdirSync(dir).sort()).toEqual(['labels.json', 'model.json', 'weights.bin']);
    const art = await modelArtifacts(net.model);
    expect(art.modelJson).toBe(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(Buffer.from(art.weights).equals(fs.readFileSync(path.join(dir, 'weights.bin')))).toBe(true);
  });

  test('round trip: same weights, same predictions', async () => {
    const loaded = await loadModelDir(path.join(dir, 'model.json'));
    try {
      const a = byName(net.model);
      const b = byName(loaded);
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      for (const [name, w] of a) expect([name, values(b.get(name)!)]).toEqual([name, values(w)]);
      expect(Array.from(predict(loaded, 28))).toEqual(Array.from(predict(net.model, 28)));
    } finally {
      loaded.dispose();
    }
  });

  test('loader errors name the file at fault', async () => {
    const bad = path.join(tmp, 'bad');
    fs.mkdirSync(bad, { recursive: true });
    await expect(loadModelDir(path.join(bad, 'nope.json'))).rejects.toThrow(/cannot read model file .*bad\/nope\.json/);
    fs.writeFileSync(path.join(bad, 'garbage.json'), '{"modelTopology": ');
    await expect(loadModelDir(path.join(bad, 'garbage.json'))).rejects.toThrow(/garbage\.json is not valid JSON/);
    fs.writeFileSync(path.join(bad, 'empty.json'), '{"weightsManifest": []}');
    await expect(loadModelDir(path.join(bad, 'empty.json'))).rejects.toThrow(/empty\.json has no modelTopology/);
    fs.writeFileSync(path.join(bad, 'graph.json'), '{"format": "graph-model", "modelTopology": {}}');
    await expect(loadModelDir(path.join(bad, 'graph.json'))).rejects.toThrow(/graph\.json has format 'graph-model'/);
    const modelJson = fs.readFileSync(path.join(dir, 'model.json'), 'utf8');
    fs.writeFileSync(path.join(bad, 'model.json'), modelJson);
    await expect(loadModelDir(path.join(bad, 'model.json'))).rejects.toThrow(
      /cannot read weight file .*bad\/weights\.bin listed in .*bad\/model\.json/,
    );
    fs.writeFileSync(path.join(bad, 'weights.bin'), fs.readFileSync(path.join(dir, 'weights.bin')).subarray(0, 1000));
    await expect(loadModelDir(path.join(bad, 'model.json'))).rejects.toThrow(
      /weight files of .*bad\/model\.json hold 1000 bytes, its weightsManifest describes \d+/,
    );
  });
});

describe('pretrained', () => {
  test('copies every body weight (BN statistics included); head keeps its seeded init', async () => {
    const src = await buildNet({ arch: 'resnet-small', nClasses: 10, size: 28, seed: 1 });
    perturbBnStats(src, 200);
    const file = path.join(tmp, 'backbone');
    await saveModelDir(src.model, file);
    const net = await buildNet({ arch: 'resnet-small', nClasses: 3, size: 32, seed: 2, pretrained: file }); // a folder works too
    const fresh = await buildNet({ arch: 'resnet-small', nClasses: 3, size: 32, seed: 2 });
    try {
      const a = byName(src.model);
      const f = byName(fresh.model);
      let body = 0;
      for (const w of net.model.weights) {
        const name = w.originalName;
        if (name.startsWith('head_')) {
          expect([name, values(w)]).toEqual([name, values(f.get(name)!)]);
        } else {
          expect([name, values(w)]).toEqual([name, values(a.get(name)!)]);
          body++;
        }
      }
      expect(body).toBe(a.size - 10); // all but the source's own head (2 BN x 4 + 2 dense)
    } finally {
      [src, net, fresh].forEach((n) => n.model.dispose());
    }
  });

  test('a shape mismatch names the file, both layers and both shapes', async () => {
    const file = path.join(tmp, 'mismatch');
    const m = tf.sequential({
      layers: [tf.layers.conv2d({ name: 'conv_a', inputShape: [8, 8, 3], filters: 8, kernelSize: 3, useBias: false })],
    });
    await saveModelDir(m, file);
    m.dispose();
    const spec = { arch: 'resnet-small', nClasses: 3, size: 28, seed: 0, pretrained: path.join(file, 'model.json') };
    await expect(buildNet(spec)).rejects.toThrow(
      /pretrained .*mismatch\/model\.json: layer 0 'conv_a' has weight shapes \[3,3,3,8\], body layer 'stem_conv' expects \[3,3,3,16\]/,
    );
    const before = tf.memory().numTensors;
    await expect(buildNet(spec)).rejects.toThrow(/conv_a/);
    expect(tf.memory().numTensors).toBe(before); // a failed build frees what it made
  });

  test('too few layers and a missing file are clear errors', async () => {
    const file = path.join(tmp, 'short');
    const m = tf.sequential({
      layers: [tf.layers.conv2d({ name: 'conv_b', inputShape: [8, 8, 3], filters: 16, kernelSize: 3, useBias: false })],
    });
    await saveModelDir(m, file);
    m.dispose();
    await expect(
      buildNet({ arch: 'resnet-small', nClasses: 3, size: 28, seed: 0, pretrained: path.join(file, 'model.json') }),
    ).rejects.toThrow(/pretrained .*short\/model\.json has 1 layers with weights; the body needs \d+/);
    await expect(
      buildNet({ arch: 'resnet-small', nClasses: 3, size: 28, seed: 0, pretrained: path.join(tmp, 'none', 'model.json') }),
    ).rejects.toThrow(/cannot read model file .*none\/model\.json/);
  });
});

describe('arch from a Keras-style model.json', () => {
  let file: string;
  beforeAll(async () => {
    // keras.applications shape in miniature: an early max pool, the last pool before the classifier.
    const init = (seed: number) => tf.initializers.glorotNormal({ seed });
    const input = tf.input({ shape: [16, 16, 3], name: 'input_1' });
    let x = tf.layers
      .conv2d({
        name: 'conv1',
        filters: 8,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(1),
        biasInitializer: 'ones',
      })
      .apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .conv2d({ name: 'conv2', filters: 16, kernelSize: 3, padding: 'same', kernelInitializer: init(2) })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn2', trainable: false }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ name: 'relu2', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
    const out = tf.layers
      .dense({ name: 'predictions', units: 10, activation: 'softmax', kernelInitializer: init(3) })
      .apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    model.layers
      .filter((l) => l.getClassName() === 'BatchNormalization')
      .forEach((l, i) => {
        const ws = l.weights.map((w, k) => tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', 10 * i + k));
        l.setWeights(ws);
        tf.dispose(ws);
      });
    file = path.join(tmp, 'keras', 'model.json');
    await saveModelDir(model, path.dirname(file));
    model.dispose();
  });

  test('cut before the last pooling layer, head attached, body halves + head, file weights kept', async () => {
    const net = await buildNet({ arch: file, nClasses: 4, size: 24, seed: 3 });
    const src = await loadModelDir(file);
    try {
      const names = net.model.layers.map((l) => l.name);
      expect(names.slice(0, 7)).toEqual(['input', 'conv1', 'bn1', 'pool1', 'conv2', 'bn2', 'relu2']);
      expect(names).not.toContain('avg_pool');
      expect(names).not.toContain('predictions');
      expect(predict(net.model, 24).length).toBe(2 * 4);
      expect(net.nGroups).toBe(3);
      const info = net.params.map((p) => [p.variable.originalName, p.group, p.norm, p.bias]);
      expect(info.slice(0, 8)).toEqual([
        ['conv1/kernel', 0, false, false],
        ['conv1/bias', 0, false, true],
        ['bn1/gamma', 0, true, false],
        ['bn1/beta', 0, true, false],
        ['conv2/kernel', 1, false, false],
        ['conv2/bias', 1, false, true],
        ['bn2/gamma', 1, true, false],
        ['bn2/beta', 1, true, false], // trainable again: freezing is by groups
      ]);
      expect(info.slice(8).every(([name, group]) => String(name).startsWith('head_') && group === 2)).toBe(true);
      expect(net.model.getLayer('head_fc1').weights[0].shape).toEqual([32, 512]);
      expect(net.bnStats.map((v) => v.originalName).slice(0, 4)).toEqual([
        'bn1/moving_mean',
        'bn1/moving_variance',
        'bn2/moving_mean',
        'bn2/moving_variance',
      ]);
      const s = byName(src);
      for (const w of net.model.weights) {
        if (!w.originalName.startsWith('head_'))
          expect([w.originalName, values(w)]).toEqual([w.originalName, values(s.get(w.originalName)!)]);
      }
    } finally {
      net.model.dispose();
      src.dispose();
    }
  });

  test('the rebuilt body computes what the file computes', async () => {
    const net = await buildNet({ arch: file, nClasses: 2, size: 16, seed: 3 });
    const src = await loadModelDir(file);
    try {
      const ours = tf.model({ inputs: net.model.inputs, outputs: net.model.getLayer('head_maxpool').input as tf.SymbolicTensor });
      const theirs = tf.model({ inputs: src.inputs, outputs: src.getLayer('avg_pool').input as tf.SymbolicTensor });
      expect(Array.from(predict(ours, 16))).toEqual(Array.from(predict(theirs, 16)));
    } finally {
      net.model.dispose();
      src.dispose();
    }
  });

  test('groups override splits the file body too; seeded head is deterministic', async () => {
    const a = await buildNet({ arch: file, nClasses: 2, size: 16, seed: 5, groups: 5 });
    const b = await buildNet({ arch: file, nClasses: 2, size: 16, seed: 5 });
    try {
      expect(a.nGroups).toBe(5);
      expect(a.params.filter((p) => !p.variable.originalName.startsWith('head_')).map((p) => p.group)).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
      const head = (n: Net) => n.params.filter((p) => p.group === n.nGroups - 1).map((p) => values(p.variable));
      expect(head(a)).toEqual(head(b));
    } finally {
      a.model.dispose();
      b.model.dispose();
    }
  });

  test("tensorflowjs_converter's layout (keras_version + model_config, class Functional, sharded weights) loads the same", async () => {
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    const { class_name: _cls, config, ...rest } = json.modelTopology;
    json.modelTopology = { ...rest, keras_version: '2.15.0', backend: 'tensorflow', model_config: { class_name: 'Functional', config } };
    const dir = path.join(tmp, 'converter');
    fs.mkdirSync(dir, { recursive: true });
    // ... and weights in shards, as the converter writes them.
    const bin = fs.readFileSync(path.join(path.dirname(file), 'weights.bin'));
    json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    fs.writeFileSync(path.join(dir, 'group1-shard1of2.bin'), bin.subarray(0, 1000));
    fs.writeFileSync(path.join(dir, 'group1-shard2of2.bin'), bin.subarray(1000));
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    const a = await buildNet({ arch: path.join(dir, 'model.json'), nClasses: 2, size: 16, seed: 5 });
    const b = await buildNet({ arch: file, nClasses: 2, size: 16, seed: 5 });
    try {
      expect(a.model.weights.map((w) => values(w))).toEqual(b.model.weights.map((w) => values(w)));
    } finally {
      a.model.dispose();
      b.model.dispose();
    }
  });

  test('a model that already ends in a feature map is kept whole (not cut at an early pool)', async () => {
    const input = tf.input({ shape: [16, 16, 3] });
    let x = tf.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3 }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ name: 'pool_early', poolSize: 2 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ name: 'c2', filters: 6, kernelSize: 3 }).apply(x) as tf.SymbolicTensor;
    const notop = tf.model({ inputs: input, outputs: x });
    await saveModelDir(notop, path.join(tmp, 'notop'));
    notop.dispose();
    const net = await buildNet({ arch: path.join(tmp, 'notop'), nClasses: 2, size: 20, seed: 0 }); // the folder
    try {
      expect(net.model.layers.map((l) => l.name).slice(0, 4)).toEqual(['input', 'c1', 'pool_early', 'c2']);
      expect((net.model.getLayer('head_maxpool').input as tf.SymbolicTensor).shape).toEqual([null, 7, 7, 6]);
    } finally {
      net.model.dispose();
    }
  });

  test('models that cannot be cut are refused with the file named', async () => {
    const flat = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 3] }), tf.layers.dense({ units: 3 })] });
    await saveModelDir(flat, path.join(tmp, 'flat'));
    flat.dispose();
    await expect(buildNet({ arch: path.join(tmp, 'flat', 'model.json'), nClasses: 2, size: 16, seed: 0 })).rejects.toThrow(
      /flat\/model\.json: no pooling layer to cut the body at/,
    );
    const grey = tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3 }), tf.layers.globalAveragePooling2d({})],
    });
    await saveModelDir(grey, path.join(tmp, 'grey'));
    grey.dispose();
    await expect(buildNet({ arch: path.join(tmp, 'grey', 'model.json'), nClasses: 2, size: 16, seed: 0 })).rejects.toThrow(
      /grey\/model\.json: model input shape \[,8,8,1\] is not \[batch, h, w, 3\]/,
    );
  });

  test('disposing a net frees every tensor it made (built-in + pretrained, and Keras cut)', async () => {
    const backbone = path.join(tmp, 'leak-backbone');
    const src = await buildNet({ arch: 'resnet-small', nClasses: 2, size: 28, seed: 1 });
    await saveModelDir(src.model, backbone);
    src.model.dispose();
    const before = tf.memory().numTensors;
    const a = await buildNet({ arch: 'resnet-small', nClasses: 2, size: 28, seed: 1, pretrained: path.join(backbone, 'model.json') });
    expect(tf.memory().numTensors).toBe(before + a.model.weights.length);
    a.model.dispose();
    const b = await buildNet({ arch: file, nClasses: 2, size: 16, seed: 1 });
    expect(tf.memory().numTensors).toBe(before + b.model.weights.length);
    b.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
