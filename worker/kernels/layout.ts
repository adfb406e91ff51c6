/**
 * Data movement written as plain loops (over wasm's heap for tensors). wasm's generic Reverse
 * and DepthToSpace walk every element through index arithmetic and were among the slowest
 * kernels of a training step; these copy contiguous channel runs instead.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmHeap {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  incRef(dataId: object): void;
}

const SHUFFLE = 'RingtunePixelShuffle';

/**
 * out[b, r, q, c] = x[b, (r+top)/s, (q+left)/s, (((r+top)%s)*s + (q+left)%s)*C + c]: depthToSpace by
 * s fused with the crop to [outH, outW] starting at (top, left).
 */
function pixelShuffle(args: { inputs: { x: tf.TensorInfo }; backend: unknown; attrs?: unknown }): tf.TensorInfo {
  const { x } = args.inputs;
  const heap = args.backend as WasmHeap;
  const { s, top, left, outH, outW } = args.attrs as { s: number; top: number; left: number; outH: number; outW: number };
  const [b, h, w, sc] = x.shape;
  const c = sc / (s * s);
  const out = heap.makeOutput([b, outH, outW, c], 'float32');
  const src = heap.typedArrayFromHeap(x);
  const dst = heap.typedArrayFromHeap(out);
  let o = 0;
  for (let n = 0; n < b; n++) {
    for (let r = 0; r < outH; r++) {
      const y = r + top;
      const rowBase = (n * h + Math.floor(y / s)) * w * sc + (y % s) * s * c;
      for (let q = 0; q < outW; q++) {
        const xx = q + left;
        let i = rowBase + Math.floor(xx / s) * sc + (xx % s) * c;
        for (let k = 0; k < c; k++) dst[o++] = src[i++];
      }
    }
  }
  return out;
}

/** Kernel config of ringtune's fused depthToSpace + crop on wasm. */
export const pixelShuffleConfig: tf.KernelConfig = {
  kernelName: SHUFFLE,
  backendName: 'wasm',
  kernelFunc: pixelShuffle as unknown as tf.KernelFunc,
};

/** depthToSpace(x, s) cropped to [outH, outW] from (top, left), in one pass (wasm only). */
export function pixelShuffleCrop(x: tf.Tensor4D, s: number, top: number, left: number, outH: number, outW: number): tf.Tensor4D {
  return tf.engine().runKernel(SHUFFLE, { x }, { s, top, left, outH, outW }) as tf.Tensor4D;
}

/**
 * Identity sharing its input's buffer (one more reference), as tfjs's cpu and webgl backends do;
 * wasm's copies it. The engine clones every tensor a gradient saves, so the copies were a full
 * pass over most activations of a training step. Kernels never write their inputs, so sharing is safe.
 */
export const identityConfig: tf.KernelConfig = {
  kernelName: 'Identity',
  backendName: 'wasm',
  kernelFunc: ((args: { inputs: { x: tf.TensorInfo }; backend: unknown }) => {
    const { x } = args.inputs;
    if (x.dtype === 'string') throw new Error('Identity on wasm: string tensors are not supported');
    (args.backend as WasmHeap).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }) as unknown as tf.KernelFunc,
};

/**
 * Rearranges a small filter in JS: out[dst(i, j, a, b)] = w[i, j, a, b] for every element, where
 * `dst` returns the flat output index or -1 to drop it. The output starts zero-filled.
 */
export function remapFilter(w: tf.Tensor4D, outShape: number[], dst: (i: number, j: number, a: number, b: number) => number): tf.Tensor4D {
  const [kh, kw, ca, cb] = w.shape;
  const src = w.dataSync() as Float32Array;
  const out = new Float32Array(outShape.reduce((p, d) => p * d, 1));
  let n = 0;
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let a = 0; a < ca; a++)
        for (let b = 0; b < cb; b++) {
          const d = dst(i, j, a, b);
          if (d >= 0) out[d] = src[n];
          n++;
        }
  return tf.tensor4d(out, outShape as [number, number, number, number]);
}
