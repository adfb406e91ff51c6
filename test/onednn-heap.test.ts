/**
 * oneDNN kernels read and write the wasm heap in place (Note [wasm heap] in worker/kernels/onednn.ts):
 * an output too large for the heap grows wasm memory, which replaces the heap's ArrayBuffer between
 * the kernel's allocation and the native call. Runs where oneDNN is installed.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelModes, useKernels } from './helpers/kernel-modes';

const onednn = kernelModes().includes('oneDNN kernels');

(onednn ? test : test.skip)('a convolution whose output grows wasm memory writes it into the grown heap', async () => {
  await useKernels('oneDNN kernels');
  const wasm = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm;
  const before = wasm.HEAPU8.buffer;
  // A 1x1 conv with 4 output channels: output bytes = 16 * side^2, made 1.5x the whole heap.
  const side = Math.ceil(Math.sqrt((1.5 * before.byteLength) / 16));
  const x = tf.ones([1, side, side, 1]) as tf.Tensor4D;
  const filter = tf.tensor4d([1, 2, 3, 4], [1, 1, 1, 4]);
  const y = tf.conv2d(x, filter, 1, 'valid');
  expect(wasm.HEAPU8.buffer).not.toBe(before);
  const values = (await y.data()) as Float32Array;
  let wrong = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== (i % 4) + 1) wrong++;
  expect({ elements: values.length, wrong }).toEqual({ elements: 4 * side * side, wrong: 0 });
  tf.dispose([x, filter, y]);
});
