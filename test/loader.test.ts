/** BatchLoader on real files: shapes, normalization, conversions, centre crop, deterministic augmentation, errors. */
import { join } from 'path';
import sharp from 'sharp';
import type { Item } from '../shared/data/folders';
import { augmentationFor } from '../worker/data/augment';
import { decodeRgb } from '../worker/data/decode';
import { BatchLoader, type LoaderOptions } from '../worker/data/loader';
import { makeTemp, rgbPixels, rmTemp, writeImage, writeText, writeTruncatedPng, type FixtureKind } from './data-fixtures';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const base: LoaderOptions = { size: 16, mean: MEAN, std: STD, train: true, flip: true, minScale: 0.35, seed: 42 };
const norm = (v: number, c: number) => (v / 255 - MEAN[c]) / STD[c];
const unnorm = (x: number, c: number) => (x * STD[c] + MEAN[c]) * 255;

let tmp: string;
let items: Item[];
beforeAll(async () => {
  tmp = makeTemp('loader');
  items = [];
  for (let i = 0; i < 8; i++) {
    const f = `train/c${i % 2}/${i}.png`;
    await writeImage(
      join(tmp, f),
      'png',
      24,
      20,
      rgbPixels(24, 20, (x, y) => [(x * 10 + i * 7) % 256, (y * 12) % 256, (x * y + i) % 256]),
    );
    items.push({ file: f, label: i % 2 });
  }
});
afterAll(() => rmTemp(tmp));

/** Pixel (x, y) of sample k in a batch, denormalized back to 0..255. */
function pixelAt(x: Float32Array, size: number, k: number, px: number, py: number): number[] {
  const o = k * size * size * 3 + (py * size + px) * 3;
  return [0, 1, 2].map((c) => unnorm(x[o + c], c));
}

function sample(x: Float32Array, size: number, k: number): Float32Array {
  return x.subarray(k * size * size * 3, (k + 1) * size * size * 3);
}

/** Bitwise equality of two float arrays (jest's toEqual walks them element by element, slowly). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function mirror(s: Float32Array, size: number): Float32Array {
  const out = new Float32Array(s.length);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) out[(y * size + x) * 3 + c] = s[(y * size + size - 1 - x) * 3 + c];
  return out;
}

describe('shapes and normalization', () => {
  test('x is NHWC with 3 channels, y the labels in index order', async () => {
    const b = await new BatchLoader(tmp, items, base).load([3, 0, 5], 0);
    expect(b.n).toBe(3);
    expect(b.x).toHaveLength(3 * 16 * 16 * 3);
    expect(Array.from(b.y)).toEqual([1, 0, 1]);
    expect(b.x.every(Number.isFinite)).toBe(true);
  });

  test('a flat colour comes out as (v/255 - mean) / std in train and valid', async () => {
    const f = 'flat/a.png';
    await writeImage(
      join(tmp, f),
      'png',
      30,
      22,
      rgbPixels(30, 22, () => [10, 128, 250]),
    );
    for (const train of [true, false]) {
      for (const size of [16, 80]) {
        const b = await new BatchLoader(tmp, [{ file: f, label: 0 }], { ...base, train, size }).load([0], 3);
        const want = [norm(10, 0), norm(128, 1), norm(250, 2)];
        let worst = 0;
        for (let i = 0; i < b.x.length; i++) worst = Math.max(worst, Math.abs(b.x[i] - want[i % 3]));
        expect(worst).toBeLessThan(1e-5);
      }
    }
  });

  test('an empty index list gives an empty batch', async () => {
    const b = await new BatchLoader(tmp, items, base).load([], 0);
    expect(b.n).toBe(0);
    expect(b.x).toHaveLength(0);
  });
});

describe('conversion to 8-bit sRGB', () => {
  const colour: [number, number, number] = [200, 60, 30];
  const cases: [FixtureKind, string, number][] = [
    ['png', 'png', 0],
    ['jpeg', 'jpg', 4],
    ['rgba', 'png', 0],
    ['png16', 'png', 0],
    ['cmyk', 'jpg', 40],
  ];
  // CMYK goes through colour profiles both ways, so only its rough colour survives.
  test.each(cases)('%s keeps its colour', async (kind, ext, tol) => {
    const path = await writeImage(
      join(tmp, `conv/${kind}.${ext}`),
      kind,
      12,
      10,
      rgbPixels(12, 10, () => colour),
    );
    const px = await decodeRgb(path);
    expect([px.width, px.height, px.data.length]).toEqual([12, 10, 360]);
    for (let c = 0; c < 3; c++) expect(Math.abs(px.data[5 * 36 + 6 * 3 + c] - colour[c])).toBeLessThanOrEqual(tol);
  });

  test('grey becomes three equal channels', async () => {
    const path = await writeImage(
      join(tmp, 'conv/grey.png'),
      'grey',
      6,
      6,
      rgbPixels(6, 6, (x) => [x * 40, x * 40, x * 40]),
    );
    const px = await decodeRgb(path);
    expect(px.data.length).toBe(6 * 6 * 3);
    expect(Array.from(px.data.subarray(9, 12))).toEqual([120, 120, 120]);
  });

  test('EXIF orientation 6 is applied: a 16x8 image arrives 8x16, rotated 90 degrees clockwise', async () => {
    const pixels = rgbPixels(16, 8, (x) => (x < 8 ? [255, 0, 0] : [0, 0, 255]));
    const path = await writeImage(join(tmp, 'conv/exif6.jpg'), 'exif6', 16, 8, pixels);
    expect((await sharp(path).metadata()).orientation).toBe(6);
    const px = await decodeRgb(path);
    expect([px.width, px.height]).toEqual([8, 16]);
    // Clockwise: the left (red) half becomes the top, the right (blue) half the bottom.
    const at = (x: number, y: number) => Array.from(px.data.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3));
    expect(at(4, 2)[0]).toBeGreaterThan(200);
    expect(at(4, 13)[2]).toBeGreaterThan(200);
  });

  test('validation applies EXIF orientation before the centre crop', async () => {
    const pixels = rgbPixels(16, 8, (x) => (x < 8 ? [255, 0, 0] : [0, 0, 255]));
    await writeImage(join(tmp, 'conv/exif6v.jpg'), 'exif6', 16, 8, pixels);
    const b = await new BatchLoader(tmp, [{ file: 'conv/exif6v.jpg', label: 0 }], { ...base, train: false, size: 8 }).load([0], 0);
    // Upright it is 8 x 16, red above blue; the centre square keeps rows 4..11: red on top, blue below.
    expect(pixelAt(b.x, 8, 0, 4, 0)[0]).toBeGreaterThan(200);
    expect(pixelAt(b.x, 8, 0, 4, 7)[2]).toBeGreaterThan(200);
  });

  test('decoding keeps the full size: fastai crops the original image', async () => {
    const path = await writeImage(
      join(tmp, 'big/a.jpg'),
      'jpeg',
      400,
      300,
      rgbPixels(400, 300, (x, y) => [x % 256, y % 256, 0]),
    );
    const px = await decodeRgb(path);
    expect([px.width, px.height]).toEqual([400, 300]);
  });
});

describe('validation: squash the whole image to size + val_xtra, then centre crop', () => {
  test('a 40x20 red|green|blue image is squashed, not cut: all three stripes show at size 20', async () => {
    const f = 'valid/stripes.png';
    await writeImage(
      join(tmp, f),
      'png',
      40,
      20,
      rgbPixels(40, 20, (x) => (x < 10 ? [255, 0, 0] : x < 30 ? [0, 255, 0] : [0, 0, 255])),
    );
    const b = await new BatchLoader(tmp, [{ file: f, label: 0 }], { ...base, train: false, size: 20 }).load([0], 0);
    // 40 x 20 -> 28 x 28, window 4..23: output column x reads source columns around (x + 4.5) * 40 / 28.
    for (let y = 0; y < 20; y++) {
      expect(pixelAt(b.x, 20, 0, 0, y).map((v) => Math.round(v) + 0)).toEqual([255, 0, 0]);
      expect(pixelAt(b.x, 20, 0, 10, y).map((v) => Math.round(v) + 0)).toEqual([0, 255, 0]);
      expect(pixelAt(b.x, 20, 0, 19, y).map((v) => Math.round(v) + 0)).toEqual([0, 0, 255]);
    }
  });

  test('downscaled 80x40 -> 18, centre 10: the middle is green, and validation ignores epoch and flip', async () => {
    const f = 'valid/stripes80.png';
    await writeImage(
      join(tmp, f),
      'png',
      80,
      40,
      rgbPixels(80, 40, (x) => (x < 20 ? [255, 0, 0] : x < 60 ? [0, 255, 0] : [0, 0, 255])),
    );
    const loader = new BatchLoader(tmp, [{ file: f, label: 0 }], { ...base, train: false, size: 10 });
    const b = await loader.load([0], 0);
    for (let y = 0; y < 10; y++) for (let x = 2; x < 8; x++) expect(pixelAt(b.x, 10, 0, x, y)[1]).toBeGreaterThan(250);
    expect(sameBits((await loader.load([0], 5)).x, b.x)).toBe(true);
  });
});

describe('augmentation is a function of (seed, epoch, index)', () => {
  test('same arguments, fresh loaders, any batch composition: identical samples', async () => {
    const a = await new BatchLoader(tmp, items, base).load([1, 5, 6], 2);
    const b = await new BatchLoader(tmp, items, { ...base, cacheBytes: 0 }).load([5], 2);
    const c = await new BatchLoader(tmp, items, base).load([7, 5], 2);
    expect(sameBits(sample(b.x, 16, 0), sample(a.x, 16, 1))).toBe(true);
    expect(sameBits(sample(c.x, 16, 1), sample(a.x, 16, 1))).toBe(true);
  });

  test('another epoch or seed changes the crop', async () => {
    const loader = new BatchLoader(tmp, items, base);
    const e0 = await loader.load([0, 1, 2, 3], 0);
    const e1 = await loader.load([0, 1, 2, 3], 1);
    const s1 = await new BatchLoader(tmp, items, { ...base, seed: 43 }).load([0, 1, 2, 3], 0);
    expect(sameBits(e1.x, e0.x)).toBe(false);
    expect(sameBits(s1.x, e0.x)).toBe(false);
  });

  test.each([16, 96])('flip mirrors exactly the samples augmentationFor says (size %i)', async (size) => {
    const opts = { ...base, size }; // the crop is drawn before the flip, so both loaders crop alike
    const idx = [0, 1, 2, 3, 4, 5, 6, 7];
    const flipped = await new BatchLoader(tmp, items, opts).load(idx, 4);
    const plain = await new BatchLoader(tmp, items, { ...opts, flip: false }).load(idx, 4);
    let nFlipped = 0;
    for (const k of idx) {
      const aug = augmentationFor(opts.seed, 4, k, 24, 20, { minScale: opts.minScale, flip: true });
      const expected = aug.flip ? mirror(sample(plain.x, size, k), size) : sample(plain.x, size, k);
      expect(sameBits(sample(flipped.x, size, k), expected)).toBe(true);
      nFlipped += aug.flip ? 1 : 0;
    }
    expect(nFlipped).toBeGreaterThan(0);
    expect(nFlipped).toBeLessThan(idx.length);
  });

  test('the sharp path (size > 64) is deterministic too and independent of the cache', async () => {
    const opts = { ...base, size: 96 };
    const a = await new BatchLoader(tmp, items, opts).load([2, 3], 1);
    const b = await new BatchLoader(tmp, items, { ...opts, cacheBytes: 0 }).load([3, 2], 1);
    expect(sameBits(sample(b.x, 96, 0), sample(a.x, 96, 1))).toBe(true);
  });
});

describe('cache and prefetch', () => {
  test('decoded pixels are cached up to the budget', async () => {
    const cached = new BatchLoader(tmp, items, base);
    await cached.load([0, 1, 2], 0);
    expect(cached.cacheSize).toBe(3 * 24 * 20 * 3);
    await cached.load([0, 1, 2], 1);
    expect(cached.cacheSize).toBe(3 * 24 * 20 * 3);
    const small = new BatchLoader(tmp, items, { ...base, cacheBytes: 2000 });
    await small.load([0, 1, 2], 0);
    expect(small.cacheSize).toBe(24 * 20 * 3);
  });

  test('prefetch then load returns the same batch as a plain load', async () => {
    const loader = new BatchLoader(tmp, items, base);
    loader.prefetch([4, 2], 3);
    const got = await loader.load([4, 2], 3);
    const fresh = await new BatchLoader(tmp, items, base).load([4, 2], 3);
    expect(sameBits(got.x, fresh.x)).toBe(true);
    expect(Array.from(got.y)).toEqual([0, 0]);
  });
});

describe('errors name the file', () => {
  let bad: Item[];
  beforeAll(async () => {
    await writeTruncatedPng(join(tmp, 'bad/cut.png'));
    writeText(join(tmp, 'bad/text.jpg'));
    bad = [items[0], { file: 'bad/cut.png', label: 0 }, { file: 'bad/text.jpg', label: 1 }, { file: 'bad/missing.png', label: 1 }];
  });

  test.each([
    [1, 'bad/cut.png'],
    [2, 'bad/text.jpg'],
    [3, 'bad/missing.png'],
  ])('sample %i: %s', async (i, file) => {
    for (const train of [true, false]) {
      await expect(new BatchLoader(tmp, bad, { ...base, train }).load([0, i as number], 0)).rejects.toThrow(
        `cannot decode image ${join(tmp, file as string)}`,
      );
    }
  });

  test('a failed prefetch surfaces at load, not as an unhandled rejection', async () => {
    const loader = new BatchLoader(tmp, bad, base);
    loader.prefetch([2], 0);
    await new Promise((r) => setTimeout(r, 50));
    await expect(loader.load([2], 0)).rejects.toThrow('text.jpg');
  });

  test('out-of-range indices and bad options', async () => {
    await expect(new BatchLoader(tmp, items, base).load([8], 0)).rejects.toThrow('sample index 8 is out of range: this loader has 8 items');
    expect(() => new BatchLoader(tmp, items, { ...base, size: 0 })).toThrow(/size must be a positive integer/);
    expect(() => new BatchLoader(tmp, items, { ...base, mean: [0.5] })).toThrow(/mean and std need 3 values/);
    expect(() => new BatchLoader(tmp, items, { ...base, std: [1, 0, 1] })).toThrow(/std values must be > 0/);
    expect(() => new BatchLoader(tmp, items, { ...base, minScale: 0 })).toThrow(/minScale must be in \(0, 1\]/);
  });
});
