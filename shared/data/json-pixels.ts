/**
 * Reads images out of the `mnist` / `fashion-mnist` packages' JSON (`{"data": [...]}`) by
 * scanning the bytes for numbers, without JSON.parse. The files hold up to 150 MB of text:
 * parsing them builds millions of JS numbers, and a `limit` should not pay for the whole file.
 */

/** How the numbers are laid out: one flat array (`flat`) or one array per image (`nested`). */
export interface PixelLayout {
  nested: boolean;
  pixels: number;
  scale: number;
  limit: number | null;
}

const DIGIT_0 = 0x30,
  DIGIT_9 = 0x39,
  DOT = 0x2e,
  MINUS = 0x2d,
  OPEN = 0x5b,
  CLOSE = 0x5d;

/**
 * Images of `layout.pixels` bytes each: every number times `scale`, rounded and clamped to
 * 0..255. In the nested layout, rows of another length (the packages have a few empty ones)
 * are dropped. Stops after `limit` images.
 */
export function readPixelRows(text: Buffer, layout: PixelLayout): Uint8Array[] {
  const { pixels, scale } = layout;
  const limit = layout.limit ?? Infinity;
  const rows: Uint8Array[] = [];
  let row = new Uint8Array(pixels);
  let n = 0;
  let depth = 0;
  const imageDepth = layout.nested ? 2 : 1;
  for (let i = 0; i < text.length && rows.length < limit; i++) {
    const ch = text[i];
    if (ch === OPEN) depth++;
    else if (ch === CLOSE) {
      if (layout.nested && depth === imageDepth && n === pixels) rows.push(row);
      if (layout.nested && depth === imageDepth) ((row = new Uint8Array(pixels)), (n = 0));
      depth--;
    } else if (depth === imageDepth && ((ch >= DIGIT_0 && ch <= DIGIT_9) || ch === MINUS || ch === DOT)) {
      const end = numberEnd(text, i);
      const v = parseNumber(text, i, end);
      if (n < pixels) row[n] = Math.max(0, Math.min(255, Math.round(v * scale)));
      n++;
      i = end - 1;
      if (!layout.nested && n === pixels) (rows.push(row), (row = new Uint8Array(pixels)), (n = 0));
    }
  }
  return rows;
}

function numberEnd(text: Buffer, start: number): number {
  let i = start;
  while (i < text.length) {
    const ch = text[i];
    if ((ch >= DIGIT_0 && ch <= DIGIT_9) || ch === DOT || ch === MINUS || ch === 0x2b || ch === 0x65 || ch === 0x45) i++;
    else break;
  }
  return i;
}

/** Plain decimals are parsed by hand (exactly as parseFloat would: an integer over a power of ten); anything else by parseFloat. */
function parseNumber(text: Buffer, start: number, end: number): number {
  let sign = 1;
  let i = start;
  if (text[i] === MINUS) ((sign = -1), i++);
  let whole = 0;
  while (i < end && text[i] >= DIGIT_0 && text[i] <= DIGIT_9) whole = whole * 10 + (text[i++] - DIGIT_0);
  if (i === end) return sign * whole;
  if (text[i] !== DOT || end - i > 16) return parseFloat(text.toString('latin1', start, end));
  i++;
  let frac = 0;
  let div = 1;
  while (i < end && text[i] >= DIGIT_0 && text[i] <= DIGIT_9) ((frac = frac * 10 + (text[i++] - DIGIT_0)), (div *= 10));
  if (i !== end) return parseFloat(text.toString('latin1', start, end));
  return sign * (whole + frac / div);
}
