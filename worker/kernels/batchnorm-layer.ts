/**
 * Routes tfjs-layers' training-mode BatchNormalization through the fused RingtuneBatchNorm kernel
 * where the active backend has one (wasm with oneDNN).
 *
 * Note [fused BatchNorm layer]
 * ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
 * tfjs-layers computes a training BatchNorm inside its bundle (tf.moments, then FusedBatchNorm),
 * out of reach of kernel registration. ringtune therefore wraps BatchNormalization.prototype.call
 * once: a training call on channels-last input of rank 2-4 with scale and center runs one
 * RingtuneBatchNorm kernel and updates the moving statistics exactly as tfjs-layers does
 * (moving -= (moving - batch) * (1 - momentum)); every other call, and every call on a backend
 * without the kernel, is tfjs-layers' own code. The batch statistics are the same quantities
 * (mean, biased variance over all but the channel axis), so the two paths agree to rounding.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM } from './onednn-norm';

interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

type Call = (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }) => tf.Tensor | tf.Tensor[];

function movingAverage(variable: tf.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const current = variable.read();
    variable.write(tf.sub(current, tf.mul(tf.sub(current, value), 1 - momentum)));
  });
}

/** The one input of a training call the fused kernel takes, or null. */
function fusable(layer: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor | null {
  if (kwargs?.training !== true || !layer.center || !layer.scale) return null;
  const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : null) : inputs;
  if (x == null || x.dtype !== 'float32' || x.rank < 2 || x.rank > 4) return null;
  if (layer.axis !== -1 && layer.axis !== x.rank - 1) return null;
  return tf.getKernel(BATCH_NORM, tf.getBackend()) != null ? x : null;
}

let installed = false;

/** Wraps BatchNormalization.prototype.call (Note [fused BatchNorm layer]); idempotent. */
export function installFusedBatchNormLayer(): void {
  if (installed) return;
  installed = true;
  const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: Call };
  const original = proto.call;
  proto.call = function (inputs, kwargs) {
    const x = fusable(this, inputs, kwargs);
    if (x == null) return original.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const inputsMap = { x, scale: this.gamma.read(), offset: this.beta.read() };
      const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM, inputsMap, { epsilon: this.epsilon }) as tf.Tensor[];
      movingAverage(this.movingMean, mean, this.momentum);
      movingAverage(this.movingVariance, variance, this.momentum);
      return y;
    });
  };
}
