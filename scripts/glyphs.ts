/**
 * Printed characters as 28 x 28 grey images laid out the way MNIST's digits are: the source task
 * of the embedded backbone. Each image is one character of EMNIST's "balanced" set (digits,
 * capitals, and the 11 lowercase letters whose shape differs from their capital) in one of the
 * DejaVu faces shipped by the `dejavu-fonts-ttf` package, rendered by sharp (Pango), then slanted,
 * rotated, stretched and given a random stroke weight. Like MNIST, the glyph's bounding box is
 * fitted into 20 x 20 (aspect kept) and placed so its centre of mass lies at the image centre.
 * Every choice is a function of (seed, class, index): the same arguments give the same bytes.
 */
import { readdirSync } from 'fs';
import { dirname, join } from 'path';
import sharp from 'sharp';
import { Rng, mixSeed } from '../shared/rng';
import { mapPool } from '../shared/data/pool';

/** EMNIST balanced's 47 classes: 10 digits, 26 capitals, 11 lowercase letters. */
export const GLYPH_CLASSES = [...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt'];

/** Class folder names that differ on case-insensitive file systems too: digit-0, upper-A, lower-a. */
export const GLYPH_FOLDERS = GLYPH_CLASSES.map((ch) =>
  /[0-9]/.test(ch) ? `digit-${ch}` : /[A-Z]/.test(ch) ? `upper-${ch}` : `lower-${ch}`,
);

const SIDE = 28;
const BOX = 20;
const RENDER_DPI = 300;
const RENDER_CONCURRENCY = 4;

/** A font file and the Pango description that selects its face. */
export interface Face {
  file: string;
  description: string;
}

/** The DejaVu faces of the `dejavu-fonts-ttf` package (its math font left out), in file-name order. */
export function dejavuFaces(): Face[] {
  const dir = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ttf') && !f.includes('Math'))
    .sort()
    .map((f) => ({ file: join(dir, f), description: describeFace(f) }));
}

/** 'DejaVuSansCondensed-BoldOblique.ttf' -> 'DejaVu Sans Condensed Bold Oblique' (Pango's names). */
export function describeFace(file: string): string {
  const [family, style = ''] = file.replace(/\.ttf$/, '').split('-');
  const words = family.replace(/^DejaVu/, 'DejaVu ').replace(/(Sans|Serif)(Mono|Condensed)/, '$1 $2');
  const styles = style.replace('ExtraLight', 'Ultra-Light').replace(/([a-z])([A-Z])/g, '$1 $2');
  return `${words} ${styles}`.trim();
}

/** The random parts of one glyph image. */
export interface GlyphStyle {
  face: Face;
  angleDeg: number;
  shear: number;
  stretch: number;
  blur: number;
  threshold: number;
}

/** Draws the style of image `index` of class `c`: face, rotation ±12°, slant ±0.3, width ×0.75..1.25, stroke weight. */
export function glyphStyle(seed: number, c: number, index: number, faces: Face[]): GlyphStyle {
  const rng = new Rng(mixSeed(seed, c, index));
  return {
    face: faces[rng.int(faces.length)],
    angleDeg: rng.uniform(-12, 12),
    shear: rng.uniform(-0.3, 0.3),
    stretch: rng.uniform(0.75, 1.25),
    blur: rng.uniform(0.5, 3),
    threshold: rng.uniform(40, 170),
  };
}

/** Renders `char` in `style` as 784 grey bytes (white on black), MNIST's layout. */
export async function renderGlyph(char: string, style: GlyphStyle): Promise<Uint8Array> {
  const a = (style.angleDeg * Math.PI) / 180;
  const [cos, sin] = [Math.cos(a), Math.sin(a)];
  // Rotation x (slant, then horizontal stretch).
  const m: [number, number, number, number] = [cos * style.stretch, cos * style.shear - sin, sin * style.stretch, sin * style.shear + cos];
  // A blurred stroke, stretched to full range, cut at a random level: a low cut thickens it, a high one thins it.
  const { data, info } = await sharp({
    text: { text: escapeMarkup(char), font: style.face.description, fontfile: style.face.file, dpi: RENDER_DPI },
  })
    .extractChannel(0)
    .extend({ top: 8, bottom: 8, left: 8, right: 8, background: '#000000' })
    .affine(m, { background: '#000000', interpolator: 'bilinear' })
    .blur(style.blur)
    .toColourspace('b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 1) throw new Error(`glyph '${char}' rendered with ${info.channels} channels, expected 1`);
  cutStroke(data, style.threshold);
  const box = inkBox(data, info.width, info.height);
  if (!box) throw new Error(`glyph '${char}' in ${style.face.description} rendered empty`);
  const fitted = await sharp(data, { raw: { width: info.width, height: info.height, channels: 1 } })
    .extract(box)
    .resize(BOX, BOX, { fit: 'inside' })
    .toColourspace('b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return centreByMass(fitted.data, fitted.info.width, fitted.info.height);
}

function escapeMarkup(char: string): string {
  return char.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;');
}

/** Stretches the blurred glyph to peak 255, then cuts it at `level` with a soft edge (in place). */
function cutStroke(px: Buffer, level: number): void {
  let peak = 1;
  for (const v of px) peak = Math.max(peak, v);
  for (let i = 0; i < px.length; i++) px[i] = Math.max(0, Math.min(255, Math.round(((px[i] * 255) / peak - level) * 3 + 128)));
}

/** The bounding box of pixels above a faint level, or null when there are none. */
function inkBox(px: Buffer, w: number, h: number): { left: number; top: number; width: number; height: number } | null {
  let [x0, y0, x1, y1] = [w, h, -1, -1];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (px[y * w + x] > 24) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  return x1 < 0 ? null : { left: x0, top: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** Pastes a w x h patch into 28 x 28 so that its centre of mass falls on the centre (MNIST's placement). */
export function centreByMass(patch: Uint8Array, w: number, h: number): Uint8Array {
  let [mass, mx, my] = [0, 0, 0];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = patch[y * w + x];
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  const cx = mass ? mx / mass : w / 2;
  const cy = mass ? my / mass : h / 2;
  const left = Math.min(SIDE - w, Math.max(0, Math.round(SIDE / 2 - cx)));
  const top = Math.min(SIDE - h, Math.max(0, Math.round(SIDE / 2 - cy)));
  const out = new Uint8Array(SIDE * SIDE);
  for (let y = 0; y < h; y++) out.set(patch.subarray(y * w, (y + 1) * w), (top + y) * SIDE + left);
  return out;
}

/** `count` images of class `c` (a GLYPH_CLASSES index). */
export async function glyphClass(c: number, count: number, seed: number, faces: Face[] = dejavuFaces()): Promise<Uint8Array[]> {
  const indices = Array.from({ length: count }, (_, i) => i);
  return mapPool(indices, RENDER_CONCURRENCY, (i) => renderGlyph(GLYPH_CLASSES[c], glyphStyle(seed, c, i, faces)));
}
