/**
 * ringtune's kernels and settings for the webgpu backend (tfjs-backend-webgpu on Dawn), and the
 * way back to stock tfjs-webgpu (bench:gpu compares both in separate processes).
 *
 * Registered: the filter gradients of webgpu-grads.ts, and the BatchNorm gradient without Tile
 * (a global gradient, shared with wasm). Flags: WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE off (the input
 * gradient as tfjs-webgpu's tiled matmul program instead of one loop per input element), and
 * the workgroup threshold under which a matmul is split over K raised from 8 (tuned for
 * integrated GPUs) to 128, about one workgroup per SM of a data-centre GPU, so the filter
 * gradients' long-K products spread over the whole chip.
 */
import * as tf from '@tensorflow/tfjs';
import { replaceGradient, wasmKernel } from './config';
import { ConvAttrs } from './geometry';
import { fusedBatchNormGradConfig } from './batchnorm-grad';
import { im2colFilterGrad, tapSumDepthwiseFilterGrad } from './webgpu-grads';

function onWebgpu(k: tf.KernelConfig): tf.KernelConfig {
  return { ...k, backendName: 'webgpu' };
}

/** Every kernel ringtune registers for webgpu (replacing the stock one of the same name). */
export const webgpuKernels: tf.KernelConfig[] = [
  onWebgpu(
    wasmKernel('Conv2DBackpropFilter', ({ x, dy }, attrs) =>
      im2colFilterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape as number[], attrs as unknown as ConvAttrs),
    ),
  ),
  onWebgpu(
    wasmKernel('DepthwiseConv2dNativeBackpropFilter', ({ x, dy }, attrs) =>
      tapSumDepthwiseFilterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape as number[], attrs as unknown as ConvAttrs),
    ),
  ),
];

/** tfjs-webgpu flags ringtune sets (the backend module must be loaded first: it registers them). */
export const webgpuFlags: Record<string, number | boolean> = {
  WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE: false,
  WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL: 128,
};

const stock = {
  kernels: new Map<string, tf.KernelConfig | undefined>(),
  flags: new Map<string, number | boolean>(),
  gradient: undefined as tf.GradConfig | undefined,
  saved: false,
};

/** Registers ringtune's webgpu kernels, gradient and flags; idempotent. Call after '@tensorflow/tfjs-backend-webgpu' is loaded. */
export function registerWebgpuKernels(): void {
  if (!stock.saved) {
    for (const k of webgpuKernels) stock.kernels.set(k.kernelName, tf.getKernel(k.kernelName, 'webgpu'));
    for (const f of Object.keys(webgpuFlags)) stock.flags.set(f, tf.env().get(f) as number | boolean);
    stock.gradient = tf.getGradient('FusedBatchNorm');
    stock.saved = true;
  }
  for (const k of webgpuKernels) {
    if (tf.getKernel(k.kernelName, 'webgpu') === k) continue;
    if (tf.getKernel(k.kernelName, 'webgpu') != null) tf.unregisterKernel(k.kernelName, 'webgpu');
    tf.registerKernel(k);
  }
  for (const [f, v] of Object.entries(webgpuFlags)) tf.env().set(f, v);
  if (tf.getGradient('FusedBatchNorm') !== fusedBatchNormGradConfig) replaceGradient(fusedBatchNormGradConfig);
}

/** Puts back what registerWebgpuKernels replaced: stock tfjs-webgpu kernels, flags and BatchNorm gradient. */
export function restoreStockWebgpuKernels(): void {
  if (!stock.saved) return;
  for (const [name, k] of stock.kernels) {
    if (tf.getKernel(name, 'webgpu') != null) tf.unregisterKernel(name, 'webgpu');
    if (k) tf.registerKernel(k);
  }
  for (const [f, v] of stock.flags) tf.env().set(f, v);
  if (stock.gradient && tf.getGradient('FusedBatchNorm') !== stock.gradient) replaceGradient(stock.gradient);
}
