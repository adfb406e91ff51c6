/**
 * Data-parallel correctness over real processes and sockets:
 * (b) for a model without BatchNorm or dropout, 2 workers x batch b train exactly like
 *     1 worker x batch 2b (DDP's parity test);
 * (c) in fine_tune's frozen phase the frozen body weights stay bitwise unchanged while the body's
 *     BatchNorm parameters train, and the bytes all-reduced are exactly the trainable parameters'.
 */
import { spawn, type ChildProcess } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as tf from '@tensorflow/tfjs';
import { makeImageFolders } from './helpers/images';
import { CLI } from './helpers/cli';
import { runCoordinator } from '../coordinator/run';
import { DEFAULTS, type RunConfig } from '../shared/config';
import { shmNative } from '../worker/shm/native';
import { buildNet, trainableParams } from '../worker/models';
import { saveModelDir, loadModelDir } from '../worker/models/io';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-parity-'));
const data = join(dir, 'data');

beforeAll(async () => {
  await tf.setBackend('cpu');
  // 16 training images: one global batch of 16 per epoch, either as 1 x 16 or 2 x 8.
  await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 8, validPerClass: 3, size: 16 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function train(world: number, overrides: Partial<RunConfig>): Promise<string> {
  const out = join(dir, `out-${world}-${Math.random().toString(36).slice(2)}`);
  let procs: ChildProcess[] = [];
  try {
    await runCoordinator({
      bind: 'tcp://127.0.0.1:*',
      world,
      log: () => undefined,
      timeoutMs: 60_000,
      config: { ...DEFAULTS, data, size: 16, backend: 'wasm', pretrained: null, out, ...overrides },
      onListening: (endpoint) => {
        procs = Array.from({ length: world }, () =>
          spawn(process.execPath, [CLI, 'worker', '--connect', endpoint], { stdio: ['ignore', 'ignore', 'inherit'] }),
        );
      },
    });
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.on('exit', r)))));
    return out;
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

function weights(out: string): Float32Array {
  const b = readFileSync(join(out, 'weights.bin'));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

it('(b) 2 workers x batch 8 equal 1 worker x batch 16 for a BatchNorm-free model', async () => {
  const bodyDir = join(dir, 'plain-cnn');
  const input = tf.input({ shape: [16, 16, 3] });
  let x = tf.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4 }).apply(x) as tf.SymbolicTensor;
  await saveModelDir(tf.model({ inputs: input, outputs: out }), bodyDir);

  const plan: Partial<RunConfig> = {
    arch: join(bodyDir, 'model.json'),
    linFtrs: [],
    ps: 0,
    firstBn: false,
    plan: 'fit_one_cycle',
    epochs: 3,
    lrMax: 1e-2,
    flip: false,
  };
  const one = weights(await train(1, { ...plan, bs: 16 }));
  let maxAbs = 0;
  for (let i = 0; i < one.length; i++) maxAbs = Math.max(maxAbs, Math.abs(one[i]));
  // Both all-reduces: the ZeroMQ ring, and shared memory where its addon is built ('shm' refuses to fall back);
  // one bucket, and buckets of 300 floats (every layer's gradients all-reduced separately, in order).
  const kinds: RunConfig['allreduce'][] = shmNative().native ? ['ring', 'shm'] : ['ring'];
  for (const [allreduce, bucketMb] of kinds.flatMap(
    (k) =>
      [
        [k, 25],
        [k, 1200 / 2 ** 20],
      ] as const,
  )) {
    const two = weights(await train(2, { ...plan, bs: 8, allreduce, bucketMb }));
    expect(two.length).toBe(one.length);
    let maxDiff = 0;
    for (let i = 0; i < one.length; i++) maxDiff = Math.max(maxDiff, Math.abs(one[i] - two[i]));
    expect(maxDiff / maxAbs).toBeLessThanOrEqual(1e-5);
  }
  // The comparison can fail: half the global batch (1 worker x 8) trains to different weights.
  const half = weights(await train(1, { ...plan, bs: 8 }));
  let halfDiff = 0;
  for (let i = 0; i < one.length; i++) halfDiff = Math.max(halfDiff, Math.abs(one[i] - half[i]));
  expect(halfDiff / maxAbs).toBeGreaterThan(1e-3);
});

it('(c) frozen phase: body frozen bitwise, body BatchNorm trains, only trainable bytes all-reduced', async () => {
  const spec = { arch: 'resnet-small', nClasses: 2, size: 16, seed: 7 };
  const start = await buildNet(spec);
  const pretrained = join(dir, 'backbone');
  await saveModelDir(start.model, pretrained);
  const expectedFloats = trainableParams(start, start.nGroups - 1).reduce((a, p) => a + p.variable.read().size, 0);

  const out = await train(2, { pretrained: join(pretrained, 'model.json'), epochs: 0, freezeEpochs: 1, bs: 4, seed: 7 });
  const before = await loadModelDir(join(pretrained, 'model.json'));
  const after = await loadModelDir(join(out, 'model.json'));
  let frozenChecked = 0;
  let bnChanged = 0;
  for (const layer of before.layers) {
    if (layer.name.startsWith('head_') || layer.weights.length === 0) continue;
    const a = layer.getWeights().map((w) => w.dataSync());
    const b = after
      .getLayer(layer.name)
      .getWeights()
      .map((w) => w.dataSync());
    if (layer.getClassName() === 'BatchNormalization') {
      // gamma, beta trained (train_bn); their values must move
      if (a[0].some((v, i) => v !== b[0][i]) || a[1].some((v, i) => v !== b[1][i])) bnChanged++;
    } else {
      a.forEach((w, k) => expect(Buffer.from(b[k].buffer).equals(Buffer.from(w.buffer))).toBe(true));
      frozenChecked++;
    }
  }
  expect(frozenChecked).toBeGreaterThan(5);
  expect(bnChanged).toBeGreaterThan(5);

  const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((r) => r.kind === 'step');
  expect(steps.length).toBeGreaterThan(0);
  for (const s of steps) expect(s.allreduce_bytes).toBe(expectedFloats * 4);
  start.model.dispose();
  before.dispose();
  after.dispose();
});
