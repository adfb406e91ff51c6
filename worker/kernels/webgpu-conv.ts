/**
 * Convolutions on webgpu as implicit GEMMs (webgpu-gemm.ts), NHWC: the forward pass and both
 * gradients read the input through the same im2col index map, never stored.
 *   forward      y[pixel, cout]       = sum over (tap, cin)   im2col(x)[pixel, (tap, cin)] W[(tap, cin), cout]
 *   filter grad  dW[(tap, cin), cout] = sum over pixels      im2col(x)[pixel, (tap, cin)] dy[pixel, cout]
 *   input grad   dx[xpixel, cin]      = sum over (tap, cout) dy[ypixel(xpixel, tap), cout] W[(tap, cin), cout]
 * (pixel = (b, oy, ox); the filter gradient's long K = B*oh*ow is split over many workgroups.)
 * Other layouts and activations return null: the caller falls back to tfjs-webgpu's kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { ConvAttrs, ConvGeometry, convGeometry } from './geometry';
import { Activation, GemmSize, GemmSpec, implicitGemm } from './webgpu-gemm';
import type { GpuBackend } from './webgpu-program';

function geometryUniforms(g: ConvGeometry): Record<string, number> {
  const { batch, inH, inW, inC, outH, outW, outC, kh, kw, sh, sw, dh, dw, top, left } = g;
  return { batch, inH, inW, inC, outH, outW, outC, kh, kw, sh, sw, dh, dw, top, left };
}

/**
 * WGSL: x at the input pixel that tap (i, j) of output position `row` = (b, oy, ox) reads, channel c;
 * 0 in the padding. Needs the conv geometry's uniforms (geometryUniforms).
 */
export const INPUT_AT = `
  fn inputAt(row : i32, i : i32, j : i32, c : i32) -> f32 {
    let ox = row % uniforms.outW;
    let oy = (row / uniforms.outW) % uniforms.outH;
    let b = row / (uniforms.outW * uniforms.outH);
    let iy = oy * uniforms.sh - uniforms.top + i * uniforms.dh;
    let ix = ox * uniforms.sw - uniforms.left + j * uniforms.dw;
    if (iy < 0 || iy >= uniforms.inH || ix < 0 || ix >= uniforms.inW) { return 0.0; }
    return x[((b * uniforms.inH + iy) * uniforms.inW + ix) * uniforms.inC + c];
  }`;

/** WGSL: element [row, col] of im2col(x), row = (b, oy, ox), col = (i, j, c); 0 in the padding. */
const IM2COL = `${INPUT_AT}
  fn im2col(row : i32, col : i32) -> f32 {
    if (row >= uniforms.batch * uniforms.outH * uniforms.outW || col >= uniforms.kh * uniforms.kw * uniforms.inC) { return 0.0; }
    let c = col % uniforms.inC;
    let j = (col / uniforms.inC) % uniforms.kw;
    let i = col / (uniforms.inC * uniforms.kw);
    return inputAt(row, i, j, c);
  }`;

/** Loaders of a GEMM whose A is im2col(x), or its transpose, and B the dense [K, N] tensor `b`. */
const im2colLoaders = (transposed: boolean, b: string) => `${IM2COL}
  fn loadA(m : i32, k : i32) -> f32 { return im2col(${transposed ? 'k, m' : 'm, k'}); }
  fn loadB(k : i32, n : i32) -> f32 {
    if (n >= uniforms.N || k >= uniforms.K) { return 0.0; }
    return ${b}[k * uniforms.N + n];
  }`;

const INPUT_GRAD = `
  fn loadA(m : i32, k : i32) -> f32 {
    if (m >= uniforms.M || k >= uniforms.K) { return 0.0; }
    let ix = m % uniforms.inW;
    let iy = (m / uniforms.inW) % uniforms.inH;
    let b = m / (uniforms.inW * uniforms.inH);
    let n = k % uniforms.outC;
    let j = (k / uniforms.outC) % uniforms.kw;
    let i = k / (uniforms.outC * uniforms.kw);
    let ty = iy + uniforms.top - i * uniforms.dh;
    let tx = ix + uniforms.left - j * uniforms.dw;
    if (ty < 0 || tx < 0 || ty % uniforms.sh != 0 || tx % uniforms.sw != 0) { return 0.0; }
    let oy = ty / uniforms.sh;
    let ox = tx / uniforms.sw;
    if (oy >= uniforms.outH || ox >= uniforms.outW) { return 0.0; }
    return dy[((b * uniforms.outH + oy) * uniforms.outW + ox) * uniforms.outC + n];
  }
  fn loadB(k : i32, n : i32) -> f32 {
    if (n >= uniforms.N || k >= uniforms.K) { return 0.0; }
    let o = k % uniforms.outC;
    let tap = k / uniforms.outC;
    return W[(tap * uniforms.inC + n) * uniforms.outC + o];
  }`;

/** The three implicit GEMMs of a convolution: their sizes from its geometry, operands and loaders. */
const CONV_GEMMS = {
  forward: {
    size: (g: ConvGeometry) => ({ M: g.batch * g.outH * g.outW, N: g.outC, K: g.kh * g.kw * g.inC }),
    names: ['x', 'W'],
    loaders: im2colLoaders(false, 'W'),
  },
  filter_grad: {
    size: (g: ConvGeometry) => ({ M: g.kh * g.kw * g.inC, N: g.outC, K: g.batch * g.outH * g.outW }),
    names: ['x', 'dy'],
    loaders: im2colLoaders(true, 'dy'),
  },
  input_grad: {
    size: (g: ConvGeometry) => ({ M: g.batch * g.inH * g.inW, N: g.inC, K: g.kh * g.kw * g.outC }),
    names: ['dy', 'W'],
    loaders: INPUT_GRAD,
  },
};
export type ConvGemm = keyof typeof CONV_GEMMS;

/** M, N and K of one of a convolution's GEMMs. */
export const convGemmSize = (which: ConvGemm, g: ConvGeometry): GemmSize => CONV_GEMMS[which].size(g);

/** Runs GEMM `which` of the convolution of geometry `g` on `inputs` (in CONV_GEMMS' order). */
function convGemm(
  which: ConvGemm,
  backend: GpuBackend,
  g: ConvGeometry,
  inputs: tf.TensorInfo[],
  outShape: number[],
  epilogue: Pick<GemmSpec, 'bias' | 'activation'> = {},
): tf.TensorInfo {
  const { size, names, loaders } = CONV_GEMMS[which];
  return implicitGemm(backend, {
    ...size(g),
    key: `conv_${which}`,
    inputs,
    names,
    loaders,
    geometry: geometryUniforms(g),
    outShape,
    ...epilogue,
  });
}

interface ConvArgs {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: GpuBackend;
  attrs: ConvAttrs & Record<string, unknown>;
}

const nhwc = (attrs: ConvAttrs) => attrs.dataFormat == null || attrs.dataFormat === 'NHWC';
const floats = (...ts: (tf.TensorInfo | undefined)[]) => ts.every((t) => t == null || t.dtype === 'float32');

/** Conv2D / FusedConv2D (bias, linear / relu / relu6); null for anything else. */
export function convForward({ inputs, backend, attrs }: ConvArgs): tf.TensorInfo | null {
  const { x, filter, bias, preluActivationWeights } = inputs;
  const activation = (attrs.activation ?? 'linear') as string;
  if (!x || !filter || !nhwc(attrs) || preluActivationWeights || !['linear', 'relu', 'relu6'].includes(activation)) return null;
  if (!floats(x, filter, bias) || (bias && bias.shape.length > 1)) return null;
  const g = convGeometry(x.shape, filter.shape, attrs, false);
  if (bias && bias.shape.length === 1 && bias.shape[0] !== g.outC) return null;
  return convGemm('forward', backend, g, [x, filter], [g.batch, g.outH, g.outW, g.outC], {
    bias,
    activation: activation as Activation,
  });
}

/** Conv2DBackpropFilter; null for NCHW. */
export function convFilterGrad({ inputs, backend, attrs }: ConvArgs): tf.TensorInfo | null {
  const { x, dy } = inputs;
  if (!x || !dy || !nhwc(attrs) || !floats(x, dy)) return null;
  const filterShape = attrs.filterShape as number[];
  return convGemm('filter_grad', backend, convGeometry(x.shape, filterShape, attrs, false), [x, dy], filterShape);
}

/** Conv2DBackpropInput; null for NCHW. */
export function convInputGrad({ inputs, backend, attrs }: ConvArgs): tf.TensorInfo | null {
  const { dy, filter } = inputs;
  if (!dy || !filter || !nhwc(attrs) || !floats(dy, filter)) return null;
  const inputShape = attrs.inputShape as number[];
  return convGemm('input_grad', backend, convGeometry(inputShape, filter.shape, attrs, false), [dy, filter], inputShape);
}
