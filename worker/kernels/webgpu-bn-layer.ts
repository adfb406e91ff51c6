/**
 * Routes tfjs-layers' BatchNormalization training call through the fused op of
 * webgpu-batchnorm.ts while ringtune's webgpu kernels are registered and webgpu is the backend
 * (the moving statistics are updated as tfjs-layers does: old - (old - batch) (1 - momentum)).
 * Anything else (inference, another backend, a channel axis that is not last, a layer without
 * gamma or beta) runs tfjs-layers' own call.
 */
import * as tf from '@tensorflow/tfjs';

interface BatchNormLayer {
  axis: number;
  epsilon: number;
  momentum: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

type Call = (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor;

const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: Call };
const layersCall = proto.call;

/** y of a training BatchNorm over the last axis, with its batch mean and variance (the caller owns those two). */
export function fusedBatchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  let stats: tf.Tensor[] = [];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [mean, variance] = tf.engine().runKernel('RingtuneColumnMoments', { x: xs }, {}) as tf.Tensor[];
    // The forward runs in its own tidy: keep the statistics for the caller's moving averages.
    stats = [tf.keep(mean), tf.keep(variance)];
    save([xs, mean, variance, g]);
    return {
      value: tf.batchNorm(xs, mean, variance, b, g, epsilon),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, smean, svar, sgamma] = saved;
        const inputs = { x: sx, dy, mean: smean, variance: svar, gamma: sgamma };
        return tf.engine().runKernel('RingtuneBatchNormGrad', inputs, { epsilon }) as tf.Tensor[];
      },
    };
  });
  const y = op(x, gamma, beta);
  return { y, mean: stats[0], variance: stats[1] };
}

function updateMoving(v: tf.LayerVariable, batch: tf.Tensor, momentum: number): void {
  const next = tf.engine().runKernel('RingtuneMovingAverage', { old: v.read(), value: batch }, { momentum }) as tf.Tensor;
  v.write(next);
}

let fused = false;

function call(this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  const axis = this.axis >= 0 ? this.axis : this.axis + x.rank;
  if (
    !fused ||
    !kwargs?.training ||
    tf.getBackend() !== 'webgpu' ||
    axis !== x.rank - 1 ||
    x.dtype !== 'float32' ||
    !this.gamma ||
    !this.beta
  )
    return layersCall.call(this, inputs, kwargs);
  return tf.tidy(() => {
    const { y, mean, variance } = fusedBatchNormTraining(x, this.gamma!.read(), this.beta!.read(), this.epsilon);
    updateMoving(this.movingMean, mean, this.momentum);
    updateMoving(this.movingVariance, variance, this.momentum);
    tf.dispose([mean, variance]);
    return y;
  });
}

proto.call = call;

/** Turns the fused training BatchNorm on webgpu on or off (off: tfjs-layers' own, as stock). */
export function useFusedBatchNorm(on: boolean): void {
  fused = on;
}
