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
import { tapSumDepthwiseFilterGrad } from './webgpu-grads';
import { convFilterGrad, convForward, convInputGrad } from './webgpu-conv';
import type { GpuBackend } from './webgpu-program';

function onWebgpu(k: tf.KernelConfig): tf.KernelConfig {
  return { ...k, backendName: 'webgpu' };
}

type GpuKernelArgs = { inputs: Record<string, tf.TensorInfo | undefined>; backend: GpuBackend; attrs: Record<string, unknown> };

/** A WGSL kernel for webgpu; where `impl` returns null (a layout or option it does not cover) tfjs-webgpu's own kernel runs. */
function gpuKernel(kernelName: string, impl: (args: GpuKernelArgs) => tf.TensorInfo | null): tf.KernelConfig {
  const kernelFunc = (args: Parameters<tf.KernelFunc>[0]) => {
    const out = impl(args as unknown as GpuKernelArgs);
    if (out) return out;
    const fallback = stock.kernels.get(kernelName);
    if (!fallback) throw new Error(`${kernelName}: no tfjs-webgpu kernel to fall back to`);
    return fallback.kernelFunc(args);
  };
  return { kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as tf.KernelFunc };
}

/** Every kernel ringtune registers for webgpu (replacing the stock one of the same name). */
export const webgpuKernels: tf.KernelConfig[] = [
  gpuKernel('Conv2D', (a) => convForward(a as Parameters<typeof convForward>[0])),
  gpuKernel('FusedConv2D', (a) => convForward(a as Parameters<typeof convForward>[0])),
  gpuKernel('Conv2DBackpropFilter', (a) => convFilterGrad(a as Parameters<typeof convFilterGrad>[0])),
  gpuKernel('Conv2DBackpropInput', (a) => convInputGrad(a as Parameters<typeof convInputGrad>[0])),
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
