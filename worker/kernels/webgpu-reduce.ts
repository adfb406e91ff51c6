/**
 * webgpu kernels that are column sums (webgpu-colsum.ts): Sum and Mean over every axis but the
 * last (BatchNorm statistics, bias gradients: stock tfjs-webgpu gives each output column one
 * workgroup, 24k threads for 96 channels), the depthwise filter gradient (stock: one thread per
 * filter weight), and an element-wise helper for the kernels built on them.
 */
import type * as tf from '@tensorflow/tfjs';
import { ConvAttrs, convGeometry } from './geometry';
import { columnSums } from './webgpu-colsum';
import { INPUT_AT } from './webgpu-conv';
import { GpuBackend, intUniforms, program, ProgramUniform } from './webgpu-program';

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The axes of a reduction as sorted non-negative numbers. */
function normalizedAxes(axis: unknown, rank: number): number[] {
  const list = axis == null ? [...Array(rank).keys()] : Array.isArray(axis) ? (axis as number[]) : [axis as number];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

interface ReduceArgs {
  inputs: { x?: tf.TensorInfo };
  backend: GpuBackend;
  attrs: { axis?: number | number[]; keepDims?: boolean };
}

/** Sum (or Mean) over all axes but the last; null for any other reduction. */
export function leadingAxesReduce({ inputs, backend, attrs }: ReduceArgs, mean: boolean): tf.TensorInfo | null {
  const x = inputs.x;
  if (!x || x.dtype !== 'float32' || x.shape.length < 2) return null;
  const rank = x.shape.length;
  const axes = normalizedAxes(attrs.axis, rank);
  if (axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return null;
  const C = x.shape[rank - 1];
  const R = size(x.shape) / C;
  if (R === 0 || C === 0) return null;
  return columnSums(backend, {
    R,
    C,
    key: 'leading',
    inputs: [x],
    names: ['x'],
    value: 'fn value(r : i32, c : i32) -> f32 { return x[r * uniforms.C + c]; }',
    divisor: mean ? R : 1,
    outShape: attrs.keepDims ? [...Array(rank - 1).fill(1), C] : [C],
  });
}

interface DepthwiseArgs {
  inputs: { x?: tf.TensorInfo; dy?: tf.TensorInfo };
  backend: GpuBackend;
  attrs: ConvAttrs & { filterShape: number[] };
}

/** DepthwiseConv2dNativeBackpropFilter: dW[tap, c, m] = sum over pixels of x(pixel, tap, c) dy(pixel, c*M + m); null for NCHW. */
export function depthwiseFilterGrad({ inputs, backend, attrs }: DepthwiseArgs): tf.TensorInfo | null {
  const { x, dy } = inputs;
  if (!x || !dy || (attrs.dataFormat != null && attrs.dataFormat !== 'NHWC') || x.dtype !== 'float32' || dy.dtype !== 'float32')
    return null;
  const g = convGeometry(x.shape, attrs.filterShape, attrs, true);
  const mult = attrs.filterShape[3];
  const { batch, inH, inW, inC, outH, outW, kw, sh, sw, dh, dw, top, left } = g;
  return columnSums(backend, {
    R: batch * outH * outW,
    C: g.kh * kw * inC * mult,
    key: 'depthwise_filter_grad',
    inputs: [x, dy],
    names: ['x', 'dy'],
    value: `${INPUT_AT}
    fn value(r : i32, col : i32) -> f32 {
      let cm = uniforms.inC * uniforms.mult;
      let q = col % cm;
      let tap = col / cm;
      return inputAt(r, tap / uniforms.kw, tap % uniforms.kw, q / uniforms.mult) * dy[r * cm + q];
    }`,
    ints: { inH, inW, inC, outH, outW, kw, sh, sw, dh, dw, top, left, mult },
    outShape: attrs.filterShape,
  });
}

/** An element-wise kernel: result[i] = `expr` for i < n, one thread each (`expr` may use i and the inputs). */
export function elementwise(
  backend: GpuBackend,
  opts: {
    key: string;
    inputs: tf.TensorInfo[];
    names: string[];
    outShape: number[];
    expr: string;
    ints?: Record<string, number>;
    floats?: Record<string, number>;
  },
): tf.TensorInfo {
  const n = size(opts.outShape);
  const groups = Math.ceil(n / 256);
  const ints = intUniforms({ n, ...(opts.ints ?? {}) });
  const floats = Object.entries(opts.floats ?? {});
  const uniforms: ProgramUniform[] = [...ints.values, ...floats.map(([, v]) => ({ type: 'float32' as const, data: [v] }))];
  const p = program({
    key: `elementwise_${opts.key}`,
    inputs: opts.names,
    outputShape: opts.outShape,
    workgroupSize: [256, 1, 1],
    dispatch: [Math.min(groups, 65535), Math.ceil(groups / 65535), 1],
    uniforms: `${ints.decl} ${floats.map(([k]) => `${k} : f32,`).join(' ')}`,
    code: `
    fn main(index : i32) {
      let i = i32(globalId.x) + i32(globalId.y) * ${65535 * 256};
      if (i >= uniforms.n) { return; }
      result[i] = ${opts.expr};
    }`,
  });
  return backend.runWebGPUProgram(p, opts.inputs, 'float32', uniforms);
}

/**
 * A webgpu kernel computing result[i] = `expr` over inputs of one shape, read by their names in
 * the kernel's inputs (the first gives the output's shape); `floats` turns the kernel's
 * attributes into the f32 uniforms `expr` reads.
 */
export function elementwiseKernel(
  kernelName: string,
  spec: { key: string; names: string[]; expr: string; floats: (attrs: Record<string, unknown>) => Record<string, number> },
): tf.KernelConfig {
  const kernelFunc = ({
    inputs,
    backend,
    attrs,
  }: {
    inputs: Record<string, tf.TensorInfo>;
    backend: GpuBackend;
    attrs: Record<string, unknown>;
  }) => {
    const ins = spec.names.map((n) => inputs[n]);
    return elementwise(backend, {
      key: spec.key,
      inputs: ins,
      names: spec.names,
      outShape: ins[0].shape,
      expr: spec.expr,
      floats: spec.floats(attrs),
    });
  };
  return { kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
