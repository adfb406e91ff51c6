/** Pure parts of the loader: RandomResizedCrop's choice, the flip draw, the validation squash + centre crop, and the Pillow-exact resampler against hand-computed values. */
import { Rng } from '../shared/rng';
import { augmentationFor, randomResizedCrop, roundHalfEven, validationPlan, validationResize } from '../worker/data/augment';
import { bilinearTaps, makeNormalizer, normalizeInto, resizeCropRgb } from '../worker/data/resample';

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

describe('resizeCropRgb (Pillow-exact bilinear)', () => {
  const grey = (vals: number[]) => Uint8Array.from(vals.flatMap((v) => [v, v, v]));
  const channel0 = (bytes: Uint8Array) => Array.from(bytes).filter((_, i) => i % 3 === 0);
  const whole = (w: number, h: number, to: number, flip = false) => ({
    crop: { left: 0, top: 0, width: w, height: h },
    resizeTo: to,
    window: { left: 0, top: 0, size: to },
    flip,
  });

  test('same size, whole image: an exact copy; flipped: an exact mirror', () => {
    const src = Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => (i * 37) % 256);
    expect(Array.from(resizeCropRgb(src, 4, whole(4, 4, 4)))).toEqual(Array.from(src));
    const m = resizeCropRgb(src, 4, whole(4, 4, 4, true));
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 4; x++) for (let c = 0; c < 3; c++) expect(m[(y * 4 + x) * 3 + c]).toBe(src[(y * 4 + 3 - x) * 3 + c]);
  });

  test('upscaling 2 -> 4: the edge outputs see one pixel, the inner ones .75/.25, each pass rounded to a byte', () => {
    // Row 0 [0, 255] -> [0, 63.75, 191.25, 255] -> bytes [0, 64, 191, 255] (Pillow adds 0.5 and floors).
    // Row 1 of the output is .75 * row 0 + .25 * row 1 of that intermediate, rounded again.
    const out = channel0(resizeCropRgb(grey([0, 255, 255, 0]), 2, whole(2, 2, 4)));
    expect(out).toEqual([0, 64, 191, 255, 64, 96, 159, 191, 191, 159, 96, 64, 255, 191, 64, 0]);
  });

  test('downscaling 4 -> 2 widens the triangle to radius 2: weights .75 .75 .25 / 1.75', () => {
    const taps = bilinearTaps(4, 2);
    expect(Array.from(taps.count)).toEqual([3, 3]);
    expect(Array.from(taps.first)).toEqual([0, 1]);
    // 3/7 and 1/7 in 22-bit fixed point; they sum to exactly 1 << 22.
    expect(Array.from(taps.weights.subarray(0, 3))).toEqual([1797559, 1797559, 599186]);
    const row = [0, 100, 200, 255];
    // (100 * .75 + 200 * .25) / 1.75 = 71.43 -> 71; (100 * .25 + (200 + 255) * .75) / 1.75 = 209.29 -> 209.
    expect(channel0(resizeCropRgb(grey([...row, ...row, ...row, ...row]), 4, whole(4, 4, 2)))).toEqual([71, 209, 71, 209]);
  });

  test('a crop is resized on its own: pixels outside it never leak in', () => {
    const w = 6;
    const src = grey([9, 9, 9, 9, 9, 9, 9, 50, 50, 9, 9, 9, 9, 50, 50, 9, 9, 9, 9, 9, 9, 9, 9, 9]); // 6 x 4, a 2 x 2 block of 50
    const plan = { crop: { left: 1, top: 1, width: 2, height: 2 }, resizeTo: 3, window: { left: 0, top: 0, size: 3 }, flip: false };
    expect(channel0(resizeCropRgb(src, w, plan))).toEqual(new Array(9).fill(50));
  });

  test('normalize tables: fastai float32 (v / 255 - mean) / std', () => {
    const norm = makeNormalizer([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
    const f = Math.fround;
    const out = new Float32Array(6);
    normalizeInto(Uint8Array.from([0, 128, 255, 7, 8, 9]), norm, out, 0);
    const want = [0, 128, 255, 7, 8, 9].map((v, i) => f(f(f(v / 255) - f([0.485, 0.456, 0.406][i % 3])) / f([0.229, 0.224, 0.225][i % 3])));
    expect(Array.from(out)).toEqual(want);
  });
});

describe('validation: squash to size + val_xtra, keep the centre (fastai RandomResizedCrop, split_idx 1)', () => {
  test('the extra margin is ceil(size * 0.14 / 8) * 8', () => {
    expect([4, 28, 32, 64, 224].map((s) => validationResize(s))).toEqual([12, 36, 40, 80, 256]);
  });

  test('an 8 x 4 image is squashed to 12 x 12 and its centre 4 x 4 kept', () => {
    const plan = validationPlan(8, 4, 4);
    expect(plan).toEqual({
      crop: { left: 0, top: 0, width: 8, height: 4 },
      resizeTo: 12,
      window: { left: 4, top: 4, size: 4 },
      flip: false,
    });
    // Columns 4..7 of an 8 -> 12 resize (scale 2/3) sit at source 3, 3.67, 4.33, 5: weights .5/.5 of
    // pixels 2,3; 5/6 and 1/6 of 3,4; 1/6 and 5/6 of 3,4; .5/.5 of 4,5. Rows are all alike, so the
    // vertical 4 -> 12 stretch leaves the values alone.
    const row = [0, 0, 10, 20, 100, 200, 0, 0];
    const src = Uint8Array.from([...row, ...row, ...row, ...row].flatMap((v) => [v, v, v]));
    const out = Array.from(resizeCropRgb(src, 8, plan)).filter((_, i) => i % 3 === 0);
    expect(out).toEqual([15, 33, 87, 150, 15, 33, 87, 150, 15, 33, 87, 150, 15, 33, 87, 150]);
  });

  test('a 28 px digit is scored at the zoom of an average training crop: 28 -> 36, centre 28', () => {
    const plan = validationPlan(28, 28, 28);
    expect([plan.resizeTo, plan.window.left, plan.window.top]).toEqual([36, 4, 4]);
  });
});

describe('roundHalfEven (Python round)', () => {
  test('halves go to the even neighbour, everything else to the nearest', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001, 7].map(roundHalfEven)).toEqual([0, 2, 2, 4, 2, 3, 7]);
  });
});
