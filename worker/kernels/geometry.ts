/**
 * Convolution geometry shared by ringtune's gradient kernels: where each filter tap reads the
 * (padded) input, and the padding that turns an input gradient into a forward convolution.
 */
import * as tf from '@tensorflow/tfjs';

/** Attributes common to every convolution gradient kernel (tfjs names). */
export interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | 'explicit' | number[][];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: number | [number, number];
  explicitPaddings?: number[] | number[][];
}

/** Resolved geometry of one NHWC convolution (forward view). */
export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
  bottom: number;
  right: number;
}

/** tfjs passes explicit paddings either as [[0,0],[t,b],[l,r],[0,0]] or with pad 'explicit' + a flat list. */
function resolvePad(attrs: ConvAttrs): 'valid' | 'same' | number | number[][] {
  if (attrs.pad !== 'explicit') return attrs.pad as 'valid' | 'same' | number | number[][];
  const p = attrs.explicitPaddings;
  if (p == null) throw new Error(`conv gradient: pad 'explicit' needs explicitPaddings`);
  if (Array.isArray(p[0])) return p as number[][];
  const f = p as number[];
  return [
    [f[0], f[1]],
    [f[2], f[3]],
    [f[4], f[5]],
    [f[6], f[7]],
  ];
}

/** Geometry of conv(x: xShape NHWC, filter: filterShape HWIO or HWCM) as tfjs computes it. */
export function convGeometry(xShape: number[], filterShape: number[], attrs: ConvAttrs, depthwise: boolean): ConvGeometry {
  const dil = attrs.dilations ?? 1;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    dil,
    resolvePad(attrs) as 'same',
    attrs.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
  const p = info.padInfo;
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    top: p.top,
    left: p.left,
    bottom: p.bottom,
    right: p.right,
  };
}

/** Shape in NHWC order of a tensor given in `dataFormat`. */
export function toNhwcShape(shape: number[], dataFormat: string | undefined): number[] {
  return dataFormat === 'NCHW' ? [shape[0], shape[2], shape[3], shape[1]] : shape;
}

/**
 * Padding of the stride-dilated output gradient so that a stride-1 forward convolution with the
 * spatially flipped filter yields the input gradient. Negative values mean "crop".
 */
export function transposedPads(g: ConvGeometry): { top: number; bottom: number; left: number; right: number } {
  const dilatedH = (g.outH - 1) * g.sh + 1;
  const dilatedW = (g.outW - 1) * g.sw + 1;
  const top = (g.kh - 1) * g.dh - g.top;
  const left = (g.kw - 1) * g.dw - g.left;
  return { top, left, bottom: g.inH + g.top - dilatedH, right: g.inW + g.left - dilatedW };
}
