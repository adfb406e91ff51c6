/** The wasm backend's kernels that oneDNN runs, each falling back to the kernel it replaces. */
import * as tf from '@tensorflow/tfjs';
import { forwardKernel, gradientKernel } from './onednn-conv';
import { matmulKernel } from './onednn-matmul';
import { BINARY_OPS, binaryKernel } from './onednn-binary';
import { maxPoolGradKernel } from './onednn-pool';
import { inferenceNormKernel } from './onednn-norm';
import { KernelArgs, OnednnNative } from './onednn';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** Every kernel name oneDNN takes over, with how it runs it. */
const NATIVE: Record<string, (native: OnednnNative, fallback: KernelFunc) => KernelFunc> = {
  Conv2D: (n, f) => forwardKernel(n, false, false, f),
  FusedConv2D: (n, f) => forwardKernel(n, false, true, f),
  DepthwiseConv2dNative: (n, f) => forwardKernel(n, true, false, f),
  FusedDepthwiseConv2D: (n, f) => forwardKernel(n, true, true, f),
  Conv2DBackpropInput: (n, f) => gradientKernel(n, 'data', false, f),
  DepthwiseConv2dNativeBackpropInput: (n, f) => gradientKernel(n, 'data', true, f),
  Conv2DBackpropFilter: (n, f) => gradientKernel(n, 'weights', false, f),
  DepthwiseConv2dNativeBackpropFilter: (n, f) => gradientKernel(n, 'weights', true, f),
  BatchMatMul: (n, f) => matmulKernel(n, false, f),
  _FusedMatMul: (n, f) => matmulKernel(n, true, f),
  MaxPoolGrad: (n, f) => maxPoolGradKernel(n, f),
  FusedBatchNorm: (n, f) => inferenceNormKernel(n, f),
  ...Object.fromEntries(Object.keys(BINARY_OPS).map((name) => [name, (n: OnednnNative, f: KernelFunc) => binaryKernel(n, name, f)])),
};

/** Names of the kernels oneDNN runs. */
export const onednnKernelNames = Object.keys(NATIVE);

/**
 * `config` with a kernel function that first runs the kernel's setup (tfjs's wasm kernels bind
 * their wasm functions there) once per backend: the engine only sets up the kernels registered
 * when the backend starts, and a kernel swapped back in later would miss it.
 */
export function withSetup(config: tf.KernelConfig): tf.KernelConfig {
  const { setupFunc } = config;
  if (setupFunc == null) return config;
  const ready = new WeakSet<object>();
  const kernelFunc = (args: Parameters<tf.KernelFunc>[0]) => {
    if (!ready.has(args.backend)) {
      setupFunc(args.backend);
      ready.add(args.backend);
    }
    return config.kernelFunc(args);
  };
  return { ...config, kernelFunc };
}

/** oneDNN's kernel configs; `previous(name)` is the kernel each replaces (set up by withSetup), which takes the cases oneDNN does not. */
export function onednnKernels(native: OnednnNative, previous: (name: string) => tf.KernelConfig | undefined): tf.KernelConfig[] {
  return onednnKernelNames.map((kernelName) => {
    const before = previous(kernelName);
    const fallback: KernelFunc =
      before != null
        ? (args) => before.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo
        : () => {
            throw new Error(`${kernelName}: no wasm kernel takes the cases the oneDNN kernel does not`);
          };
    const kernelFunc = NATIVE[kernelName](native, fallback);
    return { kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc };
  });
}
