/**
 * The pure half of fastai's `lr_find`: the exponential LR sweep, the divergence stop, and the
 * suggestion rules (valley, steep, minimum, slide) applied to the recorded (lr, smooth loss) curve.
 * The distributed run itself (snapshot and restore, stepping) is the coordinator's LRFinder callback.
 */

/** fastai lr_find's defaults: 1e-7 .. 10 over 100 iterations, stopping on divergence. */
export const LR_FIND_DEFAULTS = { startLr: 1e-7, endLr: 10, numIt: 100, stopDiv: true } as const;

/** lr_find's settings (LR_FIND_DEFAULTS where absent). */
export interface LrFindOptions {
  startLr?: number;
  endLr?: number;
  numIt?: number;
  stopDiv?: boolean;
}
/** Resolved settings, with the number of epochs fastai runs to cover numIt batches. */
export interface LrFindSettings {
  startLr: number;
  endLr: number;
  numIt: number;
  stopDiv: boolean;
  epochs: number;
}

/** Resolves defaults (numIt below 6 is raised to 6, as fastai does); epochs = numIt // N + 1. */
export function lrFindSettings(o: LrFindOptions, batchesPerEpoch: number): LrFindSettings {
  const startLr = o.startLr ?? LR_FIND_DEFAULTS.startLr,
    endLr = o.endLr ?? LR_FIND_DEFAULTS.endLr;
  if (!(startLr > 0) || !(endLr > startLr)) throw new Error(`lr_find needs 0 < start LR < end LR, got ${startLr} and ${endLr}`);
  if (o.numIt !== undefined && !(Number.isInteger(o.numIt) && o.numIt >= 1))
    throw new Error(`lr_find iterations must be a whole number >= 1, got ${o.numIt}`);
  if (!(Number.isInteger(batchesPerEpoch) && batchesPerEpoch >= 1))
    throw new Error(`batches per epoch must be a whole number >= 1, got ${batchesPerEpoch}`);
  const numIt = Math.max(6, o.numIt ?? LR_FIND_DEFAULTS.numIt);
  return { startLr, endLr, numIt, stopDiv: o.stopDiv ?? LR_FIND_DEFAULTS.stopDiv, epochs: Math.floor(numIt / batchesPerEpoch) + 1 };
}

/** LR of training iteration `iter` (0-based): start * (end/start)^(iter/numIt). */
export function lrFindLr(s: LrFindSettings, iter: number): number {
  return s.startLr * Math.pow(s.endLr / s.startLr, iter / s.numIt);
}

/** Tracks the best smooth loss and says when the sweep ends (after `numIt` batches, or on divergence). */
export class LrFindStopper {
  best = Infinity;
  private iters = 0;

  constructor(readonly settings: LrFindSettings) {}

  /** Call after each batch with its smooth loss; true = stop now (this batch is still recorded). */
  afterBatch(smoothLoss: number): boolean {
    this.iters += 1;
    if (smoothLoss < this.best) this.best = smoothLoss;
    if (this.settings.stopDiv && smoothLoss > 4 * this.best) return true;
    return this.iters >= this.settings.numIt;
  }
}

/** A suggested LR and the point of the curve to mark for it. */
export interface Suggestion {
  lr: number;
  point: [number, number];
}

/** The part of the curve suggestions look at: drop the first numIt//10 and last 5 points, cut at the first NaN. */
export function suggestionWindow(lrs: number[], losses: number[], numIt: number): { lrs: number[]; losses: number[] } {
  const lo = Math.floor(numIt / 10),
    hi = Math.max(lo, losses.length - 5);
  let l = lrs.slice(lo, hi),
    y = losses.slice(lo, hi);
  const nan = y.findIndex((v) => Number.isNaN(v));
  if (nan >= 0) {
    l = l.slice(0, nan);
    y = y.slice(0, nan);
  }
  if (y.length < 2)
    throw new Error(`lr_find recorded too few usable points (${losses.length} recorded, ${y.length} usable) to suggest a learning rate`);
  return { lrs: l, losses: y };
}

function argmin(xs: number[]): number {
  let k = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] < xs[k]) k = i;
  return k;
}

/** fastai `minimum`: the LR of the lowest loss, divided by 10 (the marked point is the undivided one). */
export function minimum(lrs: number[], losses: number[]): Suggestion {
  const i = argmin(losses);
  return { lr: lrs[i] / 10, point: [lrs[i], losses[i]] };
}

/** fastai `steep`: the LR where the loss falls fastest per unit of log LR. */
export function steep(lrs: number[], losses: number[]): Suggestion {
  const slopes = losses.slice(1).map((y, i) => (y - losses[i]) / (Math.log(lrs[i + 1]) - Math.log(lrs[i])));
  const i = argmin(slopes);
  return { lr: lrs[i], point: [lrs[i], losses[i]] };
}

/** fastai `valley` (the default): about half-way into the longest strictly decreasing run of the curve. */
export function valley(lrs: number[], losses: number[]): Suggestion {
  const n = losses.length;
  const lds = new Array<number>(n).fill(1);
  let maxStart = 0,
    maxEnd = 0;
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  let idx = maxStart + Math.trunc(sections) + Math.trunc(sections / 2);
  if (idx < 0) idx += n; // maxStart can be -1; fastai then indexes from the end, as python does
  return { lr: lrs[idx], point: [lrs[idx], losses[idx]] };
}

/** numpy.gradient with unit spacing: central differences inside, one-sided at the ends. */
export function gradient(y: number[]): number[] {
  const n = y.length;
  if (n < 2) throw new Error('gradient needs at least 2 points');
  return y.map((_, i) => (i === 0 ? y[1] - y[0] : i === n - 1 ? y[n - 1] - y[n - 2] : (y[i + 1] - y[i - 1]) / 2));
}

/** fastai `slide`: walk a window of `lrDiff` points left from the end until the loss slope flattens. */
export function slide(lrs: number[], losses: number[], lrDiff = 15, thresh = 0.005, adjustValue = 1): Suggestion {
  const n = losses.length;
  const g = gradient(losses);
  const at = <T>(xs: T[], k: number) => xs[k < 0 ? n + k : k]; // python negative indexing
  let r = -1,
    l = r - lrDiff;
  let lr = at(lrs, Math.max(l, -n));
  while (l >= -n && Math.abs(at(g, r) - at(g, l)) > thresh) {
    lr = at(lrs, l);
    r -= 1;
    l -= 1;
  }
  const suggestion = lr * adjustValue;
  const k = lrs.indexOf(lr);
  return { lr: suggestion, point: [suggestion, losses[k]] };
}

/**
 * The point of the recorded curve at `lr`: the loss interpolated linearly in log LR between the
 * two recorded neighbours (the nearest end outside the range). Suggestions are marked here, each at
 * its own LR; fastai marks `minimum` at the LR of the lowest loss, ten times the LR it suggests.
 */
export function pointAt(lrs: number[], losses: number[], lr: number): [number, number] {
  const n = Math.min(lrs.length, losses.length);
  if (n === 0) throw new Error('pointAt needs a recorded curve');
  if (lr <= lrs[0]) return [lr, losses[0]];
  for (let i = 1; i < n; i++) {
    if (lr <= lrs[i]) {
      const t = (Math.log(lr) - Math.log(lrs[i - 1])) / (Math.log(lrs[i]) - Math.log(lrs[i - 1]));
      return [lr, losses[i - 1] + t * (losses[i] - losses[i - 1])];
    }
  }
  return [lr, losses[n - 1]];
}

/** All four suggestions on the recorded curve (window and NaN cut applied), each marked at its own LR. */
export function suggestLrs(
  lrs: number[],
  losses: number[],
  numIt: number,
): { valley: Suggestion; steep: Suggestion; minimum: Suggestion; slide: Suggestion } {
  const w = suggestionWindow(lrs, losses, numIt);
  const mark = (s: Suggestion): Suggestion => ({ lr: s.lr, point: pointAt(w.lrs, w.losses, s.lr) });
  return {
    valley: mark(valley(w.lrs, w.losses)),
    steep: mark(steep(w.lrs, w.losses)),
    minimum: mark(minimum(w.lrs, w.losses)),
    slide: mark(slide(w.lrs, w.losses)),
  };
}
