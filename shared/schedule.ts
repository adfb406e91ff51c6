/**
 * Hyper-parameter schedules as pure functions of training progress `pos` in [0, 1], after fastai's
 * `callback/schedule.py` (SchedLin/Cos/No/Exp/Poly, combine_scheds, combined_cos) and the
 * discriminative-LR rules of `Optimizer.set_hyper` (even_mults, slice handling).
 */

/** A schedule: the value of one hyper-parameter at progress `pos` in [0, 1]. */
export type Sched = (pos: number) => number;

/** Linear from a (pos 0) to b (pos 1). */
export function schedLin(a: number, b: number): Sched {
  return (pos) => a + pos * (b - a);
}

/** Half-cosine from a (pos 0) to b (pos 1): flat at both ends, steepest in the middle. */
export function schedCos(a: number, b: number): Sched {
  return (pos) => a + ((b - a) * (1 + Math.cos(Math.PI * (1 - pos)))) / 2;
}

/** Constant a (the end value is ignored, as in fastai's SchedNo). */
export function schedNo(a: number, _b?: number): Sched {
  return () => a;
}

/** Exponential (geometric) from a to b; both must be positive. */
export function schedExp(a: number, b: number): Sched {
  if (!(a > 0) || !(b > 0)) throw new Error(`schedExp needs positive ends, got ${a} and ${b}`);
  return (pos) => a * Math.pow(b / a, pos);
}

/** Polynomial a + (b - a) * pos^k. */
export function schedPoly(a: number, b: number, k: number): Sched {
  return (pos) => a + (b - a) * Math.pow(pos, k);
}

/**
 * Joins schedules over consecutive fractions `pcts` of training (they must sum to 1). At `pos` the
 * last segment whose start is <= pos is used (capped at the last one), with its local progress.
 */
export function combineScheds(pcts: number[], scheds: Sched[]): Sched {
  if (pcts.length === 0 || pcts.length !== scheds.length) {
    throw new Error(`combineScheds needs one pct per schedule, got ${pcts.length} pcts and ${scheds.length} schedules`);
  }
  if (pcts.some((p) => !(p >= 0))) throw new Error(`combineScheds pcts must be >= 0, got [${pcts.join(', ')}]`);
  const total = pcts.reduce((s, p) => s + p, 0);
  if (Math.abs(total - 1) > 1e-9) throw new Error(`combineScheds pcts must sum to 1, got ${total}`);
  const edges = [0];
  for (const p of pcts) edges.push(edges[edges.length - 1] + p);
  edges[edges.length - 1] = 1;
  const last = pcts.length - 1;
  return (pos) => {
    let i = 0;
    for (let k = 1; k <= last; k++) if (pos >= edges[k]) i = k;
    const width = edges[i + 1] - edges[i];
    // A zero-width segment (pct 0 or 1) is only reached exactly at its edge: start it there.
    const local = width > 0 ? (pos - edges[i]) / width : 0;
    return scheds[i](local);
  };
}

/** fastai's one-cycle curve: cosine a -> m over the first `pct`, then cosine m -> b. */
export function combinedCos(pct: number, a: number, m: number, b: number): Sched {
  return combineScheds([pct, 1 - pct], [schedCos(a, m), schedCos(m, b)]);
}

/** `n` geometrically spaced values from start to stop (fastai even_mults; n = 1 gives [stop]). */
export function evenMults(start: number, stop: number, n: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`evenMults needs n >= 1, got ${n}`);
  if (n === 1) return [stop];
  const step = Math.pow(stop / start, 1 / (n - 1));
  return Array.from({ length: n }, (_, i) => start * Math.pow(step, i));
}

/** A learning-rate request: one value, one per group, or python's `slice(start, stop)`. */
export type LrSpec = number | number[] | { start?: number; stop: number };

/**
 * Expands an LR request to one value per parameter group, by fastai's `set_hyper` rules:
 * slice(start, stop) -> even_mults; slice(stop) -> stop/10 for every group but the last;
 * a scalar or 1-element list is broadcast; any other list must have exactly `groups` entries.
 */
export function resolveLrs(spec: LrSpec, groups: number): number[] {
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`need at least 1 parameter group, got ${groups}`);
  let v: number[];
  if (typeof spec === 'number') v = [spec];
  else if (Array.isArray(spec)) v = spec.slice();
  else if (spec.start) v = evenMults(spec.start, spec.stop, groups);
  else v = [...Array(groups - 1).fill(spec.stop / 10), spec.stop];
  if (v.length === 1) v = Array(groups).fill(v[0]);
  if (v.length !== groups) {
    throw new Error(`Trying to set ${v.length} learning rates but there are ${groups} parameter groups`);
  }
  for (const x of v) if (!Number.isFinite(x)) throw new Error(`learning rate must be a finite number, got ${x}`);
  return v;
}

/** Parses an LR from the command line: "1e-3" (one value) or "1e-5,1e-3" (a START,STOP slice). */
export function parseLrSpec(text: string, flag = '--lr-max'): LrSpec {
  const parts = text.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.length > 2 || parts.some((p) => p === '') || nums.some((x) => !Number.isFinite(x))) {
    throw new Error(`${flag}: expected a number or START,STOP (e.g. 1e-3 or 1e-5,1e-3), got "${text}"`);
  }
  return nums.length === 1 ? nums[0] : { start: nums[0], stop: nums[1] };
}
