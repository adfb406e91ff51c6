/**
 * A step's gradients on their way to the flat host buffer, bucket by bucket (buckets.ts). On wasm
 * each bucket is copied straight out of the heap (wasm-tensors.ts); elsewhere it is concatenated on
 * the device and read back, each read owning its tensor (Note [read-back ownership] in readback.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Bucket } from './buckets';
import { readOwned } from './readback';
import { copyOut, wasmBackend } from './wasm-tensors';

/** Puts one bucket's gradient into `view`, its range of the flat buffer. */
export type BucketWrite = (view: Float32Array) => void;

export interface BucketReads {
  /** Per bucket, resolves once its values are on the host, with the function that writes them. */
  writes: Promise<BucketWrite>[];
  /** Frees the gradients the writes still read from; call once no write will run any more. */
  release(): void;
}

/** Starts reading `grads` (every trainable variable's gradient, in bucket order) back; takes them over. */
export function readBuckets(grads: tf.Tensor[], buckets: Bucket[]): BucketReads {
  const ofBucket = (b: Bucket) => grads.slice(b.first, b.last + 1);
  const heap = wasmBackend();
  if (heap) {
    return {
      writes: buckets.map((b) => Promise.resolve((view: Float32Array) => copyOut(heap, ofBucket(b), view))),
      release: () => tf.dispose(grads),
    };
  }
  const parts = tf.tidy(() => buckets.map((b) => tf.concat(ofBucket(b).map((g) => tf.reshape(g, [-1])))));
  tf.dispose(grads);
  return {
    writes: parts.map((p) => readOwned(p).then((values) => (view: Float32Array) => view.set(values))),
    release: () => undefined,
  };
}
