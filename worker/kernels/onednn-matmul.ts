/**
 * BatchMatMul and _FusedMatMul of the wasm backend run by oneDNN on the wasm heap (Note [wasm heap]
 * in onednn.ts). Batches that broadcast other than one-to-many, PReLU and biases other than one
 * value per output column go to the kernel registered before (`fallback`).
 */
import * as tf from '@tensorflow/tfjs';
import { activationCodes, heapOperands, KernelArgs, nativeOperands, OnednnNative } from './onednn';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

const prod = (xs: number[]) => xs.reduce((p, d) => p * d, 1);

/** Matrix product kernel; `fused` adds tfjs's bias and activation. */
export function matmulKernel(native: OnednnNative, fused: boolean, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined> & {
      a: tf.TensorInfo;
      b: tf.TensorInfo;
    };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!nativeOperands(a, b, bias) || a.shape.length < 2 || b.shape.length < 2 || preluActivationWeights != null) return fallback(args);
    const activation = activationCodes[(args.attrs.activation as string | undefined) ?? 'linear'];
    const [ar, ac] = a.shape.slice(-2);
    const [br, bc] = b.shape.slice(-2);
    const m = transposeA ? ac : ar;
    const k = transposeA ? ar : ac;
    const n = transposeB ? br : bc;
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const batchA = prod(outerA);
    const batchB = prod(outerB);
    const sameOuter = outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
    const oneToMany = sameOuter || batchA === 1 || batchB === 1;
    const biasOk = bias == null || (bias.shape[bias.shape.length - 1] === n && prod(bias.shape) === n);
    if (activation == null || k !== (transposeB ? bc : br) || !oneToMany || !biasOk) return fallback(args);
    const outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
    const out = args.backend.makeOutput([...outer, m, n], 'float32');
    const operands = bias != null ? [a, b, bias, out] : [a, b, out];
    const { heap, offsets } = heapOperands(args.backend, operands);
    const alpha = (args.attrs.leakyreluAlpha as number | undefined) ?? 0;
    const desc = Float64Array.from([
      batchA,
      batchB,
      m,
      k,
      n,
      transposeA ? 1 : 0,
      transposeB ? 1 : 0,
      fused ? activation : 0,
      alpha,
      bias ? 1 : 0,
    ]);
    native.matmul(heap, desc, offsets);
    return out;
  };
}
