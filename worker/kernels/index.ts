/** ringtune's own kernels for the wasm backend: the training kernels wasm lacks or runs slowly. */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig, conv2dBackpropInputConfig } from './conv2d-grads';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-grads';
import { unsortedSegmentSumConfig } from './segment-sum';
import { fusedBatchNormGradConfig } from './batchnorm-grad';
import { pixelShuffleConfig } from './layout';
import { replaceGradient } from './config';

/** Every kernel ringtune registers for wasm (replacing any stock one of the same name). */
export const wasmKernels: tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  unsortedSegmentSumConfig,
  pixelShuffleConfig,
];

let gradientsRegistered = false;

/** Registers ringtune's wasm kernels (and its leaner BatchNorm gradient); idempotent. Call after '@tensorflow/tfjs-backend-wasm' is imported. */
export function registerWasmKernels(): void {
  if (!gradientsRegistered) {
    replaceGradient(fusedBatchNormGradConfig);
    gradientsRegistered = true;
  }
  for (const k of wasmKernels) {
    if (tf.getKernel(k.kernelName, 'wasm') === k) continue;
    if (tf.getKernel(k.kernelName, 'wasm') != null) tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(k);
  }
}
