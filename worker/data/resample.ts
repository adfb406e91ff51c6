/**
 * The pixel work of fastai's item transforms, in plain JS: crop, resize with Pillow's bilinear
 * filter (what fastai's `crop_pad(..., resize_to=...)` calls through `PIL.Image.resize`), keep a
 * window of the result (the validation centre crop), mirror, normalize into a batch.
 *
 * Note [Pillow-exact resize]: the resize reproduces Pillow's 8-bit resampler bit for bit. Weights
 * are the triangle filter in double precision, widened by the scale when shrinking (so every
 * source pixel counts, an antialiased bilinear), normalized per output pixel, then rounded to
 * 22-bit fixed point; a horizontal pass over the rows the vertical pass needs is rounded to bytes,
 * then the vertical pass is rounded to bytes again. Only the output pixels inside the window are
 * computed: each depends on its own weights alone, so they equal those of the full resize.
 */
import type { CropRect } from './augment';

/** Per-channel byte -> float tables: fastai's IntToFloatTensor (v / 255) then Normalize ((x - mean) / std), in float32. */
export interface Normalizer {
  lut: Float32Array;
}

/** Builds the byte -> float tables for these channel means and standard deviations. */
export function makeNormalizer(mean: number[], std: number[]): Normalizer {
  const lut = new Float32Array(3 * 256);
  const f = Math.fround;
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(f(v / 255) - f(mean[c])) / f(std[c]));
  return { lut };
}

/** Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Source taps of some output positions along one axis: first source index, count, fixed-point weights (stride `taps`). */
export interface AxisTaps {
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  taps: number;
}

/**
 * Pillow's bilinear taps resizing `inSize` pixels to `outSize`, for output positions
 * [from, to) (entry o - from), with the same double arithmetic as its precompute_coeffs.
 */
export function bilinearTaps(inSize: number, outSize: number, from = 0, to = outSize): AxisTaps {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filterscale;
  const taps = Math.ceil(support) * 2 + 1;
  const n = to - from;
  const first = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Int32Array(n * taps);
  const w = new Float64Array(taps);
  const ss = 1 / filterscale;
  for (let xx = from; xx < to; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const d = Math.abs((x + xmin - center + 0.5) * ss);
      w[x] = d < 1 ? 1 - d : 0;
      ww += w[x];
    }
    const row = (xx - from) * taps;
    for (let x = 0; x < xmax; x++) weights[row + x] = Math.trunc(0.5 + (ww !== 0 ? w[x] / ww : w[x]) * ONE);
    first[xx - from] = xmin;
    count[xx - from] = xmax;
  }
  return { first, count, weights, taps };
}

/** Pillow's clip8: a fixed-point sum back to a byte. */
function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * One RGB pixel of a resize pass, written at `to[at]`: with no taps (this axis keeps its size) a copy
 * of the pixel at `from[p]`; else Pillow's fixed-point sum of output position `o`'s taps, the first
 * at `p` and the next ones `step` bytes apart.
 */
function resamplePixel(
  bytes: { from: Uint8Array; to: Uint8Array },
  p: number,
  step: number,
  taps: AxisTaps | null,
  o: number,
  at: number,
): void {
  const { from, to } = bytes;
  if (!taps) {
    to[at] = from[p];
    to[at + 1] = from[p + 1];
    to[at + 2] = from[p + 2];
    return;
  }
  let a = HALF;
  let b = HALF;
  let c = HALF;
  const k0 = o * taps.taps;
  for (let k = 0; k < taps.count[o]; k++, p += step) {
    const wt = taps.weights[k0 + k];
    a += from[p] * wt;
    b += from[p + 1] * wt;
    c += from[p + 2] * wt;
  }
  to[at] = clip8(a);
  to[at + 1] = clip8(b);
  to[at + 2] = clip8(c);
}

/**
 * What one item transform does to a w x h image: cut `crop` out of it, resize that to
 * `resizeTo` x `resizeTo`, keep the `window` (size x size at left, top) of the result, mirror it when `flip`.
 */
export interface ResizeCrop {
  crop: CropRect;
  resizeTo: number;
  window: { left: number; top: number; size: number };
  flip: boolean;
}

/** The output bytes (size x size x 3, HWC) of `plan` applied to the RGB image `src` of width `srcWidth`. */
export function resizeCropRgb(src: Uint8Array, srcWidth: number, plan: ResizeCrop): Uint8Array {
  const { crop, resizeTo, window: win, flip } = plan;
  const size = win.size;
  const out = new Uint8Array(size * size * 3);
  const sameX = crop.width === resizeTo;
  const sameY = crop.height === resizeTo;
  const xs = sameX ? null : bilinearTaps(crop.width, resizeTo, win.left, win.left + size);
  const ys = sameY ? null : bilinearTaps(crop.height, resizeTo, win.top, win.top + size);
  // Rows of the crop the vertical pass reads (all of the window's rows when there is no vertical pass).
  const rowFirst = ys ? ys.first[0] : win.top;
  const rowEnd = ys ? ys.first[size - 1] + ys.count[size - 1] : win.top + size;
  const rows = rowEnd - rowFirst;
  // Horizontal pass: crop rows -> the window's columns, rounded to bytes (Pillow's intermediate image).
  const mid = new Uint8Array(rows * size * 3);
  const horizontal = { from: src, to: mid };
  for (let r = 0; r < rows; r++) {
    const rowBase = ((crop.top + rowFirst + r) * srcWidth + crop.left) * 3;
    for (let o = 0; o < size; o++) {
      const p = rowBase + (xs ? xs.first[o] : win.left + o) * 3;
      resamplePixel(horizontal, p, 3, xs, o, (r * size + o) * 3);
    }
  }
  // Vertical pass: the window's rows, rounded to bytes, mirrored when asked.
  const stride = size * 3;
  const vertical = { from: mid, to: out };
  for (let oy = 0; oy < size; oy++) {
    const rowStart = (ys ? ys.first[oy] : win.top + oy) - rowFirst;
    for (let ox = 0; ox < size; ox++) {
      resamplePixel(vertical, rowStart * stride + ox * 3, stride, ys, oy, (oy * size + (flip ? size - 1 - ox : ox)) * 3);
    }
  }
  return out;
}

/** Writes RGB bytes (HWC) through the normalizer's tables into `out` at `offset`. */
export function normalizeInto(bytes: Uint8Array, norm: Normalizer, out: Float32Array, offset: number): void {
  const { lut } = norm;
  for (let i = 0; i < bytes.length; i += 3) {
    out[offset + i] = lut[bytes[i]];
    out[offset + i + 1] = lut[256 + bytes[i + 1]];
    out[offset + i + 2] = lut[512 + bytes[i + 2]];
  }
}
