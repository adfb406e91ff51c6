/**
 * Training augmentation as pure functions of (seed, epoch, sample index) and the image size:
 * fastai's RandomResizedCrop choice of crop plus a horizontal flip with p = 0.5. Because the
 * random state depends on nothing else, a sample looks the same whichever worker loads it.
 */
import { Rng, mixSeed } from '../../shared/rng';

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
    const width = Math.round(Math.sqrt(area * ratio));
    const height = Math.round(Math.sqrt(area / ratio));
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
