/**
 * What the user sees on the console, as fastai prints it: the smoothed training loss (Recorder),
 * the per-epoch results table and the progress bar (fastprogress console output).
 */

/** fastai Recorder's smooth loss: EMA with beta 0.98, debiased by 1 - beta^count. Reset per fit call. */
export class SmoothLoss {
  private val = 0;
  private n = 0;

  constructor(readonly beta = 0.98) {
    if (!(beta >= 0 && beta < 1)) throw new Error(`SmoothLoss beta must be in [0, 1), got ${beta}`);
  }

  /** Adds one batch loss and returns the new smoothed value. */
  add(loss: number): number {
    this.n += 1;
    this.val = this.beta * this.val + (1 - this.beta) * loss;
    return this.value;
  }

  /** The debiased smoothed loss (NaN before the first batch). */
  get value(): number {
    return this.n === 0 ? NaN : this.val / (1 - Math.pow(this.beta, this.n));
  }

  /** Batches seen since the last reset. */
  get count(): number {
    return this.n;
  }

  /** The raw state, for checkpoints. */
  state(): { val: number; n: number } {
    return { val: this.val, n: this.n };
  }

  /** Continues from a state saved by state(). */
  restore(s: { val: number; n: number }): void {
    this.val = s.val;
    this.n = s.n;
  }

  /** Starts over (fastai resets at the start of every fit call, not per epoch). */
  reset(): void {
    this.val = 0;
    this.n = 0;
  }
}

/** Seconds as fastprogress prints them: mm:ss, or h:mm:ss from one hour (whole seconds, truncated). */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const t = Math.floor(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor(t / 60) % 60;
  const sec = t % 60;
  const two = (x: number) => String(x).padStart(2, '0');
  return h !== 0 ? `${h}:${two(m)}:${two(sec)}` : `${two(m)}:${two(sec)}`;
}

/**
 * Python's f'{x:.{digits}f}': like toFixed, except exact ties round half to even (toFixed rounds
 * them up) and nan / inf are spelled as Python spells them.
 */
export function pyFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const s = x.toFixed(digits);
  if (Math.abs(x) >= 1e21) return s;
  const exact = Math.abs(x).toFixed(100).replace(/0+$/, ''); // the double's exact decimal value
  const dot = exact.indexOf('.');
  const tie = dot >= 0 && exact.length - dot - 1 === digits + 1 && exact.endsWith('5');
  if (!tie) return s;
  const truncated = exact.slice(0, digits > 0 ? dot + 1 + digits : dot);
  const even = Number(truncated[truncated.length - 1]) % 2 === 0;
  return even ? (x < 0 ? '-' : '') + truncated : s;
}

/** One table cell: `epoch` as an integer, `time` given in seconds as mm:ss, other numbers with 6 decimals. */
export function formatCell(value: number | string, col: string): string {
  if (typeof value === 'string') return value;
  if (col === 'epoch') return String(Math.trunc(value));
  if (col === 'time') return formatDuration(value);
  return pyFixed(value, 6);
}

/** Column names as they head the table: left-justified, padded to at least 8 characters. */
function paddedNames(cols: string[]): string[] {
  return cols.map((c) => c.padEnd(8));
}

/** The table header: padded column names joined by two spaces. */
export function tableHeader(cols: string[]): string {
  return paddedNames(cols).join('  ');
}

/** One table row: each value padded to its column's header width + 2 (as fastprogress, trailing spaces included). */
export function tableRow(values: (number | string)[], cols: string[]): string {
  if (values.length !== cols.length) {
    throw new Error(`table row has ${values.length} values for ${cols.length} columns (${cols.join(', ')})`);
  }
  const names = paddedNames(cols);
  return values
    .map((v, i) => {
      const t = formatCell(v, cols[i]);
      return t + ' '.repeat(Math.max(0, 2 + names[i].length - t.length));
    })
    .join('');
}

/** A whole table: the header then one line per row. */
export function formatTable(cols: string[], rows: (number | string)[][]): string {
  return [tableHeader(cols), ...rows.map((r) => tableRow(r, cols))].join('\n');
}

/** Options of one progress-bar line. */
export interface ProgressBarOptions {
  label: string;
  done: number;
  total: number;
  elapsedS: number;
  comment?: string;
  /** Bar characters between the pipes (fastprogress: terminal width - 60, 40 on a 100-column terminal). */
  width?: number;
}

/**
 * fastprogress's console bar: `label |████----| 45.65% [42/92 00:10<00:12 comment]`. The remaining
 * time is extrapolated from the mean time per item so far ('?' before the first item).
 */
export function progressBar(o: ProgressBarOptions): string {
  const width = o.width ?? 40;
  if (!(o.total >= 0) || !(o.done >= 0)) throw new Error(`progressBar: bad counts ${o.done}/${o.total}`);
  const end = o.comment ? ` ${o.comment}` : '';
  if (o.total === 0) return `${o.label} |${'-'.repeat(width)}| 100% [0/0${end}]`;
  const done = Math.min(o.done, o.total);
  const filled = Math.floor((width * done) / o.total);
  const bar = '█'.repeat(filled) + '-'.repeat(width - filled);
  const pct = pyFixed((100 * done) / o.total, 2);
  const remaining = done === 0 ? '?' : formatDuration((o.elapsedS / done) * o.total - o.elapsedS);
  return `${o.label} |${bar}| ${pct}% [${done}/${o.total} ${formatDuration(o.elapsedS)}<${remaining}${end}]`;
}

/** The label fastprogress puts before an epoch's bars: `Epoch 3/10 :` (1-based). */
export function epochLabel(epoch: number, epochs: number): string {
  return `Epoch ${epoch + 1}/${epochs} :`;
}
