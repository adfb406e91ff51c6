/** Pure parts of the loader: RandomResizedCrop's choice, the flip draw, and the JS resampler against hand-computed values. */
import { Rng } from '../shared/rng';
import { augmentationFor, randomResizedCrop } from '../worker/data/augment';
import { axisTaps, makeNormalizer, normalizeInto, resampleInto } from '../worker/data/resample';

const identity = makeNormalizer([0, 0, 0], [1 / 255, 1 / 255, 1 / 255]); // v * 1 + 0

describe('randomResizedCrop', () => {
  test('crops stay inside the image with area and aspect ratio in range (up to rounding)', () => {
    const rng = new Rng(3);
    const bad: string[] = [];
    for (let t = 0; t < 2000; t++) {
      const w = 20 + rng.int(300);
      const h = 20 + rng.int(300);
      const c = randomResizedCrop(rng, w, h, { minScale: 0.35 });
      const slack = 2 / Math.min(c.width, c.height);
      const inside = c.left >= 0 && c.top >= 0 && c.left + c.width <= w && c.top + c.height <= h;
      const fallback = c.width === w || c.height === h;
      const areaOk = c.width * c.height >= 0.35 * w * h - (c.width + c.height + 1);
      const ratioOk = c.width / c.height > 0.75 * (1 - slack) && c.width / c.height < (4 / 3) * (1 + slack);
      if (!inside || (!fallback && !(areaOk && ratioOk))) bad.push(`${w}x${h}: ${JSON.stringify(c)}`);
    }
    expect(bad).toEqual([]);
  });

  test('when no try fits, the largest centred crop within the ratio range (fastai fallback)', () => {
    expect(randomResizedCrop(new Rng(1), 100, 10, { minScale: 0.9 })).toEqual({ left: 43, top: 0, width: 13, height: 10 });
    expect(randomResizedCrop(new Rng(1), 10, 100, { minScale: 0.9 })).toEqual({ left: 0, top: 43, width: 10, height: 13 });
    expect(randomResizedCrop(new Rng(1), 30, 30, { minScale: 1, ratio: [2, 3] })).toEqual({ left: 0, top: 7, width: 30, height: 15 });
  });

  test('minScale 1 on a square image always keeps the whole image', () => {
    for (let s = 0; s < 50; s++)
      expect(randomResizedCrop(new Rng(s), 28, 28, { minScale: 1 })).toEqual({ left: 0, top: 0, width: 28, height: 28 });
  });

  test('the area fraction spreads over [minScale, 1]', () => {
    const rng = new Rng(11);
    const fr = Array.from({ length: 500 }, () => {
      const c = randomResizedCrop(rng, 200, 200, { minScale: 0.1 });
      return (c.width * c.height) / 40000;
    });
    expect(Math.min(...fr)).toBeLessThan(0.15);
    expect(Math.max(...fr)).toBeGreaterThan(0.85);
  });
});

describe('augmentationFor', () => {
  const opts = { minScale: 0.35, flip: true };
  test('a pure function of (seed, epoch, index)', () => {
    expect(augmentationFor(1, 2, 3, 50, 40, opts)).toEqual(augmentationFor(1, 2, 3, 50, 40, opts));
    const variants = [
      augmentationFor(2, 2, 3, 50, 40, opts),
      augmentationFor(1, 3, 3, 50, 40, opts),
      augmentationFor(1, 2, 4, 50, 40, opts),
    ];
    for (const v of variants) expect(v).not.toEqual(augmentationFor(1, 2, 3, 50, 40, opts));
  });

  test('flips about half the samples, none when flip is off, with the same crops', () => {
    let flips = 0;
    let differ = 0;
    for (let i = 0; i < 2000; i++) {
      const a = augmentationFor(42, 0, i, 64, 64, opts);
      const b = augmentationFor(42, 0, i, 64, 64, { ...opts, flip: false });
      if (b.flip || JSON.stringify(b.crop) !== JSON.stringify(a.crop)) differ++;
      flips += a.flip ? 1 : 0;
    }
    expect(differ).toBe(0);
    expect(flips).toBeGreaterThan(900);
    expect(flips).toBeLessThan(1100);
  });
});

describe('resampleInto', () => {
  const grey = (vals: number[]) => Uint8Array.from(vals.flatMap((v) => [v, v, v]));
  const channel0 = (out: Float32Array) => Array.from(out).filter((_, i) => i % 3 === 0);

  test('same size, whole image: an exact copy; flipped: an exact mirror', () => {
    const src = Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => (i * 37) % 256);
    const out = new Float32Array(48);
    resampleInto(src, 4, { left: 0, top: 0, width: 4, height: 4 }, 4, false, identity, out, 0);
    expect(Array.from(out)).toEqual(Array.from(src));
    resampleInto(src, 4, { left: 0, top: 0, width: 4, height: 4 }, 4, true, identity, out, 0);
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 4; x++) for (let c = 0; c < 3; c++) expect(out[(y * 4 + x) * 3 + c]).toBe(src[(y * 4 + 3 - x) * 3 + c]);
  });

  test('upscaling 2 -> 4 is half-pixel bilinear with clamped edges: 0, 63.75, 191.25, 255', () => {
    const out = new Float32Array(4 * 4 * 3);
    resampleInto(grey([0, 255, 0, 255]), 2, { left: 0, top: 0, width: 2, height: 2 }, 4, false, identity, out, 0);
    expect(channel0(out).slice(0, 4)).toEqual([0, 63.75, 191.25, 255]);
    expect(channel0(out).slice(12, 16)).toEqual([0, 63.75, 191.25, 255]);
  });

  test('downscaling widens the triangle filter so every source pixel counts', () => {
    const taps = axisTaps(0, 4, 2);
    // Output 0 is centred at source 1.0 with radius 2: weights .75, .75, .25 (normalized by 1.75).
    expect(Array.from(taps.weights.subarray(0, 3)).map((w) => +w.toFixed(6))).toEqual([0.428571, 0.428571, 0.142857]);
    const out = new Float32Array(2 * 2 * 3);
    const row = [0, 100, 200, 255];
    resampleInto(grey([...row, ...row, ...row, ...row]), 4, { left: 0, top: 0, width: 4, height: 4 }, 2, false, identity, out, 0);
    expect(channel0(out)[0]).toBeCloseTo((100 * 0.75 + 200 * 0.25) / 1.75, 4);
  });

  test('crops read only inside the rectangle and write at the offset with normalization', () => {
    const w = 6;
    const src = grey([9, 9, 9, 9, 9, 9, 9, 50, 50, 9, 9, 9, 9, 50, 50, 9, 9, 9, 9, 9, 9, 9, 9, 9]); // 6 x 4, a 2 x 2 block of 50
    const norm = makeNormalizer([0.1, 0.2, 0.3], [0.5, 0.5, 0.5]);
    const out = new Float32Array(2 * 3 * 3 * 3).fill(-99);
    resampleInto(src, w, { left: 1, top: 1, width: 2, height: 2 }, 3, false, norm, out, 27);
    expect(out.subarray(0, 27).every((v) => v === -99)).toBe(true);
    for (let i = 27; i < 54; i++) expect(out[i]).toBeCloseTo((50 / 255 - [0.1, 0.2, 0.3][i % 3]) / 0.5, 5);
  });

  test('normalizeInto maps bytes and mirrors', () => {
    const out = new Float32Array(12);
    normalizeInto(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), 2, true, identity, out, 0);
    expect(Array.from(out)).toEqual([4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9]);
  });
});
