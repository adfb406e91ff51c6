/**
 * A tiled matrix product C[M, N] = sum_k A[m, k] B[k, n] in WGSL whose operands are never
 * materialised: the caller supplies `loadA` / `loadB` (WGSL functions that read the element
 * from its tensors, 0 outside), so a convolution and both its gradients are this one kernel
 * with different index maps (implicit GEMM, no im2col buffer).
 *
 * Shape for a GPU: a 256-thread workgroup computes a 64x64 tile of C (4x4 per thread) from
 * 16-deep slices of A and B staged in workgroup memory. When the tiles alone launch fewer than
 * TARGET_THREADS threads (a filter gradient: C is small, K = batch*pixels is huge), K is split
 * over more workgroups: each writes its partial tile to [S, M, N] and a second kernel sums the S
 * partials in order. Note [deterministic splits]: no atomics; every output is the same sum in the
 * same order on every run, which bitwise-identical replicas need.
 */
import type * as tf from '@tensorflow/tfjs';
import { GpuBackend, intUniforms, program, ProgramUniform } from './webgpu-program';

const TILE = 64;
const DEPTH = 16;
const WG = 16;
/** Threads to aim for: about what a data-centre GPU keeps resident (an H100: ~270k). */
export const TARGET_THREADS = 1 << 18;
/** At least this many K per split, so a partial is worth its write and read. */
const MIN_K_PER_SPLIT = 2 * DEPTH;
/** Partial sums kept at most (floats): 64 MiB. */
const MAX_PARTIALS = 1 << 24;

/** Epilogue applied to C (forward convolution only). */
export type Activation = 'linear' | 'relu' | 'relu6';

function activate(v: string, act: Activation): string {
  return act === 'relu' ? `max(${v}, 0.0)` : act === 'relu6' ? `clamp(${v}, 0.0, 6.0)` : v;
}

/** An implicit GEMM: sizes, the WGSL loaders over `inputs`, and the ints they read from `uniforms`. */
export interface GemmSpec {
  M: number;
  N: number;
  K: number;
  /** Identifies the loaders' code (goes into the shader cache key). */
  key: string;
  inputs: tf.TensorInfo[];
  names: string[];
  /** WGSL: fn loadA(m: i32, k: i32) -> f32 and fn loadB(k: i32, n: i32) -> f32, 0 outside [0, M) x [0, K) / [0, K) x [0, N). */
  loaders: string;
  /** Ints the loaders read as uniforms.<name>. */
  geometry: Record<string, number>;
  outShape: number[];
  bias?: tf.TensorInfo;
  activation?: Activation;
}

/** Number of K splits for a GEMM of this shape (see TARGET_THREADS). */
export function splitsFor(M: number, N: number, K: number): number {
  const tiles = Math.ceil(M / TILE) * Math.ceil(N / TILE);
  const wanted = Math.ceil(TARGET_THREADS / (tiles * WG * WG));
  const byK = Math.floor(K / MIN_K_PER_SPLIT);
  const byMemory = Math.floor(MAX_PARTIALS / (M * N));
  return Math.max(1, Math.min(wanted, byK, byMemory));
}

function gemmCode(store: string): string {
  const lanes = [0, 1, 2, 3];
  return `
  var<workgroup> As : array<array<f32, ${TILE}>, ${DEPTH}>;
  var<workgroup> Bs : array<array<f32, ${TILE}>, ${DEPTH}>;
  ${main()} {
    let tx = i32(localId.x);
    let ty = i32(localId.y);
    let tid = ty * ${WG} + tx;
    let n0 = i32(workgroupId.x) * ${TILE};
    let m0 = i32(workgroupId.y) * ${TILE};
    let split = i32(workgroupId.z);
    let kBegin = split * uniforms.kPerSplit;
    let kEnd = min(kBegin + uniforms.kPerSplit, uniforms.K);
    var acc : array<array<f32, 4>, 4>;
    // The trip count comes from uniforms only, so every thread reaches the barriers (WGSL uniformity).
    for (var step = 0; step < uniforms.kPerSplit / ${DEPTH}; step = step + 1) {
      let k0 = kBegin + step * ${DEPTH};
      for (var l = 0; l < ${(TILE * DEPTH) / (WG * WG)}; l = l + 1) {
        let e = tid + l * ${WG * WG};
        let kk = e / ${TILE};
        let ii = e % ${TILE};
        let inK = k0 + kk < kEnd;
        As[kk][ii] = select(0.0, loadA(m0 + ii, k0 + kk), inK);
        Bs[kk][ii] = select(0.0, loadB(k0 + kk, n0 + ii), inK);
      }
      workgroupBarrier();
      for (var kk = 0; kk < ${DEPTH}; kk = kk + 1) {
        ${lanes.map((i) => `let a${i} = As[kk][ty + ${WG * i}];`).join(' ')}
        ${lanes.map((j) => `let b${j} = Bs[kk][tx + ${WG * j}];`).join(' ')}
        ${lanes.map((i) => lanes.map((j) => `acc[${i}][${j}] = acc[${i}][${j}] + a${i} * b${j};`).join(' ')).join('\n        ')}
      }
      workgroupBarrier();
    }
    for (var i = 0; i < 4; i = i + 1) {
      for (var j = 0; j < 4; j = j + 1) {
        let m = m0 + ty + ${WG} * i;
        let n = n0 + tx + ${WG} * j;
        if (m < uniforms.M && n < uniforms.N) { ${store} }
      }
    }
  }`;
}

const main = () => 'fn main(index : i32)';

/** Sums the S partials of each output in order, then bias and activation. */
function reduceCode(withBias: boolean, act: Activation): string {
  return `
  ${main()} {
    let i = i32(globalId.x) + i32(globalId.y) * ${65535 * 256};
    let total = uniforms.M * uniforms.N;
    if (i >= total) { return; }
    var s = 0.0;
    for (var p = 0; p < uniforms.S; p = p + 1) { s = s + partials[p * total + i]; }
    ${withBias ? 's = s + bias[i % uniforms.N];' : ''}
    result[i] = ${activate('s', act)};
  }`;
}

/** Runs the GEMM of `spec` (split over K when that spreads it wider); returns C with shape outShape. */
export function implicitGemm(backend: GpuBackend, spec: GemmSpec): tf.TensorInfo {
  const { M, N, K } = spec;
  const S = splitsFor(M, N, K);
  const kPerSplit = Math.ceil(K / S / DEPTH) * DEPTH;
  const splits = Math.ceil(K / kPerSplit);
  const act = spec.activation ?? 'linear';
  const withBias = spec.bias != null;
  const direct = splits === 1;
  const u = intUniforms({ M, N, K, kPerSplit, ...spec.geometry });
  const inputs = direct && withBias ? [...spec.inputs, spec.bias!] : spec.inputs;
  const names = direct && withBias ? [...spec.names, 'bias'] : spec.names;
  const store = direct
    ? `result[m * uniforms.N + n] = ${activate(withBias ? 'acc[i][j] + bias[n]' : 'acc[i][j]', act)};`
    : `result[(split * uniforms.M + m) * uniforms.N + n] = acc[i][j];`;
  const gemm = program({
    key: `gemm_${spec.key}_${direct ? `direct_${withBias}_${act}` : 'partial'}`,
    inputs: names,
    outputShape: direct ? spec.outShape : [splits, M, N],
    workgroupSize: [WG, WG, 1],
    dispatch: [Math.ceil(N / TILE), Math.ceil(M / TILE), splits],
    uniforms: u.decl,
    code: spec.loaders + gemmCode(store),
  });
  const c = backend.runWebGPUProgram(gemm, inputs, 'float32', u.values);
  if (direct) return c;
  const total = M * N;
  const groups = Math.ceil(total / 256);
  const r = intUniforms({ M, N, S: splits });
  const reduce = program({
    key: `gemm_reduce_${withBias}_${act}`,
    inputs: withBias ? ['partials', 'bias'] : ['partials'],
    outputShape: spec.outShape,
    workgroupSize: [256, 1, 1],
    dispatch: [Math.min(groups, 65535), Math.ceil(groups / 65535), 1],
    uniforms: r.decl,
    code: reduceCode(withBias, act),
  });
  const out = backend.runWebGPUProgram(reduce, withBias ? [c, spec.bias!] : [c], 'float32', r.values as ProgramUniform[]);
  backend.disposeData(c.dataId);
  return out;
}
