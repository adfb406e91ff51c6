/**
 * ringtune's kernels and settings for the webgpu backend (tfjs-backend-webgpu on Dawn), and the
 * way back to stock tfjs-webgpu (bench:gpu compares both in separate processes).
 *
 * Registered, each GPU-shaped (>= 64k threads for any kernel above 10 MFLOP; bench:gpu --audit
 * shows it): convolutions and both their gradients, and single matrix products, as implicit GEMMs
 * (webgpu-conv.ts, webgpu-matmul.ts), the
 * depthwise filter gradient and Sum/Mean over leading axes as split column sums
 * (webgpu-reduce.ts), the fused training BatchNorm (webgpu-batchnorm.ts, webgpu-bn-layer.ts), and
 * the BatchNorm gradient without Tile for the unfused path (a global gradient, shared with wasm),
 * Sum / Mean / ClipByValue gradients that upload no ones or scalars (webgpu-gradients.ts),
 * and fastai's Adam over the flat parameter buffer with its state on the GPU (webgpu-adam.ts).
 * Flags: WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE off (tfjs-webgpu's tiled input gradient where
 * ringtune's falls back to it), and the workgroup threshold under which a matmul is split over K
 * raised from 8 (tuned for integrated GPUs) to 128, about one workgroup per SM of a data-centre GPU.
 */
import * as tf from '@tensorflow/tfjs';
import { replaceGradient } from './config';
import { fusedBatchNormGradConfig } from './batchnorm-grad';
import { convFilterGrad, convForward, convInputGrad } from './webgpu-conv';
import { matMul } from './webgpu-matmul';
import { depthwiseFilterGrad, leadingAxesReduce } from './webgpu-reduce';
import { batchNormKernels } from './webgpu-batchnorm';
import { useFusedBatchNorm } from './webgpu-bn-layer';
import { gradientKernels, useDeviceGradients } from './webgpu-gradients';
import { adamKernel } from './webgpu-adam';

/** A WGSL kernel for webgpu; where `impl` returns null (a layout or option it does not cover) tfjs-webgpu's own kernel runs. */
function gpuKernel<A>(kernelName: string, impl: (args: A) => tf.TensorInfo | null): tf.KernelConfig {
  const kernelFunc = (args: Parameters<tf.KernelFunc>[0]) => {
    const out = impl(args as unknown as A);
    if (out) return out;
    const fallback = stock.kernels.get(kernelName);
    if (!fallback) throw new Error(`${kernelName}: no tfjs-webgpu kernel to fall back to`);
    return fallback.kernelFunc(args);
  };
  return { kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as tf.KernelFunc };
}

/** Every kernel ringtune registers for webgpu (replacing the stock one of the same name, where there is one). */
export const webgpuKernels: tf.KernelConfig[] = [
  gpuKernel('Conv2D', convForward),
  gpuKernel('FusedConv2D', convForward),
  gpuKernel('Conv2DBackpropFilter', convFilterGrad),
  gpuKernel('Conv2DBackpropInput', convInputGrad),
  gpuKernel('BatchMatMul', matMul),
  gpuKernel('_FusedMatMul', matMul),
  gpuKernel('DepthwiseConv2dNativeBackpropFilter', depthwiseFilterGrad),
  gpuKernel('Sum', (a: Parameters<typeof leadingAxesReduce>[0]) => leadingAxesReduce(a, false)),
  gpuKernel('Mean', (a: Parameters<typeof leadingAxesReduce>[0]) => leadingAxesReduce(a, true)),
  ...batchNormKernels,
  ...gradientKernels,
  adamKernel,
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
  useFusedBatchNorm(true);
  useDeviceGradients(true);
}

/** Puts back what registerWebgpuKernels replaced: stock tfjs-webgpu kernels, flags, BatchNorm gradient and tfjs-layers' BatchNorm. */
export function restoreStockWebgpuKernels(): void {
  if (!stock.saved) return;
  // ringtune's own kernels (no stock one of that name) stay registered: only the fused BatchNorm calls them.
  for (const [name, k] of stock.kernels) {
    if (!k) continue;
    if (tf.getKernel(name, 'webgpu') != null) tf.unregisterKernel(name, 'webgpu');
    tf.registerKernel(k);
  }
  useFusedBatchNorm(false);
  useDeviceGradients(false);
  for (const [f, v] of stock.flags) tf.env().set(f, v);
  if (stock.gradient && tf.getGradient('FusedBatchNorm') !== stock.gradient) replaceGradient(stock.gradient);
}
