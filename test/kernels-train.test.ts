/**
 * Whole training steps on wasm (each kernel set: ringtune's wasm kernels, oneDNN's where installed)
 * against the cpu backend: a small conv net
 * with BatchNorm, depthwise conv, ReLU6, a residual add, global max+avg pools and a dense head.
 */
import { relError } from './helpers/numerics';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../worker/backend';
import { kernelModes, useKernels } from './helpers/kernel-modes';

const modes = kernelModes();

function smallNet(withDropout: boolean): tf.LayersModel {
  const inp = tf.input({ shape: [12, 12, 3] });
  const bn = () => tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
  const seed = (s: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed: s }) });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, ...seed(1) }).apply(inp) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(bn().apply(x)) as tf.SymbolicTensor;
  let y = tf.layers
    .depthwiseConv2d({
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      depthwiseInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    })
    .apply(x) as tf.SymbolicTensor;
  y = tf.layers.reLU().apply(bn().apply(y)) as tf.SymbolicTensor;
  y = tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false, ...seed(3) }).apply(y) as tf.SymbolicTensor;
  const shortcut = tf.layers.conv2d({ filters: 16, kernelSize: 1, strides: 2, useBias: false, ...seed(4) }).apply(x) as tf.SymbolicTensor;
  let z = tf.layers.add().apply([bn().apply(y) as tf.SymbolicTensor, shortcut]) as tf.SymbolicTensor;
  z = tf.layers
    .conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', ...seed(5) })
    .apply(z) as tf.SymbolicTensor;
  const pooled = tf.layers
    .concatenate()
    .apply([
      tf.layers.globalAveragePooling2d({}).apply(z) as tf.SymbolicTensor,
      tf.layers.globalMaxPooling2d({}).apply(z) as tf.SymbolicTensor,
    ]) as tf.SymbolicTensor;
  let h = bn().apply(pooled) as tf.SymbolicTensor;
  if (withDropout) h = tf.layers.dropout({ rate: 0.25 }).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, ...seed(6) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: inp, outputs: out });
}

/** Loss and gradients of one training-mode step; BN moving stats update as a side effect. */
function step(model: tf.LayersModel, x: tf.Tensor, labels: tf.Tensor): { loss: tf.Scalar; grads: tf.Tensor[] } {
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    vars,
  );
  return { loss: value, grads: vars.map((v) => grads[v.name]) };
}

describe('training step on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  test.each(modes)('%s: loss, gradients and BatchNorm statistics match the cpu backend', async (mode) => {
    const model = smallNet(false);
    const x = tf.randomNormal([4, 12, 12, 3], 0, 1, 'float32', 11);
    const labels = tf.oneHot(tf.tensor1d([0, 3, 1, 4], 'int32'), 5);
    const initial = model.getWeights().map((w) => w.clone());
    const results: Record<string, { loss: number; grads: tf.TypedArray[]; stats: tf.TypedArray[] }> = {};
    for (const backend of ['cpu', 'wasm']) {
      if (backend === 'cpu') await tf.setBackend('cpu');
      else await useKernels(mode);
      model.setWeights(initial);
      const { loss, grads } = step(model, x, labels);
      results[backend] = {
        loss: (await loss.data())[0],
        grads: await Promise.all(grads.map((g) => g.data())),
        stats: await Promise.all(model.getWeights().map((w) => w.data())),
      };
      tf.dispose([loss, ...grads]);
    }
    const { cpu, wasm } = results;
    expect(Math.abs(wasm.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(1e-5);
    expect(wasm.grads.length).toBe(model.trainableWeights.length);
    const gradErrors = wasm.grads.map((g, i) => relError(g, cpu.grads[i]));
    expect(Math.max(...gradErrors)).toBeLessThan(1e-4);
    const worstStat = Math.max(...wasm.stats.map((s, i) => relError(s, cpu.stats[i])));
    expect(worstStat).toBeLessThan(1e-5);
    tf.dispose([x, labels, ...initial]);
  });

  test.each([
    ['per-channel statistics', [5]],
    ['broadcast statistics', [1, 3, 1, 5]],
  ])('BatchNorm gradient (%s) equals the gradient of the explicit formula', async (_name, statShape) => {
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const x = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 21);
      const w = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 22);
      const mean = tf.randomNormal(statShape as number[], 0, 1, 'float32', 23);
      const variance = tf.randomUniform(statShape as number[], 0.5, 2, 'float32', 24);
      const scale = tf.randomNormal(statShape as number[], 0, 1, 'float32', 25);
      const offset = tf.randomNormal(statShape as number[], 0, 1, 'float32', 26);
      const fused = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
        tf.sum(tf.mul(w, tf.batchNorm(a, m, v, o, s, 1e-5)));
      const explicit = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
        tf.sum(tf.mul(w, tf.add(tf.mul(tf.mul(tf.sub(a, m), tf.rsqrt(tf.add(v, 1e-5))), s), o)));
      const got = tf.grads(fused)([x, mean, variance, scale, offset]);
      const want = tf.grads(explicit)([x, mean, variance, scale, offset]);
      for (let i = 0; i < 5; i++)
        expect([backend, i, relError(await got[i].data(), await want[i].data()) < 1e-5]).toEqual([backend, i, true]);
      tf.dispose([x, w, mean, variance, scale, offset, ...got, ...want]);
    }
  });

  test.each(modes)('%s: a dropout head trains on wasm and the tensor count stays flat over 200 Adam steps', async (mode) => {
    await useKernels(mode);
    const model = smallNet(true);
    const x = tf.randomNormal([4, 12, 12, 3], 0, 1, 'float32', 12);
    const labels = tf.oneHot(tf.tensor1d([1, 2, 1, 0], 'int32'), 5);
    const opt = tf.train.adam(1e-2);
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const losses: number[] = [];
    let afterFirst = 0;
    for (let i = 0; i < 200; i++) {
      const loss = opt.minimize(
        () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        true,
        vars,
      )!;
      losses.push((await loss.data())[0]);
      loss.dispose();
      if (i === 1) afterFirst = tf.memory().numTensors;
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[199]).toBeLessThan(losses[0]);
    expect(tf.memory().numTensors).toBe(afterFirst);
    opt.dispose();
    tf.dispose([x, labels]);
  });
});
