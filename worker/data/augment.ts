/**
 * fastai's RandomResizedCrop item transform as pure functions of (seed, epoch, sample index) and
 * the image size, plus a horizontal flip with p = 0.5 for training. Because the random state
 * depends on nothing else, a sample looks the same whichever worker loads it.
 *
 * Training: a random crop (area fraction and log-uniform aspect ratio, fastai's sampling) resized
 * to size x size. Validation and inference: the whole image squashed to size + extra (fastai's
 * val_xtra margin) then the centre size x size, so objects appear at the zoom training saw.
 * Both crops lie inside the image, so crop_pad's padding never applies.
 */
import { Rng, mixSeed } from '../../shared/rng';
import type { ResizeCrop } from './resample';

/** A crop in source pixels (integers, inside the image). */
export interface CropRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** What to do to one training sample. */
export interface Augmentation {
  crop: CropRect;
  flip: boolean;
}

/** RandomResizedCrop's settings: area fraction in [minScale, maxScale], aspect ratio range. */
export interface CropOptions {
  minScale: number;
  maxScale?: number;
  ratio?: [number, number];
}

/**
 * fastai's RandomResizedCrop crop: up to 10 tries of a random area fraction and log-uniform
 * aspect ratio that fit in the image, placed uniformly; otherwise the largest centred crop
 * whose aspect ratio is within range.
 */
export function randomResizedCrop(rng: Rng, w: number, h: number, opts: CropOptions): CropRect {
  const maxScale = opts.maxScale ?? 1;
  const [rLo, rHi] = opts.ratio ?? [3 / 4, 4 / 3];
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = rng.uniform(opts.minScale, maxScale) * w * h;
    const ratio = Math.exp(rng.uniform(Math.log(rLo), Math.log(rHi)));
    const width = roundHalfEven(Math.sqrt(area * ratio));
    const height = roundHalfEven(Math.sqrt(area / ratio));
    if (width >= 1 && height >= 1 && width <= w && height <= h) {
      return { left: rng.int(w - width + 1), top: rng.int(h - height + 1), width, height };
    }
  }
  let width = w;
  let height = h;
  if (w / h < rLo) height = Math.max(1, Math.floor(w / rLo));
  else if (w / h > rHi) width = Math.max(1, Math.floor(h * rHi));
  return { left: Math.floor((w - width) / 2), top: Math.floor((h - height) / 2), width, height };
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** fastai's RandomResizedCrop val_xtra: the validation resize adds ceil(size * 0.14 / 8) * 8 pixels. */
export const VAL_XTRA = 0.14;

/** The side the validation resize squashes an image to before its centre crop: 28 -> 36, 224 -> 256. */
export function validationResize(size: number, valXtra = VAL_XTRA): number {
  return size + Math.ceil((size * valXtra) / 8) * 8;
}

/** RandomResizedCrop on the validation split (and at inference): squash the whole w x h image, keep the centre. */
export function validationPlan(w: number, h: number, size: number): ResizeCrop {
  const resizeTo = validationResize(size);
  const margin = Math.floor((resizeTo - size) / 2);
  return { crop: { left: 0, top: 0, width: w, height: h }, resizeTo, window: { left: margin, top: margin, size }, flip: false };
}

/** RandomResizedCrop (+ flip) on the training split: the random crop, squashed to size x size. */
export function trainingPlan(aug: Augmentation, size: number): ResizeCrop {
  return { crop: aug.crop, resizeTo: size, window: { left: 0, top: 0, size }, flip: aug.flip };
}

/** The crop and flip of sample `index` in `epoch`: a pure function of its arguments. */
export function augmentationFor(
  seed: number,
  epoch: number,
  index: number,
  w: number,
  h: number,
  opts: CropOptions & { flip: boolean },
): Augmentation {
  const rng = new Rng(mixSeed(seed, epoch, index));
  const crop = randomResizedCrop(rng, w, h, opts);
  const flip = opts.flip && rng.next() < 0.5;
  return { crop, flip };
}
