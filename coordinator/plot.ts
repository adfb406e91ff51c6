/**
 * Line plots drawn as SVG and rendered to PNG with sharp (librsvg): axes, ticks, labels, legend,
 * optional log scales, point markers and vertical guide lines. Reusable for lr_find, loss and
 * schedule plots; a figure is a grid of panels.
 */
import { writeFile } from 'fs/promises';
import sharp from 'sharp';
import { formatTick, logMinorTicks, logTicks, niceTicks } from './plot-ticks';

/** One curve. Non-finite points (and non-positive ones on a log axis) break the line. */
export interface Series {
  name: string;
  x: number[];
  y: number[];
  color?: string;
  dashed?: boolean;
}
/** A labelled point, e.g. an lr_find suggestion. */
export interface PlotMarker {
  x: number;
  y: number;
  label: string;
  color?: string;
}
/** A labelled vertical line, e.g. a phase boundary. */
export interface VLine {
  x: number;
  label?: string;
}
/** One set of axes. */
export interface Panel {
  series: Series[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  logX?: boolean;
  logY?: boolean;
  markers?: PlotMarker[];
  vLines?: VLine[];
  /** Legend in the top-right corner (default) or none. */
  legend?: boolean;
}
/** Figure layout: `columns` panels per row, each `panelWidth` x `panelHeight` pixels. */
export interface FigureOptions {
  title?: string;
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
}

/** matplotlib's tab10, so curves look as fastai users expect. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const FONT = 'DejaVu Sans, Arial, Helvetica, sans-serif';
const M = { left: 78, right: 18, top: 30, bottom: 52 };
const TITLE_H = 34;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** One axis: data range -> pixel range, on a linear or log10 scale. */
interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
  map: (v: number) => number;
}

/** Smallest and largest value the axis can show; a loop, because spreading a long run's steps into Math.min overflows the stack. */
function extent(values: number[][], log: boolean): { lo: number; hi: number } | undefined {
  let lo = Infinity,
    hi = -Infinity;
  for (const vs of values)
    for (const v of vs) {
      if (!Number.isFinite(v) || (log && v <= 0)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  return lo <= hi ? { lo, hi } : undefined;
}

function makeAxis(values: number[][], log: boolean, p0: number, p1: number): Axis {
  const e = extent(values, log);
  let lo = e ? e.lo : log ? 1 : 0;
  let hi = e ? e.hi : log ? 10 : 1;
  const t = (v: number) => (log ? Math.log10(v) : v);
  const inv = (v: number) => (log ? Math.pow(10, v) : v);
  let a = t(lo),
    b = t(hi);
  if (b - a < 1e-12) {
    const d = log ? 0.5 : Math.abs(a) * 0.1 || 1;
    a -= d;
    b += d;
  }
  const pad = (b - a) * 0.05;
  a -= pad;
  b += pad;
  lo = inv(a);
  hi = inv(b);
  const ticks = log ? logTicks(lo, hi) : niceTicks(lo, hi);
  return { lo, hi, log, ticks, map: (v) => p0 + ((t(v) - a) / (b - a)) * (p1 - p0) };
}

function line(x1: number, y1: number, x2: number, y2: number, style: string): string {
  return `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" ${style}/>`;
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
}

/**
 * SVG path of one series, broken at points the axes cannot show. Consecutive points that fall in
 * one pixel column are drawn as that column's first, lowest, highest and last point, which draws
 * the same pixels: a run of a million steps costs a path of a few thousand points.
 */
function pathD(s: Series, xa: Axis, ya: Axis): string {
  const parts: string[] = [];
  let column: { x: number; px: number; first: number; last: number; lo: number; hi: number } | undefined;
  let pen = false;
  const flush = () => {
    if (!column) return;
    const ys = [column.first, column.lo, column.hi, column.last].filter((y, i, a) => i === 0 || y !== a[i - 1]);
    for (const y of ys) {
      parts.push(`${pen ? 'L' : 'M'}${column.x.toFixed(2)},${y.toFixed(2)}`);
      pen = true;
    }
    column = undefined;
  };
  for (let i = 0; i < Math.min(s.x.length, s.y.length); i++) {
    const x = s.x[i],
      y = s.y[i];
    const ok = Number.isFinite(x) && Number.isFinite(y) && (!xa.log || x > 0) && (!ya.log || y > 0);
    if (!ok) {
      flush();
      pen = false;
      continue;
    }
    const px = xa.map(x),
      py = ya.map(y);
    if (column && Math.floor(px) === column.px) {
      column.last = py;
      column.lo = Math.min(column.lo, py);
      column.hi = Math.max(column.hi, py);
      continue;
    }
    flush();
    column = { x: px, px: Math.floor(px), first: py, last: py, lo: py, hi: py };
  }
  flush();
  return parts.join('');
}

function panelSvg(p: Panel, ox: number, oy: number, w: number, h: number): string {
  const x0 = ox + M.left,
    x1 = ox + w - M.right,
    y0 = oy + h - M.bottom,
    y1 = oy + M.top;
  const markers = p.markers ?? [];
  const xa = makeAxis([...p.series.map((s) => s.x), markers.map((m) => m.x)], !!p.logX, x0, x1);
  const ya = makeAxis([...p.series.map((s) => s.y), markers.map((m) => m.y)], !!p.logY, y0, y1);
  const out: string[] = [`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="#ffffff" stroke="#333333"/>`];
  const tickStyle = `font-family="${FONT}" font-size="12" fill="#222222"`;
  for (const v of xa.ticks) {
    const x = xa.map(v);
    out.push(line(x, y1, x, y0, 'stroke="#e5e5e5"'), line(x, y0, x, y0 + 5, 'stroke="#333333"'));
    out.push(text(x, y0 + 19, formatTick(v), `${tickStyle} text-anchor="middle"`));
  }
  const minor = (a: Axis) => (a.log && Math.log10(a.hi / a.lo) <= 8 ? logMinorTicks(a.lo, a.hi).filter((v) => !a.ticks.includes(v)) : []);
  for (const v of minor(xa)) out.push(line(xa.map(v), y0, xa.map(v), y0 + 3, 'stroke="#333333"'));
  for (const v of minor(ya)) out.push(line(x0 - 3, ya.map(v), x0, ya.map(v), 'stroke="#333333"'));
  for (const v of ya.ticks) {
    const y = ya.map(v);
    out.push(line(x0, y, x1, y, 'stroke="#e5e5e5"'), line(x0 - 5, y, x0, y, 'stroke="#333333"'));
    out.push(text(x0 - 8, y + 4, formatTick(v), `${tickStyle} text-anchor="end"`));
  }
  out.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#333333"/>`);
  const labelEnds: number[] = []; // per row of guide-line labels, where its last label ends
  for (const vl of p.vLines ?? []) {
    const x = xa.map(vl.x);
    if (!(x >= x0 && x <= x1)) continue;
    out.push(line(x, y1, x, y0, 'stroke="#555555" stroke-dasharray="5,4"'));
    if (!vl.label) continue;
    // Lines closer than their labels (a one-epoch frozen phase) stack the labels instead of overprinting them.
    let row = labelEnds.findIndex((end) => end < x + 4);
    if (row < 0) row = labelEnds.push(0) - 1;
    labelEnds[row] = x + 4 + vl.label.length * 6.5;
    out.push(text(x + 4, y1 + 14 + 13 * row, vl.label, `font-family="${FONT}" font-size="11" fill="#555555"`));
  }
  p.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const dash = s.dashed ? ' stroke-dasharray="6,4"' : '';
    out.push(`<path d="${pathD(s, xa, ya)}" fill="none" stroke="${color}" stroke-width="2"${dash} stroke-linejoin="round"/>`);
  });
  for (const m of markers) {
    if (!Number.isFinite(m.x) || !Number.isFinite(m.y) || (xa.log && m.x <= 0) || (ya.log && m.y <= 0)) continue;
    const cx = xa.map(m.x),
      cy = ya.map(m.y),
      color = m.color ?? '#d62728';
    out.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="5" fill="${color}" stroke="#ffffff" stroke-width="1"/>`);
    // Labels in the right third of the axes go to the left of their point, so they stay inside.
    const leftward = cx > x0 + (2 * (x1 - x0)) / 3;
    out.push(
      text(
        leftward ? cx - 8 : cx + 8,
        cy - 8,
        m.label,
        `font-family="${FONT}" font-size="12" fill="${color}"${leftward ? ' text-anchor="end"' : ''}`,
      ),
    );
  }
  const labelStyle = `font-family="${FONT}" font-size="13" fill="#111111"`;
  if (p.title)
    out.push(
      text((x0 + x1) / 2, oy + 20, p.title, `font-family="${FONT}" font-size="15" font-weight="bold" fill="#111111" text-anchor="middle"`),
    );
  if (p.xLabel) out.push(text((x0 + x1) / 2, oy + h - 12, p.xLabel, `${labelStyle} text-anchor="middle"`));
  if (p.yLabel) {
    const cy = (y0 + y1) / 2;
    out.push(
      `<text x="${ox + 16}" y="${cy.toFixed(1)}" ${labelStyle} text-anchor="middle" transform="rotate(-90 ${ox + 16} ${cy.toFixed(1)})">${esc(p.yLabel)}</text>`,
    );
  }
  if (p.legend !== false && p.series.length > 0) out.push(legendSvg(p.series, x1, y1));
  return out.join('\n');
}

function legendSvg(series: Series[], right: number, top: number): string {
  const rowH = 18;
  const widest = Math.max(...series.map((s) => s.name.length));
  const w = 40 + widest * 7.2;
  const x = right - w - 8,
    y = top + 8;
  const rows = series.map((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const cy = y + 14 + i * rowH;
    const dash = s.dashed ? ' stroke-dasharray="6,4"' : '';
    return (
      line(x + 8, cy - 4, x + 30, cy - 4, `stroke="${color}" stroke-width="2"${dash}`) +
      text(x + 36, cy, s.name, `font-family="${FONT}" font-size="12" fill="#111111"`)
    );
  });
  return `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${series.length * rowH + 8}" fill="#ffffff" fill-opacity="0.9" stroke="#bbbbbb" rx="3"/>\n${rows.join('\n')}`;
}

/** The whole figure as an SVG document. */
export function figureSvg(panels: Panel[], o: FigureOptions = {}): { svg: string; width: number; height: number } {
  if (panels.length === 0) throw new Error('a figure needs at least one panel');
  const cols = Math.min(o.columns ?? 1, panels.length);
  const pw = o.panelWidth ?? 640,
    ph = o.panelHeight ?? 400;
  const head = o.title ? TITLE_H : 0;
  const width = cols * pw,
    height = head + Math.ceil(panels.length / cols) * ph;
  const body = panels.map((p, i) => panelSvg(p, (i % cols) * pw, head + Math.floor(i / cols) * ph, pw, ph));
  const title = o.title
    ? text(width / 2, 24, o.title, `font-family="${FONT}" font-size="17" font-weight="bold" fill="#111111" text-anchor="middle"`)
    : '';
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n${title}\n${body.join('\n')}\n</svg>\n`;
  return { svg, width, height };
}

/** Renders an SVG document to PNG bytes. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 }).png().toBuffer();
}

/** Draws the panels and writes them to `file` as PNG; returns the image size. */
export async function writeFigure(file: string, panels: Panel[], o: FigureOptions = {}): Promise<{ width: number; height: number }> {
  if (!file.toLowerCase().endsWith('.png')) throw new Error(`plot file must end in .png, got ${file}`);
  const { svg, width, height } = figureSvg(panels, o);
  const png = await svgToPng(svg);
  try {
    await writeFile(file, png);
  } catch (e) {
    throw new Error(`cannot write plot ${file}: ${(e as Error).message}`);
  }
  return { width, height };
}
