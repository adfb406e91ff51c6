/**
 * Floating-point operations of one tfjs kernel call, from its input and output shapes and
 * attributes: a multiply-add counts 2. Convolutions and matrix products by their reduction
 * length, reductions by the elements they read, element-wise kernels by the elements they
 * write; kernels that only move data (slices, concatenation, transposes, padding, copies) count 0.
 */

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const MOVES_DATA = new Set([
  'Reshape',
  'Identity',
  'Slice',
  'StridedSlice',
  'Concat',
  'Transpose',
  'PadV2',
  'MirrorPad',
  'Tile',
  'Cast',
  'Fill',
  'ZerosLike',
  'OnesLike',
  'Pack',
  'Unpack',
  'GatherV2',
  'GatherNd',
  'ScatterNd',
  'OneHot',
  'Range',
  'Reverse',
  'SplitV',
  'BroadcastTo',
]);

const REDUCES = new Set(['Sum', 'Mean', 'Max', 'Min', 'Prod', 'All', 'Any', 'ArgMax', 'ArgMin', 'UnsortedSegmentSum', 'SegmentSum']);

/** What the FLOP count of a call needs to know. */
export interface KernelShapes {
  name: string;
  inputs: Record<string, readonly number[]>;
  outputs: readonly (readonly number[])[];
  attrs: Record<string, unknown>;
}

function filterTaps(filterShape: readonly number[]): number {
  return filterShape[0] * filterShape[1];
}

/** FLOPs of one call (2 per multiply-add). */
export function kernelFlops(k: KernelShapes): number {
  const out = k.outputs[0] ?? [];
  const a = k.attrs;
  switch (k.name) {
    case 'Conv2D':
    case 'FusedConv2D':
      return 2 * size(out) * filterTaps(k.inputs.filter) * k.inputs.filter[2];
    case 'Conv2DBackpropInput':
      return 2 * size(k.inputs.dy) * filterTaps(k.inputs.filter) * k.inputs.filter[2];
    case 'Conv2DBackpropFilter': {
      const fs = a.filterShape as number[];
      return 2 * size(k.inputs.dy) * filterTaps(fs) * fs[2];
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D':
      return 2 * size(out) * filterTaps(k.inputs.filter);
    case 'DepthwiseConv2dNativeBackpropInput':
      return 2 * size(k.inputs.dy) * filterTaps(k.inputs.filter);
    case 'DepthwiseConv2dNativeBackpropFilter':
      return 2 * size(k.inputs.dy) * filterTaps(a.filterShape as number[]);
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const sa = k.inputs.a;
      const reduce = a.transposeA ? sa[sa.length - 2] : sa[sa.length - 1];
      return 2 * size(out) * reduce;
    }
    default:
      if (MOVES_DATA.has(k.name)) return 0;
      if (REDUCES.has(k.name)) return size(Object.values(k.inputs)[0] ?? []);
      return k.outputs.reduce((s, o) => s + size(o), 0);
  }
}
