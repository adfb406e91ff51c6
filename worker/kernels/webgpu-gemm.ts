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
 * partials in order. Where even that stays under MIN_THREADS (C small and K short: a 1x1 conv on
 * a 2x2 feature map), the tile shrinks to 32x32 (2x2 per thread) or 16x16 (1 per thread): see
 * planGemm. Note [deterministic splits]: no atomics; every output is the same sum in the
 * same order on every run, which bitwise-identical replicas need.
 */
import type * as tf from '@tensorflow/tfjs';
import { GpuBackend, intUniforms, program, ProgramUniform } from './webgpu-program';

const DEPTH = 16;
const WG = 16;
/** Threads to aim for: about what a data-centre GPU keeps resident (an H100: ~270k). */
export const TARGET_THREADS = 1 << 18;
/** Threads a GEMM should launch at the least: below this a tile smaller than 64 is worth its lower reuse. */
export const MIN_THREADS = 1 << 16;
/** At least this many K per split, so a partial is worth its write and read. */
const MIN_K_PER_SPLIT = 2 * DEPTH;
/** Partial sums kept at most (floats): 64 MiB. */
const MAX_PARTIALS = 1 << 24;
/** Edges of the square output tile of one 16x16-thread workgroup, largest (most reuse per load) first. */
const TILES = [64, 32, 16] as const;
export type Tile = (typeof TILES)[number];

/** How a GEMM is spread: its output tile per workgroup and its K splits of kPerSplit each (the last may be shorter). */
export interface GemmPlan {
  tile: Tile;
  splits: number;
  kPerSplit: number;
  /** Threads of the GEMM pass: tiles x 256 x splits. */
  threads: number;
}

function planWithTile(M: number, N: number, K: number, tile: Tile): GemmPlan {
  const tiles = Math.ceil(M / tile) * Math.ceil(N / tile);
  const wanted = Math.ceil(TARGET_THREADS / (tiles * WG * WG));
  const byK = Math.floor(K / MIN_K_PER_SPLIT);
  const byMemory = Math.floor(MAX_PARTIALS / (M * N));
  const asked = Math.max(1, Math.min(wanted, byK, byMemory));
  const kPerSplit = Math.max(DEPTH, Math.ceil(K / asked / DEPTH) * DEPTH);
  const splits = Math.max(1, Math.ceil(K / kPerSplit));
  return { tile, splits, kPerSplit, threads: tiles * WG * WG * splits };
}

/**
 * The plan for C[M, N] = A[M, K] B[K, N]: the largest tile that, split over K towards
 * TARGET_THREADS, still launches MIN_THREADS; where none does, the plan with the most threads.
 * (Few output elements: a conv late in a net, at a small input or batch.)
 */
export function planGemm(M: number, N: number, K: number): GemmPlan {
  const plans = TILES.map((tile) => planWithTile(M, N, K, tile));
  return plans.find((p) => p.threads >= MIN_THREADS) ?? plans.reduce((a, b) => (b.threads > a.threads ? b : a));
}

/** Epilogue applied to C (forward convolution only). */
export type Activation = 'linear' | 'relu' | 'relu6';

function activate(v: string, act: Activation): string {
  return act === 'relu' ? `max(${v}, 0.0)` : act === 'relu6' ? `clamp(${v}, 0.0, 6.0)` : v;
}

/** C[M, N] = A[M, K] B[K, N]. */
export interface GemmSize {
  M: number;
  N: number;
  K: number;
}

/** An implicit GEMM: sizes, the WGSL loaders over `inputs`, and the ints they read from `uniforms`. */
export interface GemmSpec extends GemmSize {
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

function gemmCode(tile: Tile, store: string): string {
  const per = tile / WG;
  const lanes = Array.from({ length: per }, (_, i) => i);
  return `
  var<workgroup> As : array<array<f32, ${tile}>, ${DEPTH}>;
  var<workgroup> Bs : array<array<f32, ${tile}>, ${DEPTH}>;
  ${main()} {
    let tx = i32(localId.x);
    let ty = i32(localId.y);
    let tid = ty * ${WG} + tx;
    let n0 = i32(workgroupId.x) * ${tile};
    let m0 = i32(workgroupId.y) * ${tile};
    let split = i32(workgroupId.z);
    let kBegin = split * uniforms.kPerSplit;
    let kEnd = min(kBegin + uniforms.kPerSplit, uniforms.K);
    var acc : array<array<f32, ${per}>, ${per}>;
    // The trip count comes from uniforms only, so every thread reaches the barriers (WGSL uniformity).
    for (var step = 0; step < uniforms.kPerSplit / ${DEPTH}; step = step + 1) {
      let k0 = kBegin + step * ${DEPTH};
      for (var l = 0; l < ${(tile * DEPTH) / (WG * WG)}; l = l + 1) {
        let e = tid + l * ${WG * WG};
        let kk = e / ${tile};
        let ii = e % ${tile};
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
    for (var i = 0; i < ${per}; i = i + 1) {
      for (var j = 0; j < ${per}; j = j + 1) {
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
  const { tile, splits, kPerSplit } = planGemm(M, N, K);
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
    key: `gemm_${spec.key}_${tile}_${direct ? `direct_${withBias}_${act}` : 'partial'}`,
    inputs: names,
    outputShape: direct ? spec.outShape : [splits, M, N],
    workgroupSize: [WG, WG, 1],
    dispatch: [Math.ceil(N / tile), Math.ceil(M / tile), splits],
    uniforms: u.decl,
    code: spec.loaders + gemmCode(tile, store),
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
