/**
 * A training step with oneDNN's kernels equals one with ringtune's wasm kernels: from the same
 * weights, built-in architectures give the same loss within 1e-5, and the same gradients and
 * BatchNorm moving statistics within 1e-5 of the model's largest (a BatchNorm beta ahead of another
 * BatchNorm has a gradient that is 0 up to rounding, and a BatchNorm after a 1x1 conv of centred
 * input a batch mean that is). Runs where oneDNN is installed.
 *
 * Note [gradients at a kink]
 * ~~~~~~~~~~~~~~~~~~~~~~~~~~
 * The two paths' forward passes differ by rounding (~1e-6). A ReLU input within that of 0 lands on
 * different sides of the kink, which moves a whole dy term: a percent of a BatchNorm beta's
 * gradient, and every later step follows a different trajectory. resnet18 at 64 px has one or two
 * such inputs per step, so its gradients are compared kernel call by kernel call instead
 * (onednn-replay.test.ts); the smaller nets here have none.
 */
import * as tf from '@tensorflow/tfjs';
import { buildNet } from '../worker/models';
import { relError } from './helpers/numerics';
import { kernelModes, useKernels, type KernelMode } from './helpers/kernel-modes';

const TOL = 1e-5;

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

interface Step {
  loss: number;
  grads: Float32Array[];
  /** BatchNorm moving means and variances after the step. */
  stats: Float32Array[];
}

async function step(mode: KernelMode, model: tf.LayersModel, initial: tf.Tensor[], x: tf.Tensor, labels: tf.Tensor): Promise<Step> {
  await useKernels(mode);
  model.setWeights(initial);
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    vars,
  );
  const trainable = new Set(model.trainableWeights);
  const stats = model.weights.filter((w) => !trainable.has(w));
  const out = {
    loss: (await value.data())[0],
    grads: await Promise.all(vars.map((v) => grads[v.name].data() as Promise<Float32Array>)),
    stats: await Promise.all(stats.map((w) => w.read().data() as Promise<Float32Array>)),
  };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

/** Largest error of `got` against `want`, tensor by tensor, relative to the largest value of all of `want`. */
function errorAgainstLargest(got: Float32Array[], want: Float32Array[]): number {
  const scale = Math.max(...want.map(maxAbs));
  return Math.max(...got.map((g, i) => relError(g, want[i]) * (maxAbs(want[i]) / scale)));
}

const onednn = kernelModes().includes('oneDNN kernels');

(onednn ? describe : describe.skip)('oneDNN kernels train like the wasm kernels', () => {
  test.each([
    ['resnet-small', 32, 4, true],
    ['mobilenet_v2', 32, 4, true],
    ['resnet18', 64, 8, false],
  ])('%s at %i px, batch %i (gradients compared end to end: %s)', async (arch, size, batch, compareGrads) => {
    await useKernels('wasm kernels');
    const net = await buildNet({ arch: arch as string, nClasses: 3, size: size as number, seed: 5 });
    // Dropout would draw different masks in the two runs. BatchNorm over 4 images at 1x1 resolution
    // divides rounding noise by sqrt(1e-5); a larger epsilon keeps the comparison well-conditioned.
    for (const layer of net.model.layers) {
      if (layer.getClassName() === 'Dropout') (layer as unknown as { rate: number }).rate = 0;
      if (layer.getClassName() === 'BatchNormalization') (layer as unknown as { epsilon: number }).epsilon = 0.1;
    }
    const x = tf.randomNormal([batch as number, size as number, size as number, 3], 0, 1, 'float32', 41);
    const labels = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: batch as number }, (_, i) => i % 3),
        'int32',
      ),
      3,
    );
    const initial = net.model.getWeights().map((w) => w.clone());
    const wasm = await step('wasm kernels', net.model, initial, x, labels);
    const native = await step('oneDNN kernels', net.model, initial, x, labels);

    expect(Math.abs(native.loss - wasm.loss) / Math.abs(wasm.loss)).toBeLessThanOrEqual(TOL);
    expect(errorAgainstLargest(native.stats, wasm.stats)).toBeLessThanOrEqual(TOL);
    if (compareGrads) expect(errorAgainstLargest(native.grads, wasm.grads)).toBeLessThanOrEqual(TOL);
    tf.dispose([x, labels, ...initial]);
    net.model.dispose();
  });
});
