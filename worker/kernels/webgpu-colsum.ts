/**
 * Column sums of a virtual [R, C] matrix in WGSL: out[c] = sum over rows of value(r, c), where
 * the caller's WGSL `fn value(r : i32, c : i32) -> f32` reads it from its tensors (so a BatchNorm
 * gradient, a depthwise filter gradient or a plain reduction over leading axes is one kernel,
 * with no intermediate [R, C] tensor).
 *
 * Shape for a GPU: a workgroup is 64 columns x 4 row lanes (consecutive threads read
 * consecutive columns of a row); the rows are split over as many workgroups as it takes to reach
 * TARGET_THREADS. Each workgroup adds its lanes in a fixed order and writes one partial row of
 * [S, C]; a second kernel adds the S partials in order (Note [deterministic splits]).
 */
import type * as tf from '@tensorflow/tfjs';
import { TARGET_THREADS } from './webgpu-gemm';
import { GpuBackend, intUniforms, program, ProgramUniform } from './webgpu-program';

const COLS = 64;
const LANES = 4;
/** Rows each thread adds at least, so a split is worth its partial. */
const MIN_ROWS_PER_THREAD = 16;

/** A column sum: the size of the virtual matrix, its WGSL `value`, and what that reads. */
export interface ColumnSumSpec {
  R: number;
  C: number;
  /** Identifies `value`'s code (goes into the shader cache key). */
  key: string;
  inputs: tf.TensorInfo[];
  names: string[];
  /** WGSL: fn value(r : i32, c : i32) -> f32, called for r < R, c < C only. */
  value: string;
  /** Ints `value` reads as uniforms.<name>. */
  ints?: Record<string, number>;
  /** Each sum is divided by this (R makes a mean); applied once, after the sum. */
  divisor?: number;
  outShape: number[];
}

/** Number of row splits for R rows and C columns. */
export function rowSplits(R: number, C: number): number {
  const tiles = Math.ceil(C / COLS);
  const wanted = Math.ceil(TARGET_THREADS / (tiles * COLS * LANES));
  return Math.max(1, Math.min(wanted, Math.floor(R / (LANES * MIN_ROWS_PER_THREAD))));
}

const main = 'fn main(index : i32)';

const partialCode = (value: string) => `${value}
  var<workgroup> lanes : array<array<f32, ${COLS}>, ${LANES}>;
  ${main} {
    let c = i32(workgroupId.x) * ${COLS} + i32(localId.x);
    let lane = i32(localId.y);
    let split = i32(workgroupId.y);
    let r0 = split * uniforms.rowsPerSplit;
    let r1 = min(r0 + uniforms.rowsPerSplit, uniforms.R);
    var s = 0.0;
    if (c < uniforms.C) {
      for (var r = r0 + lane; r < r1; r = r + ${LANES}) { s = s + value(r, c); }
    }
    lanes[lane][localId.x] = s;
    workgroupBarrier();
    if (lane == 0 && c < uniforms.C) {
      result[split * uniforms.C + c] = ((lanes[0][localId.x] + lanes[1][localId.x]) + lanes[2][localId.x]) + lanes[3][localId.x];
    }
  }`;

const finalCode = `
  ${main} {
    let c = i32(globalId.x);
    if (c >= uniforms.C) { return; }
    var s = 0.0;
    for (var p = 0; p < uniforms.S; p = p + 1) { s = s + partials[p * uniforms.C + c]; }
    result[c] = s / uniforms.divisor;
  }`;

/** Runs the column sum of `spec`; returns [C] values shaped outShape. */
export function columnSums(backend: GpuBackend, spec: ColumnSumSpec): tf.TensorInfo {
  const { R, C } = spec;
  const S = rowSplits(R, C);
  const rowsPerSplit = Math.ceil(R / S);
  const splits = Math.ceil(R / rowsPerSplit);
  const u = intUniforms({ R, C, rowsPerSplit, ...(spec.ints ?? {}) });
  const partial = program({
    key: `colsum_${spec.key}`,
    inputs: spec.names,
    outputShape: [splits, C],
    workgroupSize: [COLS, LANES, 1],
    dispatch: [Math.ceil(C / COLS), splits, 1],
    uniforms: u.decl,
    code: partialCode(spec.value),
  });
  const parts = backend.runWebGPUProgram(partial, spec.inputs, 'float32', u.values);
  const f = intUniforms({ C, S: splits });
  const final = program({
    key: 'colsum_final',
    inputs: ['partials'],
    outputShape: spec.outShape,
    workgroupSize: [64, 1, 1],
    dispatch: [Math.ceil(C / 64), 1, 1],
    uniforms: `${f.decl} divisor : f32,`,
    code: finalCode,
  });
  const divisor: ProgramUniform = { type: 'float32', data: [spec.divisor ?? 1] };
  const out = backend.runWebGPUProgram(final, [parts], 'float32', [...f.values, divisor]);
  backend.disposeData(parts.dataId);
  return out;
}
