/**
 * The slice of tfjs-backend-webgpu's program interface ringtune's WGSL kernels use: a program is
 * WGSL user code plus the facts the backend needs to bind it (input names, output shape,
 * workgroup size and count, extra uniforms); the backend generates the bindings, a `uniforms`
 * struct (each input's shape, the output's, then the program's own fields) and the entry point,
 * which calls the user code's `main(index)`.
 */
import type * as tf from '@tensorflow/tfjs';

/** One program (tfjs-webgpu's WebGPUProgram, the fields ringtune sets). */
export interface GpuProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  /** A layout rank that never equals the output rank: no generated output-coordinate helper, main gets a flat index. */
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms?: string;
  getUserCode(): string;
}

/** A uniform value the program declares in `uniforms` (in order). */
export interface ProgramUniform {
  type: 'int32' | 'float32' | 'uint32';
  data: number[];
}

/** What ringtune needs from the webgpu backend object a kernel receives. */
export interface GpuBackend {
  runWebGPUProgram(program: GpuProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms?: ProgramUniform[]): tf.TensorInfo;
  disposeData(dataId: tf.DataId): boolean;
}

/** Never the rank of an output (tfjs tensors have rank <= 6): see GpuProgram.dispatchLayout. */
export const OPAQUE_LAYOUT = { x: [0, 1, 2, 3, 4, 5, 6] };

/** int32 uniforms named in order; returns the WGSL declaration and the values. */
export function intUniforms(fields: Record<string, number>): { decl: string; values: ProgramUniform[] } {
  const names = Object.keys(fields);
  return {
    decl: names.map((n) => `${n} : i32,`).join(' '),
    values: names.map((n) => ({ type: 'int32', data: [fields[n]] })),
  };
}

/** A program with the given code, one workgroup size and count; `key` must name everything the code depends on. */
export function program(opts: {
  key: string;
  inputs: string[];
  outputShape: number[];
  workgroupSize: [number, number, number];
  dispatch: [number, number, number];
  uniforms: string;
  code: string;
}): GpuProgram {
  return {
    variableNames: opts.inputs,
    outputShape: opts.outputShape,
    shaderKey: `ringtune_${opts.key}`,
    dispatchLayout: OPAQUE_LAYOUT,
    dispatch: opts.dispatch,
    workgroupSize: opts.workgroupSize,
    uniforms: opts.uniforms,
    getUserCode: () => opts.code,
  };
}
