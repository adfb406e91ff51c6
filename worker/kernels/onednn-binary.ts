/**
 * Elementwise arithmetic and comparisons of float32 tensors run by oneDNN on the wasm heap (Note
 * [wasm heap] in onednn.ts). wasm's kernels broadcast by index arithmetic per element (the Equal of
 * a global max pool's gradient took 200 ns an element); oneDNN's binary primitive broadcasts its
 * second operand along whole dims. The results are the same IEEE operations, bit for bit.
 * Small tensors without broadcasting, integer operands and a broadcast dividend go to the kernel
 * registered before (`fallback`).
 */
import * as tf from '@tensorflow/tfjs';
import { heapOperands, KernelArgs, nativeOperands, OnednnNative } from './onednn';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** native/binary.h's codes; `swapped` computes the same result with the operands exchanged (negated for Sub). */
interface BinaryOp {
  alg: number;
  swapped?: number;
  bool?: boolean;
}

export const BINARY_OPS: Record<string, BinaryOp> = {
  Add: { alg: 0, swapped: 0 },
  Sub: { alg: 1, swapped: 1 },
  Multiply: { alg: 2, swapped: 2 },
  RealDiv: { alg: 3 },
  Equal: { alg: 4, swapped: 4, bool: true },
  NotEqual: { alg: 5, swapped: 5, bool: true },
  Greater: { alg: 6, swapped: 8, bool: true },
  GreaterEqual: { alg: 7, swapped: 9, bool: true },
  Less: { alg: 8, swapped: 6, bool: true },
  LessEqual: { alg: 9, swapped: 7, bool: true },
};

/** Below this many elements, with no broadcasting, wasm's own loop costs less than the call. */
const MIN_NATIVE = 4096;

const prod = (xs: number[]) => xs.reduce((p, d) => p * d, 1);

/**
 * Output dims and the broadcast operand's dims, with neighbouring dims that broadcast alike merged
 * (a [64,28,28,32] by [32] product is a [50176,32] by [1,32] one).
 */
export function mergedDims(out: number[], small: number[]): { dims: number[]; smallDims: number[] } {
  const padded = [...new Array(out.length - small.length).fill(1), ...small];
  const dims: number[] = [];
  const smallDims: number[] = [];
  let last: boolean | null = null;
  out.forEach((d, i) => {
    if (d === 1) return;
    const full = padded[i] === d;
    if (full === last) {
      dims[dims.length - 1] *= d;
      if (full) smallDims[smallDims.length - 1] *= d;
    } else {
      dims.push(d);
      smallDims.push(full ? d : 1);
    }
    last = full;
  });
  return dims.length > 0 ? { dims, smallDims } : { dims: [1], smallDims: [1] };
}

/** The kernel for tfjs's binary op `name`. */
export function binaryKernel(native: OnednnNative, name: string, fallback: KernelFunc): KernelFunc {
  const op = BINARY_OPS[name];
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (!nativeOperands(a, b)) return fallback(args);
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const full = (t: tf.TensorInfo) => prod(t.shape) === prod(outShape);
    if (full(a) && full(b) && prod(outShape) < MIN_NATIVE) return fallback(args);
    const swap = !full(a);
    if ((swap && (!full(b) || op.swapped == null)) || outShape.length > 6) return fallback(args);
    const [first, second] = swap ? [b, a] : [a, b];
    const { dims, smallDims } = mergedDims(outShape, second.shape);
    const out = args.backend.makeOutput(outShape, (op.bool ? 'bool' : 'float32') as 'float32');
    const { heap, offsets } = heapOperands(args.backend, [first, second, out]);
    const alg = swap ? (op.swapped as number) : op.alg;
    const negate = swap && name === 'Sub';
    native.binary(heap, Float64Array.from([alg, negate ? 1 : 0, op.bool ? 1 : 0, dims.length, ...dims, ...smallDims]), offsets);
    return out;
  };
}
