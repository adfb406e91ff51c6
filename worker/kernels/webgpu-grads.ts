/**
 * Filter gradients for the webgpu backend, written with tfjs ops so they run (and are validated)
 * on any backend. Stock tfjs-webgpu runs Conv2DBackpropFilter and
 * DepthwiseConv2dNativeBackpropFilter with one GPU thread per filter weight, each looping over
 * the whole batch: 864 threads for a 3x3x3x32 filter, 188 ms of a 988 ms step on an H100.
 *
 * Here the batch becomes the reduction axis of ONE matrix product, which tfjs-webgpu splits
 * over K (MatMulSplitKProgram: many workgroups, atomic adds) when the output is small:
 * - conv2d: im2col of the (padded) input, [B*oh*ow, kh*kw*Cin], built from kh*kw strided
 *   windows, transposed-times dy [B*oh*ow, Cout] = dW [kh*kw*Cin, Cout];
 * - depthwise: per tap the window times dy elementwise, all taps side by side, then
 *   column sums as ones[1, B*oh*ow] times that matrix.
 * The wasm kernels use a forward convolution with batch and channels swapped instead; on
 * webgpu that convolution has a 64x64 "filter" and only Cin*ceil(kh*kw/tile) workgroups, the
 * same lack of parallelism as the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { ConvAttrs, ConvGeometry, convGeometry } from './geometry';
import { filterGradOperands } from './patches';

function toNhwc(t: tf.Tensor4D, dataFormat: string | undefined): tf.Tensor4D {
  return dataFormat === 'NCHW' ? tf.transpose(t, [0, 2, 3, 1]) : t;
}

/** x and its explicit padding as one tensor whose tap (0, 0) of output pixel (0, 0) is at index 0. */
function paddedInput(x: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const { input, pad } = filterGradOperands(x, g);
  return pad.some((p) => p[0] > 0 || p[1] > 0) ? tf.pad(input, pad) : input;
}

/** The [B, oh, ow, C] window of the padded input that filter tap (i, j) reads. */
function tapWindow(p: tf.Tensor4D, g: ConvGeometry, i: number, j: number): tf.Tensor4D {
  const r0 = i * g.dh;
  const c0 = j * g.dw;
  const [b, h, w, c] = p.shape;
  if (g.sh === 1 && g.sw === 1) {
    if (r0 === 0 && c0 === 0 && h === g.outH && w === g.outW) return p;
    return tf.slice(p, [0, r0, c0, 0], [b, g.outH, g.outW, c]);
  }
  return tf.stridedSlice(
    p,
    [0, r0, c0, 0],
    [b, r0 + (g.outH - 1) * g.sh + 1, c0 + (g.outW - 1) * g.sw + 1, c],
    [1, g.sh, g.sw, 1],
  ) as tf.Tensor4D;
}

/** dW [kh, kw, Cin, Cout] of conv2d(x, W) given dy: im2col(x)^T times dy, one matrix product. */
export function im2colFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], attrs: ConvAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const xs = toNhwc(x, attrs.dataFormat);
    const dys = toNhwc(dy, attrs.dataFormat);
    const g = convGeometry(xs.shape, filterShape, attrs, false);
    const p = paddedInput(xs, g);
    const taps: tf.Tensor4D[] = [];
    for (let i = 0; i < g.kh; i++) for (let j = 0; j < g.kw; j++) taps.push(tapWindow(p, g, i, j));
    const rows = g.batch * g.outH * g.outW;
    // Column (i*kw + j)*Cin + c of the im2col matrix is element [i, j, c] of an HWIO filter.
    const cols = taps.length === 1 ? taps[0] : tf.concat(taps, 3);
    const dw = tf.matMul(tf.reshape(cols, [rows, g.kh * g.kw * g.inC]), tf.reshape(dys, [rows, g.outC]), true, false);
    return tf.reshape(dw, [g.kh, g.kw, g.inC, g.outC]) as tf.Tensor4D;
  });
}

/** dW [kh, kw, C, M] of depthwiseConv2d(x, W) given dy [B, oh, ow, C*M]: tap windows times dy, summed over B*oh*ow. */
export function tapSumDepthwiseFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], attrs: ConvAttrs): tf.Tensor4D {
  if (attrs.dataFormat === 'NCHW')
    throw new Error('DepthwiseConv2dNativeBackpropFilter: dataFormat NCHW is not supported (tfjs depthwise ops are NHWC only)');
  return tf.tidy(() => {
    const g = convGeometry(x.shape, filterShape, attrs, true);
    const [kh, kw, c, m] = filterShape;
    const p = paddedInput(x, g);
    const rows = g.batch * g.outH * g.outW;
    // Output channel c*M + k came from input channel c: broadcast the window over the multiplier.
    const dyk = m === 1 ? tf.reshape(dy, [rows, c]) : tf.reshape(dy, [rows, c, m]);
    const products: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const win = tapWindow(p, g, i, j);
        const prod = m === 1 ? tf.mul(tf.reshape(win, [rows, c]), dyk) : tf.mul(tf.reshape(win, [rows, c, 1]), dyk);
        products.push(tf.reshape(prod, [rows, c * m]));
      }
    }
    const all = products.length === 1 ? products[0] : tf.concat(products, 1);
    const sums = tf.matMul(tf.ones([1, rows]), all);
    return tf.reshape(sums, [kh, kw, c, m]) as tf.Tensor4D;
  });
}
