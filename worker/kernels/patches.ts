/**
 * Reshaping helpers for the gradient kernels: the input window a filter gradient reads, and the
 * zero-inserted, padded output gradient an input gradient convolves.
 */
import * as tf from '@tensorflow/tfjs';
import { ConvGeometry } from './geometry';

type Pad4 = [[0, 0], [number, number], [number, number], [0, 0]];

/**
 * The input of the filter-gradient convolution: x cropped to the rows/cols some tap reads, and the
 * explicit padding that puts tap (0, 0) of output pixel (0, 0) at index 0.
 */
export function filterGradOperands(x: tf.Tensor4D, g: ConvGeometry): { input: tf.Tensor4D; pad: Pad4 } {
  const needH = (g.outH - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const needW = (g.outW - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  const bottom = needH - g.inH - g.top;
  const right = needW - g.inW - g.left;
  let input = x;
  if (bottom < 0 || right < 0) {
    input = tf.slice(x, [0, 0, 0, 0], [-1, g.inH + Math.min(0, bottom), g.inW + Math.min(0, right), -1]);
  }
  return {
    input,
    pad: [
      [0, 0],
      [g.top, Math.max(0, bottom)],
      [g.left, Math.max(0, right)],
      [0, 0],
    ],
  };
}

/** Zero-inserts `s-1` rows/cols between the rows/cols of dy, then pads (or crops) it to `pads`. */
export function dilateAndPad(
  dy: tf.Tensor4D,
  sh: number,
  sw: number,
  pads: { top: number; bottom: number; left: number; right: number },
): { t: tf.Tensor4D; pad: Pad4 } {
  const [b, h, w, c] = dy.shape;
  let t = dy;
  let bottom = pads.bottom;
  let right = pads.right;
  if (sh > 1 || sw > 1) {
    const spread = tf.pad(tf.reshape(dy, [b, h, 1, w, 1, c]), [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    t = tf.reshape(spread, [b, h * sh, w * sw, c]);
    bottom -= sh - 1;
    right -= sw - 1;
  }
  const cropTop = Math.max(0, -pads.top);
  const cropLeft = Math.max(0, -pads.left);
  const cropBottom = Math.max(0, -bottom);
  const cropRight = Math.max(0, -right);
  if (cropTop || cropLeft || cropBottom || cropRight) {
    t = tf.slice(t, [0, cropTop, cropLeft, 0], [-1, t.shape[1] - cropTop - cropBottom, t.shape[2] - cropLeft - cropRight, -1]);
  }
  return {
    t,
    pad: [
      [0, 0],
      [Math.max(0, pads.top), Math.max(0, bottom)],
      [Math.max(0, pads.left), Math.max(0, right)],
      [0, 0],
    ],
  };
}
