/** Turns a function of tensors into a tfjs kernel config for wasm. */
import * as tf from '@tensorflow/tfjs';

/** A kernel body written with tfjs ops; its inner ops run on wasm and are not taped. */
export type TensorKernel = (inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>) => tf.Tensor;

function asTensor(name: string, kernelName: string, t: unknown): tf.Tensor {
  // The engine hands kernels the very Tensor objects the op was called with.
  if (t instanceof tf.Tensor) return t;
  throw new Error(`${kernelName}: input '${name}' is not a Tensor (got ${typeof t})`);
}

/** Registers `g` in place of the gradient already registered for its kernel, without tfjs's warning about replacing it. */
export function replaceGradient(g: tf.GradConfig): void {
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    tf.registerGradient(g);
  } finally {
    console.warn = warn;
  }
}

/** Kernel config that runs `body` for `kernelName` on the wasm backend. */
export function wasmKernel(kernelName: string, body: TensorKernel): tf.KernelConfig {
  const kernelFunc = (args: { inputs: tf.NamedTensorMap | object; attrs?: object }): tf.Tensor => {
    const inputs: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(args.inputs)) inputs[k] = asTensor(k, kernelName, v);
    return body(inputs, (args.attrs ?? {}) as Record<string, unknown>);
  };
  return { kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
