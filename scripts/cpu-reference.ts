/**
 * The cpu backend as the numerics reference, made fast enough for whole nets: its stock
 * Conv2DBackpropFilter loops one filter weight at a time (~15 MFLOP/s, three quarters of a
 * mobilenet_v2 step), so the reference takes the two filter gradients as matrix products of tfjs
 * ops instead (webgpu-grads.ts), which test/gpu-kernels.test.ts checks against cpu's own kernels
 * on sampled shapes. Everything else is cpu's stock kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { wasmKernel } from '../worker/kernels/config';
import type { ConvAttrs } from '../worker/kernels/geometry';
import { im2colFilterGrad, tapSumDepthwiseFilterGrad } from '../worker/kernels/webgpu-grads';

/** The two filter gradients as matrix products, registered for cpu. */
export const cpuReferenceKernels: tf.KernelConfig[] = [
  wasmKernel('Conv2DBackpropFilter', ({ x, dy }, attrs) =>
    im2colFilterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape as number[], attrs as unknown as ConvAttrs),
  ),
  wasmKernel('DepthwiseConv2dNativeBackpropFilter', ({ x, dy }, attrs) =>
    tapSumDepthwiseFilterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape as number[], attrs as unknown as ConvAttrs),
  ),
].map((k) => ({ ...k, backendName: 'cpu' }));

/** Registers the matrix-product filter gradients (or `kernels`) on cpu; returns a function that puts cpu's own back. */
export function useFastCpuReference(kernels = cpuReferenceKernels): () => void {
  const stock = kernels.map((k) => tf.getKernel(k.kernelName, 'cpu'));
  for (const k of kernels) {
    tf.unregisterKernel(k.kernelName, 'cpu');
    tf.registerKernel(k);
  }
  return () => {
    kernels.forEach((k, i) => {
      tf.unregisterKernel(k.kernelName, 'cpu');
      const s = stock[i];
      if (s) tf.registerKernel(s);
    });
  };
}
