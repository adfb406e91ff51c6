/**
 * BatchMatMul and _FusedMatMul of a single matrix pair on webgpu through the implicit GEMM
 * (webgpu-gemm.ts): a dense layer's products have a small M (the batch) and a long K, which
 * tfjs-webgpu leaves on ~20k threads; split over K they spread over the whole GPU, in a fixed
 * order. Batched products (a leading dimension above 1) and other activations return null.
 */
import type * as tf from '@tensorflow/tfjs';
import { Activation, implicitGemm } from './webgpu-gemm';
import type { GpuBackend } from './webgpu-program';

const LOADERS = (ta: boolean, tb: boolean) => `
  fn loadA(m : i32, k : i32) -> f32 {
    if (m >= uniforms.M || k >= uniforms.K) { return 0.0; }
    return a[${ta ? 'k * uniforms.M + m' : 'm * uniforms.K + k'}];
  }
  fn loadB(k : i32, n : i32) -> f32 {
    if (n >= uniforms.N || k >= uniforms.K) { return 0.0; }
    return b[${tb ? 'n * uniforms.K + k' : 'k * uniforms.N + n'}];
  }`;

interface MatMulArgs {
  inputs: { a?: tf.TensorInfo; b?: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
  backend: GpuBackend;
  attrs: { transposeA?: boolean; transposeB?: boolean; activation?: string };
}

const batchOf = (t: tf.TensorInfo) => t.shape.slice(0, -2).reduce((p, d) => p * d, 1);

/** One product a x b (either transposed), with bias and linear / relu / relu6 for _FusedMatMul; null otherwise. */
export function matMul({ inputs, backend, attrs }: MatMulArgs): tf.TensorInfo | null {
  const { a, b, bias, preluActivationWeights } = inputs;
  const activation = attrs.activation ?? 'linear';
  if (!a || !b || a.shape.length < 2 || b.shape.length < 2 || preluActivationWeights) return null;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || batchOf(a) !== 1 || batchOf(b) !== 1) return null;
  if (!['linear', 'relu', 'relu6'].includes(activation)) return null;
  const ta = attrs.transposeA === true;
  const tb = attrs.transposeB === true;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = ta ? [ac, ar] : [ar, ac];
  const N = tb ? br : bc;
  if ((tb ? bc : br) !== K || (bias && (bias.shape.length !== 1 || bias.shape[0] !== N))) return null;
  const outShape = [...a.shape.slice(0, -2), M, N];
  return implicitGemm(backend, {
    M,
    N,
    K,
    key: `matmul_${ta}_${tb}`,
    inputs: [a, b],
    names: ['a', 'b'],
    loaders: LOADERS(ta, tb),
    geometry: {},
    outShape,
    bias,
    activation: activation as Activation,
  });
}
