/**
 * Which tfjs kernel is running: every kernel registered for a backend is wrapped so that a call
 * records its name, the kernels it runs inside (ringtune's composite kernels call other kernels
 * through the engine), its shapes and its FLOPs (kernel-flops.ts). webgpu-counters.ts charges each
 * device dispatch to the innermost call running when it was issued.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelFlops } from './kernel-flops';
import type { KernelCursor } from './webgpu-counters';

/** One kernel call. */
export interface KernelCall {
  /** Enclosing kernel calls' names, outermost first, then this one's. */
  path: string[];
  flops: number;
  inputShapes: number[][];
}

type TensorInfoLike = { shape: number[] };

/**
 * Wraps every kernel registered for `backend` (install after the kernels of the variant under
 * test are in place; uninstall puts the same kernel objects back). Returns the calls since the
 * last reset and a cursor for the device counters.
 */
export function scopeKernels(backend: string): { calls: KernelCall[]; cursor: KernelCursor; reset(): void; uninstall(): void } {
  const state = { calls: [] as KernelCall[], stack: [] as number[] };
  const originals = tf.getKernelsForBackend(backend);
  for (const k of originals) {
    const inner = k.kernelFunc;
    const kernelFunc = (args: Parameters<tf.KernelFunc>[0]) => {
      const inputs = Object.entries(args.inputs as Record<string, TensorInfoLike | undefined>).filter(
        (e): e is [string, TensorInfoLike] => e[1] != null,
      );
      const path = [...state.stack.map((i) => state.calls[i].path[state.calls[i].path.length - 1]), k.kernelName];
      const call: KernelCall = { path, flops: 0, inputShapes: inputs.map(([, t]) => [...t.shape]) };
      state.calls.push(call);
      state.stack.push(state.calls.length - 1);
      try {
        const out = inner(args);
        const outs = (Array.isArray(out) ? out : [out]) as TensorInfoLike[];
        call.flops = kernelFlops({
          name: k.kernelName,
          inputs: Object.fromEntries(inputs.map(([n, t]) => [n, t.shape])),
          outputs: outs.map((o) => o.shape),
          attrs: (args.attrs ?? {}) as Record<string, unknown>,
        });
        return out;
      } finally {
        state.stack.pop();
      }
    };
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({ ...k, kernelFunc: kernelFunc as tf.KernelFunc });
  }
  return {
    get calls() {
      return state.calls;
    },
    cursor: {
      path: () => (state.stack.length ? state.calls[state.stack[state.stack.length - 1]].path : []),
      callIndex: () => (state.stack.length ? state.stack[state.stack.length - 1] : -1),
    },
    reset() {
      state.calls = [];
      state.stack = [];
    },
    uninstall() {
      for (const k of originals) {
        tf.unregisterKernel(k.kernelName, backend);
        tf.registerKernel(k);
      }
    },
  };
}
