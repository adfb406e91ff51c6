/**
 * Note [read-back ownership]: on an asynchronous backend (webgpu) `t.data()` copies the tensor to
 * a staging buffer and resolves later; when it resolves, the backend writes the values into the
 * tensor's own record. tfjs-webgpu does not guard that record: a tensor disposed while its read
 * is in flight is gone when the read lands, and the backend throws from deep inside tfjs
 * ("Cannot read properties of undefined (reading 'backend')" in Engine.moveData). So a tensor
 * being read back has exactly one owner, the read itself: `readOwned` takes the tensor, and it
 * alone disposes it, once the read has settled (resolved or failed). Callers never dispose a
 * tensor they passed to it, also not in a `finally` that runs while reads are still pending.
 */
import * as tf from '@tensorflow/tfjs';

/** Reads `t` back and disposes it once the read has settled; the caller gives up `t` (Note [read-back ownership]). */
export async function readOwned(t: tf.Tensor): Promise<tf.TypedArray> {
  try {
    return (await t.data()) as tf.TypedArray;
  } finally {
    t.dispose();
  }
}

/**
 * Reads every tensor back, each owned by its read (Note [read-back ownership]). Waits for all of
 * them to settle before it rejects, so no tensor outlives a failure.
 */
export async function readAllOwned(ts: tf.Tensor[]): Promise<tf.TypedArray[]> {
  const settled = await Promise.allSettled(ts.map(readOwned));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<tf.TypedArray>).value);
}
