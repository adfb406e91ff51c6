/**
 * Gradient of FusedBatchNorm with fewer full-size passes than tfjs-core's: per-channel factors
 * broadcast instead of a tiled [B, H, W, C] copy (wasm's Tile alone took ~20% of a training step),
 * and the four per-channel reductions derived from two column sums, each a ones-vector matmul.
 * Same formulas as tfjs (mean and variance are inputs; their own gradients flow on through
 * tf.moments), so it is registered for every backend.
 */
import * as tf from '@tensorflow/tfjs';

/** Column sums of t viewed as [n, C]: one matmul with a ones row (wasm reduces leading axes by transposing first). */
function columnSums(t: tf.Tensor, c: number): tf.Tensor1D {
  const n = t.size / c;
  return tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, n]), tf.reshape(t, [n, c])), [c]));
}

function reductionAxes(small: number[], big: number[]): number[] {
  const offset = big.length - small.length;
  return big.map((_, i) => i).filter((i) => i < offset || (small[i - offset] === 1 && big[i] !== 1));
}

type Grads = Record<string, () => tf.Tensor>;

function gradFunc(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): Grads {
  const g = dy as tf.Tensor;
  const [x, mean, variance, scale] = saved;
  const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
  const invStd = tf.rsqrt(tf.add(variance, eps));
  const k = scale == null ? invStd : tf.mul(scale, invStd);
  const perChannel = mean.rank === 1 && mean.shape[0] === x.shape[x.rank - 1];
  const axes = perChannel ? [] : reductionAxes(mean.shape, x.shape);
  const reduce = (t: tf.Tensor): tf.Tensor => (perChannel ? columnSums(t, mean.shape[0]) : tf.reshape(tf.sum(t, axes, true), mean.shape));
  // Computed here, not inside the thunks: the tape runs each thunk in its own tidy, so a value
  // shared between thunks must belong to the enclosing scope.
  const sumDy = reduce(g);
  const sumDyCentered = tf.tidy(() => reduce(tf.mul(g, tf.sub(x, mean))));
  return {
    x: () => tf.mul(g, k),
    mean: () => tf.neg(tf.mul(k, sumDy)),
    variance: () => tf.mul(tf.mul(tf.mul(tf.square(invStd), k), -0.5), sumDyCentered),
    scale: () => tf.mul(sumDyCentered, invStd),
    offset: () => tf.clone(sumDy),
  };
}

/** Gradient config replacing tfjs-core's FusedBatchNorm gradient (same math, no Tile). */
export const fusedBatchNormGradConfig: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc,
};
