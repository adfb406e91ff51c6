/**
 * Evaluation figures drawn as SVG and rendered to PNG with sharp: a confusion matrix (counts on a
 * white-to-blue scale, actual classes down, predicted across) and an image grid with captions
 * (fastai's plot_top_losses).
 */
import { promises as fs } from 'fs';
import sharp from 'sharp';
import { svgToPng } from './plot';

const FONT = 'DejaVu Sans, Arial, Helvetica, sans-serif';
/** Approximate advance of one character at font size 12 (DejaVu Sans), for layout. */
const CHAR_W = 7.2;
const MAX_LABEL = 18;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function shorten(s: string, max = MAX_LABEL): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function text(x: number, y: number, s: string, attrs: string): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-family="${FONT}" ${attrs}>${esc(s)}</text>`;
}

/** Writes bytes via a temporary name + rename, so a viewer never shows half a PNG. */
export async function writePngAtomic(file: string, png: Buffer): Promise<void> {
  if (!file.toLowerCase().endsWith('.png')) throw new Error(`figure file must end in .png, got ${file}`);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await fs.writeFile(tmp, png);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw new Error(`cannot write figure ${file}: ${(e as Error).message}`);
  }
}

/** matplotlib's "Blues" end points, interpolated in RGB; t in [0, 1]. */
export function blues(t: number): string {
  const lo = [247, 251, 255],
    hi = [8, 48, 107];
  const u = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  return (
    '#' +
    lo
      .map((l, i) =>
        Math.round(l + (hi[i] - l) * u)
          .toString(16)
          .padStart(2, '0'),
      )
      .join('')
  );
}

/** Pixel layout of a confusion matrix figure for these class names. */
export function confusionLayout(
  classes: string[],
  title = '',
): { cell: number; labelW: number; left: number; top: number; width: number; height: number; rotate: boolean } {
  const k = classes.length;
  const cell = Math.max(16, Math.min(64, Math.round(560 / k)));
  const longest = Math.max(...classes.map((c) => shorten(c).length));
  const rotate = longest * CHAR_W > cell - 4;
  const labelW = Math.ceil(longest * CHAR_W);
  const left = 44 + labelW + 10;
  const top = 48;
  const bottomLabels = rotate ? Math.ceil(longest * CHAR_W * 0.71) + 18 : 22;
  const width = Math.max(left + k * cell + 24, 320, Math.ceil(title.length * 9.5 + 24));
  const height = top + k * cell + bottomLabels + 36;
  return { cell, labelW, left, top, width, height, rotate };
}

/** The confusion matrix as SVG: `matrix[actual][predicted]` counts. */
export function confusionSvg(
  matrix: number[][],
  classes: string[],
  title = 'Confusion matrix',
): { svg: string; width: number; height: number } {
  const k = classes.length;
  if (k === 0) throw new Error('a confusion matrix needs at least one class');
  if (matrix.length !== k || matrix.some((r) => r.length !== k)) throw new Error(`confusion matrix must be ${k} x ${k} for ${k} classes`);
  const L = confusionLayout(classes, title);
  const max = Math.max(1, ...matrix.flat());
  const out: string[] = [];
  const size = k * L.cell;
  const gx = Math.max(L.left, Math.floor((L.width - size) / 2)),
    gy = L.top;
  const showCounts = L.cell >= 22;
  const countFont = Math.min(15, Math.floor(L.cell * 0.34));
  for (let a = 0; a < k; a++) {
    for (let p = 0; p < k; p++) {
      const v = matrix[a][p];
      const x = gx + p * L.cell,
        y = gy + a * L.cell;
      out.push(`<rect x="${x}" y="${y}" width="${L.cell}" height="${L.cell}" fill="${blues(v / max)}"/>`);
      if (showCounts) {
        const colour = v / max > 0.5 ? '#ffffff' : '#08306b';
        out.push(
          text(
            x + L.cell / 2,
            y + L.cell / 2 + countFont * 0.36,
            String(v),
            `font-size="${countFont}" fill="${colour}" text-anchor="middle"`,
          ),
        );
      }
    }
  }
  out.push(`<rect x="${gx}" y="${gy}" width="${size}" height="${size}" fill="none" stroke="#333333"/>`);
  const tick = 'font-size="12" fill="#222222"';
  classes.forEach((c, i) => {
    const centre = i * L.cell + L.cell / 2;
    out.push(text(gx - 6, gy + centre + 4, shorten(c), `${tick} text-anchor="end"`));
    const lx = gx + centre,
      ly = gy + size + 16;
    out.push(
      L.rotate
        ? `<text x="${lx.toFixed(1)}" y="${(ly - 4).toFixed(1)}" font-family="${FONT}" ${tick} text-anchor="end" transform="rotate(-45 ${lx.toFixed(1)} ${(ly - 4).toFixed(1)})">${esc(shorten(c))}</text>`
        : text(lx, ly, shorten(c), `${tick} text-anchor="middle"`),
    );
  });
  const axis = 'font-size="14" font-weight="bold" fill="#111111" text-anchor="middle"';
  out.push(text(gx + size / 2, L.height - 12, 'Predicted', axis));
  const cy = gy + size / 2,
    ax = gx - L.labelW - 22;
  out.push(
    `<text x="${ax}" y="${cy.toFixed(1)}" font-family="${FONT}" ${axis} transform="rotate(-90 ${ax} ${cy.toFixed(1)})">Actual</text>`,
  );
  out.push(text(L.width / 2, 28, title, 'font-size="16" font-weight="bold" fill="#111111" text-anchor="middle"'));
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}">\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n${out.join('\n')}\n</svg>\n`;
  return { svg, width: L.width, height: L.height };
}

/** Draws the confusion matrix to a PNG file; returns its size. */
export async function writeConfusionMatrix(
  file: string,
  matrix: number[][],
  classes: string[],
  title?: string,
): Promise<{ width: number; height: number }> {
  const { svg, width, height } = confusionSvg(matrix, classes, title);
  await writePngAtomic(file, await svgToPng(svg));
  return { width, height };
}

/** One grid tile: an image file and caption lines (with an optional colour each). */
export interface Tile {
  file: string;
  lines: { text: string; color?: string }[];
}
/** Grid layout: square thumbnails of `thumb` pixels, `columns` per row (default: a near-square grid). */
export interface GridOptions {
  title?: string;
  thumb?: number;
  columns?: number;
}

const LINE_H = 16;
const PAD = 10;

/** Pixel layout of an image grid. */
export function gridLayout(
  tiles: number,
  lines: number,
  o: GridOptions = {},
): { thumb: number; columns: number; tileW: number; tileH: number; head: number; inset: number; width: number; height: number } {
  if (tiles < 1) throw new Error('an image grid needs at least one image');
  const thumb = o.thumb ?? 128;
  const columns = Math.min(tiles, o.columns ?? Math.ceil(Math.sqrt(tiles)));
  const tileW = Math.max(thumb, 150) + 2 * PAD;
  const tileH = thumb + lines * LINE_H + 2 * PAD;
  const head = o.title ? 40 : 0;
  const width = Math.max(columns * tileW, Math.ceil((o.title?.length ?? 0) * 9 + 24));
  const inset = Math.floor((width - columns * tileW) / 2);
  return { thumb, columns, tileW, tileH, head, inset, width, height: head + Math.ceil(tiles / columns) * tileH };
}

/** A square thumbnail as the model sees it (EXIF-rotated, centre crop); small images are enlarged without blurring. */
async function thumbnail(file: string, side: number): Promise<Buffer> {
  try {
    const img = sharp(file).rotate();
    const meta = await sharp(file).metadata();
    const small = Math.min(meta.width ?? 0, meta.height ?? 0) < side;
    return await img
      .resize(side, side, { fit: 'cover', position: 'centre', kernel: small ? 'nearest' : 'lanczos3' })
      .removeAlpha()
      .toColourspace('srgb')
      .png()
      .toBuffer();
  } catch (e) {
    throw new Error(`cannot read image ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The image grid as SVG (thumbnails embedded as data URIs). */
export async function imageGridSvg(tiles: Tile[], o: GridOptions = {}): Promise<{ svg: string; width: number; height: number }> {
  const lines = Math.max(0, ...tiles.map((t) => t.lines.length));
  const L = gridLayout(tiles.length, lines, o);
  const thumbs = await Promise.all(tiles.map((t) => thumbnail(t.file, L.thumb)));
  const out: string[] = [];
  tiles.forEach((t, i) => {
    const ox = L.inset + (i % L.columns) * L.tileW,
      oy = L.head + Math.floor(i / L.columns) * L.tileH;
    const ix = ox + (L.tileW - L.thumb) / 2,
      iy = oy + PAD;
    out.push(
      `<image x="${ix}" y="${iy}" width="${L.thumb}" height="${L.thumb}" href="data:image/png;base64,${thumbs[i].toString('base64')}"/>`,
    );
    out.push(`<rect x="${ix - 0.5}" y="${iy - 0.5}" width="${L.thumb + 1}" height="${L.thumb + 1}" fill="none" stroke="#999999"/>`);
    t.lines.forEach((l, j) => {
      out.push(
        text(
          ox + L.tileW / 2,
          iy + L.thumb + 14 + j * LINE_H,
          l.text,
          `font-size="12" fill="${l.color ?? '#111111'}" text-anchor="middle"`,
        ),
      );
    });
  });
  const title = o.title ? text(L.width / 2, 26, o.title, 'font-size="15" font-weight="bold" fill="#111111" text-anchor="middle"') : '';
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}">\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n${title}\n${out.join('\n')}\n</svg>\n`;
  return { svg, width: L.width, height: L.height };
}

/** Draws an image grid with captions to a PNG file; returns its size. */
export async function writeImageGrid(file: string, tiles: Tile[], o: GridOptions = {}): Promise<{ width: number; height: number }> {
  const { svg, width, height } = await imageGridSvg(tiles, o);
  await writePngAtomic(file, await svgToPng(svg));
  return { width, height };
}
