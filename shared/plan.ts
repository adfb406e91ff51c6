/**
 * Training plans: a list of phases, each one fastai `fit_one_cycle` call. `fineTunePlan` reproduces
 * `Learner.fine_tune` (frozen warm-up then unfrozen one-cycle), `fitOneCyclePlan` a single call.
 * The hyper-parameters of any iteration follow from the phase alone (`hypersAt`), so the
 * coordinator can resume mid-phase without replaying anything.
 * Numbers follow fastai, not rounder summaries of it: a cycle starts at lr_max/div (25, or 5 for
 * fine_tune's unfrozen phase) and ends near lr_max/div_final (1e5), not at lr_max/25; the frozen
 * phase uses pct_start 0.99, so with < 100 iterations it only warms up.
 */
import { combinedCos, LrSpec, resolveLrs } from './schedule';

/** One fit_one_cycle call: its length, which groups are frozen, and its schedule parameters. */
export interface Phase {
  name: 'frozen' | 'unfrozen' | 'train' | 'lr_find';
  epochs: number;
  /** Groups [0, freezeTo) are frozen (BatchNorm params excepted, see train_bn); 0 = none frozen. */
  freezeTo: number;
  /** Peak LR per parameter group, earliest group first. */
  lrMax: number[];
  div: number;
  divFinal: number;
  pctStart: number;
  moms: [number, number, number];
}

/** Options of fine_tune (fastai defaults when omitted). */
export interface FineTuneOptions {
  epochs: number;
  groups: number;
  baseLr?: number;
  freezeEpochs?: number;
  lrMult?: number;
  pctStart?: number;
  /** Start divisor of the UNFROZEN phase only; the frozen phase keeps fit_one_cycle's 25. */
  div?: number;
  divFinal?: number;
  moms?: [number, number, number];
}

/** Options of fit_one_cycle (fastai defaults when omitted). */
export interface OneCycleOptions {
  epochs: number;
  groups: number;
  lrMax?: LrSpec;
  div?: number;
  divFinal?: number;
  pctStart?: number;
  moms?: [number, number, number];
  /** Groups [0, freezeTo) stay frozen during the call (default 0: everything trains). */
  freezeTo?: number;
}

/** fastai defaults: fit_one_cycle(div=25, div_final=1e5, pct_start=0.25), Learner.moms, Learner.lr. */
export const ONE_CYCLE_DEFAULTS = { div: 25, divFinal: 1e5, pctStart: 0.25, lr: 1e-3 } as const;
/** fastai defaults of fine_tune's own arguments. */
export const FINE_TUNE_DEFAULTS = { baseLr: 2e-3, freezeEpochs: 1, lrMult: 100, pctStart: 0.3, div: 5 } as const;
/** Learner.moms: momentum 0.95 -> 0.85 at the peak LR -> 0.95. */
export const DEFAULT_MOMS: [number, number, number] = [0.95, 0.85, 0.95];

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

function checkCommon(o: { epochs: number; groups: number; div?: number; divFinal?: number; pctStart?: number; moms?: number[] }): void {
  check(Number.isInteger(o.epochs) && o.epochs >= 0, `epochs must be a whole number >= 0, got ${o.epochs}`);
  check(Number.isInteger(o.groups) && o.groups >= 1, `groups must be a whole number >= 1, got ${o.groups}`);
  if (o.div !== undefined) check(o.div > 0, `div must be > 0, got ${o.div}`);
  if (o.divFinal !== undefined) check(o.divFinal > 0, `divFinal must be > 0, got ${o.divFinal}`);
  if (o.pctStart !== undefined) check(o.pctStart >= 0 && o.pctStart <= 1, `pctStart must be in [0, 1], got ${o.pctStart}`);
  if (o.moms !== undefined) {
    check(o.moms.length === 3 && o.moms.every((m) => m >= 0 && m < 1), `moms must be 3 values in [0, 1), got [${o.moms.join(', ')}]`);
  }
}

/** The single phase of `fit_one_cycle(epochs, lr_max, ...)`. */
export function fitOneCyclePlan(o: OneCycleOptions): Phase[] {
  checkCommon(o);
  const freezeTo = o.freezeTo ?? 0;
  check(Number.isInteger(freezeTo) && freezeTo >= 0 && freezeTo < o.groups, `freezeTo must be in [0, ${o.groups - 1}], got ${freezeTo}`);
  return [
    {
      name: 'train',
      epochs: o.epochs,
      freezeTo,
      lrMax: resolveLrs(o.lrMax ?? ONE_CYCLE_DEFAULTS.lr, o.groups),
      div: o.div ?? ONE_CYCLE_DEFAULTS.div,
      divFinal: o.divFinal ?? ONE_CYCLE_DEFAULTS.divFinal,
      pctStart: o.pctStart ?? ONE_CYCLE_DEFAULTS.pctStart,
      moms: [...(o.moms ?? DEFAULT_MOMS)] as [number, number, number],
    },
  ];
}

/**
 * fastai `fine_tune`: freeze all groups but the last and run fit_one_cycle(freezeEpochs,
 * slice(baseLr), pct_start=0.99) with fit_one_cycle's default div 25; then halve baseLr, unfreeze and
 * run fit_one_cycle(epochs, slice(baseLr/lrMult, baseLr), pctStart, div). divFinal and moms apply to
 * both phases (fastai forwards **kwargs to both). freezeEpochs 0 leaves out the frozen phase.
 */
export function fineTunePlan(o: FineTuneOptions): Phase[] {
  checkCommon(o);
  check(o.groups >= 2, `fine_tune freezes all parameter groups but the last, so it needs >= 2 groups, got ${o.groups}`);
  const d = { ...FINE_TUNE_DEFAULTS, ...definedOnly(o) };
  check(d.baseLr > 0, `baseLr must be > 0, got ${d.baseLr}`);
  check(d.lrMult > 0, `lrMult must be > 0, got ${d.lrMult}`);
  check(Number.isInteger(d.freezeEpochs) && d.freezeEpochs >= 0, `freezeEpochs must be a whole number >= 0, got ${d.freezeEpochs}`);
  const shared = { divFinal: o.divFinal, moms: o.moms, groups: o.groups };
  const frozen = fitOneCyclePlan({ ...shared, epochs: d.freezeEpochs, lrMax: { stop: d.baseLr }, pctStart: 0.99, freezeTo: o.groups - 1 });
  const half = d.baseLr / 2;
  const unfrozen = fitOneCyclePlan({
    ...shared,
    epochs: o.epochs,
    lrMax: { start: half / d.lrMult, stop: half },
    pctStart: d.pctStart,
    div: d.div,
  });
  const phases: Phase[] = [];
  if (d.freezeEpochs > 0) phases.push({ ...frozen[0], name: 'frozen' });
  phases.push({ ...unfrozen[0], name: 'unfrozen' });
  return phases;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Training progress of iteration `iter` of a phase: (e*N + j) / (N*E); never reaches 1. */
export function phasePos(phase: Phase, iter: number, batchesPerEpoch: number): number {
  const total = phase.epochs * batchesPerEpoch;
  check(Number.isInteger(batchesPerEpoch) && batchesPerEpoch >= 1, `batches per epoch must be a whole number >= 1, got ${batchesPerEpoch}`);
  check(Number.isInteger(iter) && iter >= 0 && iter < total, `iteration ${iter} is outside phase '${phase.name}' (0..${total - 1})`);
  return iter / total;
}

/** LR per group and momentum at training iteration `iter` (0-based within the phase), N = batches per epoch. */
export function hypersAt(phase: Phase, iter: number, batchesPerEpoch: number): { lr: number[]; mom: number } {
  return hypersAtPos(phase, phasePos(phase, iter, batchesPerEpoch));
}

/** LR per group and momentum at training progress `pos` of a phase (0 <= pos < 1). */
export function hypersAtPos(phase: Phase, pos: number): { lr: number[]; mom: number } {
  check(pos >= 0 && pos < 1, `training progress ${pos} is outside phase '${phase.name}' ([0, 1))`);
  const lr = phase.lrMax.map((m) => combinedCos(phase.pctStart, m / phase.div, m, m / phase.divFinal)(pos));
  const mom = combinedCos(phase.pctStart, ...phase.moms)(pos);
  return { lr, mom };
}

/** Total training iterations of a phase. */
export function phaseIters(phase: Phase, batchesPerEpoch: number): number {
  return phase.epochs * batchesPerEpoch;
}
