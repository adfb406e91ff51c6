/** UnsortedSegmentSum for the wasm backend (missing there): a one-hot [S, N] matrix times data [N, D]. */
import * as tf from '@tensorflow/tfjs';
import { wasmKernel } from './config';

/** out[s] = sum of x[n] over n with segmentIds[n] == s; ids outside [0, numSegments) are dropped. */
export function unsortedSegmentSum(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  return tf.tidy(() => {
    const n = segmentIds.size;
    const rest = x.shape.slice(segmentIds.rank);
    const data = tf.reshape(tf.cast(x, 'float32'), [n, rest.reduce((a, b) => a * b, 1)]);
    const ids = tf.reshape(tf.cast(segmentIds, 'int32'), [1, n]);
    const oneHotT = tf.cast(tf.equal(tf.reshape(tf.range(0, numSegments, 1, 'int32'), [numSegments, 1]), ids), 'float32');
    const out = tf.reshape(tf.matMul(oneHotT, data), [numSegments, ...rest]);
    return x.dtype === 'float32' ? out : tf.cast(tf.round(out), x.dtype);
  });
}

/** Kernel config for `UnsortedSegmentSum` on wasm. */
export const unsortedSegmentSumConfig = wasmKernel('UnsortedSegmentSum', ({ x, segmentIds }, attrs) =>
  unsortedSegmentSum(x, segmentIds, attrs.numSegments as number),
);
