/** Scanning image folders: layouts, sorting, seeded split, verification and error messages. */
import { mkdirSync, writeFileSync } from 'fs';
import sharp from 'sharp';
import { join } from 'path';
import { describeSkipped, scanImageFolders } from '../shared/data/folders';
import { randomSplit } from '../shared/data/split';
import { imageProblem, truncationReason } from '../shared/data/image-files';
import { readPixelRows } from '../shared/data/json-pixels';
import { makeTemp, rgbPixels, rmTemp, writeImage, writeText, writeTruncatedPng } from './data-fixtures';

const px = rgbPixels(8, 8, (x, y) => [x * 30, y * 30, 128]);
let tmp: string;
beforeEach(() => {
  tmp = makeTemp('data');
});
afterEach(() => rmTemp(tmp));

async function writeClass(dir: string, names: string[], kind: 'png' | 'jpeg' = 'png') {
  for (const n of names) await writeImage(join(dir, n), kind, 8, 8, px);
}

describe('train/valid layout', () => {
  test('classes and items are sorted by code point, labels index the class list, paths are relative with /', async () => {
    await writeClass(join(tmp, 'train', 'dog'), ['b.png', 'a.png', '10.jpg']);
    await writeClass(join(tmp, 'train', 'Cat'), ['x.png']);
    await writeClass(join(tmp, 'train', 'ant'), ['2.png', '1.png']);
    await writeClass(join(tmp, 'valid', 'dog'), ['v.png']);
    await writeClass(join(tmp, 'valid', 'ant'), ['w.png']);
    const ds = await scanImageFolders(tmp, {});
    expect(ds.root).toBe(tmp);
    expect(ds.classes).toEqual(['Cat', 'ant', 'dog']);
    expect(ds.train).toEqual([
      { file: 'train/Cat/x.png', label: 0 },
      { file: 'train/ant/1.png', label: 1 },
      { file: 'train/ant/2.png', label: 1 },
      { file: 'train/dog/10.jpg', label: 2 },
      { file: 'train/dog/a.png', label: 2 },
      { file: 'train/dog/b.png', label: 2 },
    ]);
    expect(ds.valid).toEqual([
      { file: 'valid/ant/w.png', label: 1 },
      { file: 'valid/dog/v.png', label: 2 },
    ]);
    expect(ds.skipped).toEqual([]);
  });

  test('non-image files, sub-folders and hidden files are left out; only the first two are reported', async () => {
    await writeClass(join(tmp, 'train', 'a'), ['1.png']);
    writeText(join(tmp, 'train', 'a', 'notes.txt'));
    writeText(join(tmp, 'train', 'a', '.DS_Store'));
    mkdirSync(join(tmp, 'train', 'a', 'nested'));
    await writeClass(join(tmp, 'valid', 'a'), ['2.png']);
    const ds = await scanImageFolders(tmp, {});
    expect(ds.train.map((i) => i.file)).toEqual(['train/a/1.png']);
    expect(ds.skipped).toEqual([
      { file: 'train/a/nested', reason: 'not a file (sub-folders are not scanned)' },
      { file: 'train/a/notes.txt', reason: 'not an image file extension' },
    ]);
  });

  test('a valid class that train lacks is an error naming it', async () => {
    await writeClass(join(tmp, 'train', 'a'), ['1.png']);
    await writeClass(join(tmp, 'valid', 'zebra'), ['1.png']);
    await expect(scanImageFolders(tmp, {})).rejects.toThrow(/valid has class folders that train\/ lacks: zebra/);
  });
});

describe('single folder split by validPct', () => {
  beforeEach(async () => {
    await writeClass(
      join(tmp, 'a'),
      Array.from({ length: 12 }, (_, i) => `${i}.png`),
    );
    await writeClass(
      join(tmp, 'b'),
      Array.from({ length: 8 }, (_, i) => `${i}.png`),
    );
  });

  test('valid gets floor(pct * n) items, the parts are disjoint, cover everything and stay sorted', async () => {
    const ds = await scanImageFolders(tmp, { validPct: 0.25, seed: 7 });
    expect(ds.classes).toEqual(['a', 'b']);
    expect(ds.valid).toHaveLength(5);
    expect(ds.train).toHaveLength(15);
    const all = [...ds.train, ...ds.valid].map((i) => i.file).sort();
    expect(new Set(all).size).toBe(20);
    const sorted = (xs: string[]) => [...xs].sort((p, q) => (p < q ? -1 : p > q ? 1 : 0));
    expect(ds.train.map((i) => i.file)).toEqual(sorted(ds.train.map((i) => i.file)));
    for (const it of [...ds.train, ...ds.valid]) expect(it.label).toBe(it.file.startsWith('a/') ? 0 : 1);
  });

  test('the split is a function of the seed', async () => {
    const a = await scanImageFolders(tmp, { validPct: 0.3, seed: 1 });
    const b = await scanImageFolders(tmp, { validPct: 0.3, seed: 1 });
    const c = await scanImageFolders(tmp, { validPct: 0.3, seed: 2 });
    expect(b.valid).toEqual(a.valid);
    expect(c.valid).not.toEqual(a.valid);
  });

  test("defaults are fastai's: 20% with seed 42", async () => {
    const d = await scanImageFolders(tmp, {});
    const e = await scanImageFolders(tmp, { validPct: 0.2, seed: 42 });
    expect(d.valid).toHaveLength(4);
    expect(d.valid).toEqual(e.valid);
  });

  test('a bad validPct is refused', async () => {
    await expect(scanImageFolders(tmp, { validPct: 1.5 })).rejects.toThrow(/validPct must be in \(0, 1\), got 1.5/);
  });
});

describe('verify', () => {
  test('corrupt, truncated and fake images are skipped with reasons; odd formats pass', async () => {
    const cls = join(tmp, 'train', 'c');
    for (const kind of ['png', 'jpeg', 'grey', 'rgba', 'png16', 'cmyk', 'exif6'] as const) {
      await writeImage(join(cls, `${kind}.${kind === 'jpeg' || kind === 'cmyk' || kind === 'exif6' ? 'jpg' : 'png'}`), kind, 8, 8, px);
    }
    await writeTruncatedPng(join(cls, 'cut.png'));
    writeText(join(cls, 'fake.jpg'), 'hello, I am text');
    writeText(join(cls, 'readme.txt'));
    await writeClass(join(tmp, 'valid', 'c'), ['ok.png']);

    const plain = await scanImageFolders(tmp, {});
    expect(plain.train.map((i) => i.file)).toContain('train/c/cut.png');
    expect(plain.train.map((i) => i.file)).toContain('train/c/fake.jpg');

    const ds = await scanImageFolders(tmp, { verify: true });
    expect(ds.train.map((i) => i.file.split('/')[2])).toEqual([
      'cmyk.jpg',
      'exif6.jpg',
      'grey.png',
      'jpeg.jpg',
      'png.png',
      'png16.png',
      'rgba.png',
    ]);
    const reasons = Object.fromEntries(ds.skipped.map((s) => [s.file, s.reason]));
    expect(reasons['train/c/cut.png']).toMatch(/truncated PNG/);
    expect(reasons['train/c/fake.jpg']).toMatch(/not a readable image/);
    expect(reasons['train/c/readme.txt']).toMatch(/not an image file extension/);
    expect(describeSkipped(ds.skipped)).toMatch(/^3 files skipped: .*train\/c\/cut\.png \(truncated PNG/);
  });

  test('files over 1 MB are checked by header and tail: a cut-off big JPEG is caught', async () => {
    const n = 1200;
    const noise = rgbPixels(n, n, (x, y) => [(x * 7919 + y * 104729) % 251, (x * y) % 253, (x ^ y) & 255]);
    const big = await sharp(noise, { raw: { width: n, height: n, channels: 3 } })
      .jpeg({ quality: 100 })
      .toBuffer();
    expect(big.length).toBeGreaterThan(1 << 20);
    mkdirSync(join(tmp, 'train', 'c'), { recursive: true });
    writeFileSync(join(tmp, 'train', 'c', 'whole.jpg'), big);
    writeFileSync(join(tmp, 'train', 'c', 'cut.jpg'), big.subarray(0, big.length - 4096));
    await writeClass(join(tmp, 'valid', 'c'), ['ok.png']);
    const ds = await scanImageFolders(tmp, { verify: true });
    expect(ds.train.map((i) => i.file)).toEqual(['train/c/whole.jpg']);
    expect(ds.skipped).toEqual([{ file: 'train/c/cut.jpg', reason: 'truncated JPEG (no end-of-image marker)' }]);
  });

  test('a class folder whose every image is unreadable is an error with the count', async () => {
    await writeClass(join(tmp, 'train', 'good'), ['1.png']);
    writeText(join(tmp, 'train', 'bad', 'x.png'));
    writeText(join(tmp, 'train', 'bad', 'y.png'));
    await writeClass(join(tmp, 'valid', 'good'), ['1.png']);
    await expect(scanImageFolders(tmp, { verify: true })).rejects.toThrow(
      `class folder ${join(tmp, 'train', 'bad')} has no readable images (2 skipped)`,
    );
  });
});

describe('errors name the folder', () => {
  test('missing folder', async () => {
    await expect(scanImageFolders(join(tmp, 'nope'), {})).rejects.toThrow(`data folder ${join(tmp, 'nope')} does not exist`);
  });
  test('train without valid, and valid without train', async () => {
    await writeClass(join(tmp, 'train', 'a'), ['1.png']);
    await expect(scanImageFolders(tmp, {})).rejects.toThrow(`data folder ${tmp} has train/ but no valid/ folder`);
    const other = join(tmp, 'other');
    await writeClass(join(other, 'valid', 'a'), ['1.png']);
    await expect(scanImageFolders(other, {})).rejects.toThrow(`data folder ${other} has valid/ but no train/ folder`);
  });
  test('no class folders', async () => {
    writeText(join(tmp, 'loose.png'));
    await expect(scanImageFolders(tmp, {})).rejects.toThrow(`no class folders in ${tmp}`);
    mkdirSync(join(tmp, 'x', 'train'), { recursive: true });
    mkdirSync(join(tmp, 'x', 'valid'), { recursive: true });
    await expect(scanImageFolders(join(tmp, 'x'), {})).rejects.toThrow(`no class folders in ${join(tmp, 'x', 'train')}`);
  });
  test('empty class folder, and one with no image files', async () => {
    await writeClass(join(tmp, 'a'), ['1.png']);
    mkdirSync(join(tmp, 'empty'));
    await expect(scanImageFolders(tmp, {})).rejects.toThrow(`class folder ${join(tmp, 'empty')} has no image files`);
    writeText(join(tmp, 'empty', 'list.csv'));
    await expect(scanImageFolders(tmp, {})).rejects.toThrow(`class folder ${join(tmp, 'empty')} has no image files`);
  });
});

describe('pure helpers', () => {
  test('randomSplit matches the RandomSplitter rule and keeps order', () => {
    const { train, valid } = randomSplit(10, 0.35, 3);
    expect(valid).toHaveLength(3);
    expect([...train, ...valid].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(valid).toEqual([...valid].sort((a, b) => a - b));
    expect(randomSplit(3, 0.2, 1).valid).toHaveLength(0);
    expect(randomSplit(3, 0.2, 1, true).valid).toHaveLength(1);
    expect(randomSplit(2, 0.9, 1, true).train).toHaveLength(1);
  });
  test('readPixelRows: flat and nested layouts, odd rows dropped, limit, scale, clamping', () => {
    const flat = Buffer.from('{ "data": [0, 0.5, 1, 0.2,\n 1e-1, 1.5, -0.1, 0.996] }');
    expect(readPixelRows(flat, { nested: false, pixels: 4, scale: 255, limit: null }).map((r) => Array.from(r))).toEqual([
      [0, 128, 255, 51],
      [26, 255, 0, 254],
    ]);
    expect(readPixelRows(flat, { nested: false, pixels: 4, scale: 255, limit: 1 })).toHaveLength(1);
    const nested = Buffer.from('{"data":[[1,2,3],[],[4,5,6],[7,8],[300,9,10]]}');
    expect(readPixelRows(nested, { nested: true, pixels: 3, scale: 1, limit: null }).map((r) => Array.from(r))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [255, 9, 10],
    ]);
    expect(readPixelRows(nested, { nested: true, pixels: 3, scale: 1, limit: 2 })).toHaveLength(2);
  });

  test('imageProblem reports a file it cannot read instead of throwing', async () => {
    expect(await imageProblem(join(tmp, 'gone.png'))).toMatch(/^cannot read the file: ENOENT/);
  });

  test('truncationReason reads the tail', () => {
    expect(truncationReason('png', Buffer.from([1, 2, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]))).toBeNull();
    expect(truncationReason('png', Buffer.from([1, 2, 3]))).toMatch(/truncated PNG/);
    expect(truncationReason('jpeg', Buffer.from([0xff, 0xd9, 0, 0]))).toBeNull();
    expect(truncationReason('jpeg', Buffer.from([0xff, 0xd8, 1]))).toMatch(/truncated JPEG/);
    expect(truncationReason('webp', Buffer.from([]))).toBeNull();
  });
});
