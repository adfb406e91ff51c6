/**
 * MaxPoolGrad for the wasm backend as a plain loop over wasm's heap. dy goes to the first maximum
 * of each window, as tfjs's cpu backend and PyTorch send it; tfjs's own wasm kernel picks another
 * among equal values (common after ReLU and zero padding) and took ~100 ms of a resnet18 step.
 * Contributions reach dx in the windows' order, as the cpu backend adds them. native/pool.cc runs
 * the same loop natively where oneDNN's addon is built.
 */
import * as tf from '@tensorflow/tfjs';

/** A max pooling's geometry (NHWC, dilation 1). */
export interface PoolGeometry {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  outH: number;
  outW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  padT: number;
  padL: number;
}

export function poolGeometry(shape: number[], attrs: Record<string, unknown>): PoolGeometry {
  const a = attrs as { filterSize: [number, number]; strides: [number, number]; pad: 'same'; dimRoundingMode?: 'floor' };
  const i = tf.backend_util.computePool2DInfo(
    shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  return {
    batch: i.batchSize,
    inH: i.inHeight,
    inW: i.inWidth,
    channels: i.inChannels,
    outH: i.outHeight,
    outW: i.outWidth,
    kh: i.filterHeight,
    kw: i.filterWidth,
    sh: i.strideHeight,
    sw: i.strideWidth,
    padT: i.padInfo.top,
    padL: i.padInfo.left,
  };
}

interface WasmHeap {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

function maxPoolGrad(args: { inputs: { dy: tf.TensorInfo; input: tf.TensorInfo }; backend: unknown; attrs?: unknown }): tf.TensorInfo {
  const { dy, input } = args.inputs;
  const heap = args.backend as WasmHeap;
  const p = poolGeometry(input.shape, args.attrs as Record<string, unknown>);
  const dxInfo = heap.makeOutput(input.shape, 'float32');
  const [x, g, dx] = [input, dy, dxInfo].map((t) => heap.typedArrayFromHeap(t));
  dx.fill(0);
  const c = p.channels;
  const best = new Float32Array(c);
  const where = new Int32Array(c);
  for (let b = 0; b < p.batch; b++) {
    const base = b * p.inH * p.inW * c;
    for (let oy = 0; oy < p.outH; oy++)
      for (let ox = 0; ox < p.outW; ox++) {
        best.fill(-Infinity);
        where.fill(-1);
        for (let ky = 0; ky < p.kh; ky++) {
          const yy = oy * p.sh - p.padT + ky;
          if (yy < 0 || yy >= p.inH) continue;
          for (let kx = 0; kx < p.kw; kx++) {
            const xx = ox * p.sw - p.padL + kx;
            if (xx < 0 || xx >= p.inW) continue;
            const at = base + (yy * p.inW + xx) * c;
            for (let k = 0; k < c; k++)
              if (x[at + k] > best[k]) {
                best[k] = x[at + k];
                where[k] = at + k;
              }
          }
        }
        const from = ((b * p.outH + oy) * p.outW + ox) * c;
        for (let k = 0; k < c; k++) if (where[k] >= 0) dx[where[k]] += g[from + k];
      }
  }
  return dxInfo;
}

/** Kernel config of ringtune's MaxPoolGrad on wasm. */
export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
