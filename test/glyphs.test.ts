/** The backbone's source task: rendered glyphs laid out like MNIST, deterministic per (seed, class, index); few-label splits. */
import { readdirSync } from 'fs';
import { join } from 'path';
import { scanImageFolders } from '../shared/data/folders';
import { centreByMass, dejavuFaces, describeFace, GLYPH_CLASSES, GLYPH_FOLDERS, glyphStyle, renderGlyph } from '../scripts/glyphs';
import { prepareData } from '../scripts/prepare-data';
import { makeTemp, rmTemp } from './data-fixtures';

let tmp: string;
beforeAll(() => {
  tmp = makeTemp('glyphs');
});
afterAll(() => rmTemp(tmp));

test("EMNIST balanced's 47 classes, and the package's 21 text faces under Pango's names", () => {
  expect(GLYPH_CLASSES).toHaveLength(47);
  expect(new Set(GLYPH_CLASSES).size).toBe(47);
  expect(GLYPH_CLASSES.join('')).toBe('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt');
  expect(describeFace('DejaVuSansCondensed-BoldOblique.ttf')).toBe('DejaVu Sans Condensed Bold Oblique');
  expect(describeFace('DejaVuSans-ExtraLight.ttf')).toBe('DejaVu Sans Ultra-Light');
  expect(describeFace('DejaVuSerif.ttf')).toBe('DejaVu Serif');
  expect(describeFace('DejaVuSansMono-Oblique.ttf')).toBe('DejaVu Sans Mono Oblique');
  expect(dejavuFaces()).toHaveLength(21);
});

test('centreByMass puts the centre of mass on the image centre', () => {
  // A 2 x 2 patch whose mass sits in its right column: centre of mass (1.5, 1.0), so it is pasted at
  // (round(14 - 1.5), round(14 - 1.0)) = (13, 13) and its ink lands in column 14, rows 13 and 14.
  const out = centreByMass(Uint8Array.from([0, 100, 0, 100]), 2, 2);
  const ink = Array.from(out.keys()).filter((i) => out[i] > 0);
  expect(ink.map((i) => [i % 28, Math.floor(i / 28)])).toEqual([
    [14, 13],
    [14, 14],
  ]);
});

test('a glyph: 784 bytes, the same for the same style, ink within 20 px and centred by mass', async () => {
  const faces = dejavuFaces();
  for (let c = 0; c < GLYPH_CLASSES.length; c += 5) {
    const style = glyphStyle(3, c, 0, faces);
    const a = await renderGlyph(GLYPH_CLASSES[c], style);
    expect(a).toHaveLength(784);
    expect(Buffer.from(await renderGlyph(GLYPH_CLASSES[c], style)).equals(Buffer.from(a))).toBe(true);
    let [mass, mx, my, x0, x1, y0, y1] = [0, 0, 0, 28, -1, 28, -1];
    a.forEach((v, i) => {
      if (v === 0) return;
      const [x, y] = [i % 28, Math.floor(i / 28)];
      [mass, mx, my] = [mass + v, mx + v * (x + 0.5), my + v * (y + 0.5)];
      [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
    });
    expect(Math.max(x1 - x0 + 1, y1 - y0 + 1)).toBeLessThanOrEqual(20);
    expect(Math.abs(mx / mass - 14)).toBeLessThanOrEqual(2.5);
    expect(Math.abs(my / mass - 14)).toBeLessThanOrEqual(2.5);
  }
  expect(glyphStyle(3, 0, 0, faces)).not.toEqual(glyphStyle(3, 0, 1, faces));
});

test('prepare-data --dataset glyphs writes every class; --train-per-class keeps the validation images', async () => {
  const r = await prepareData({ dataset: 'glyphs', out: join(tmp, 'g'), limit: 4, validPct: 0.25 });
  expect([r.train, r.valid]).toEqual([47 * 3, 47]);
  expect(readdirSync(join(tmp, 'g', 'valid')).sort()).toEqual([...GLYPH_FOLDERS].sort());
  expect(new Set(GLYPH_FOLDERS.map((f) => f.toLowerCase())).size).toBe(47);
  expect([GLYPH_FOLDERS[0], GLYPH_FOLDERS[10], GLYPH_FOLDERS[36]]).toEqual(['digit-0', 'upper-A', 'lower-a']);
  await expect(prepareData({ dataset: 'glyphs', out: join(tmp, 'nolimit') })).rejects.toThrow(/needs --limit/);
  const few = await prepareData({ dataset: 'mnist', out: join(tmp, 'few'), limit: 30, trainPerClass: 5 });
  const all = await prepareData({ dataset: 'mnist', out: join(tmp, 'all'), limit: 30 });
  expect([few.train, few.valid]).toEqual([50, all.valid]);
  const names = async (dir: string) => (await scanImageFolders(dir, {})).valid.map((i) => i.file).sort();
  expect(await names(few.out)).toEqual(await names(all.out));
  await expect(prepareData({ dataset: 'mnist', out: join(tmp, 'few'), limit: 30, trainPerClass: 6 })).rejects.toThrow(
    /5 training images per class/,
  );
}, 60_000);
