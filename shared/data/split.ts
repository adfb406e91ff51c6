/** Seeded train/validation split of one list of items, as fastai's RandomSplitter does it. */
import { Rng } from '../rng';

/**
 * Shuffles the indices 0..n-1 with `seed`, takes the first floor(validPct * n) as validation and
 * the rest as training; each part comes back in ascending order so item order stays sorted.
 * With `bothNonEmpty` (and n >= 2) each part gets at least one index.
 */
export function randomSplit(n: number, validPct: number, seed: number, bothNonEmpty = false): { train: number[]; valid: number[] } {
  if (!(validPct > 0 && validPct < 1)) throw new Error(`validPct must be in (0, 1), got ${validPct}`);
  const order = new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i));
  let cut = Math.floor(validPct * n);
  if (bothNonEmpty && n >= 2) cut = Math.min(n - 1, Math.max(1, cut));
  const byIndex = (a: number, b: number) => a - b;
  return { valid: order.slice(0, cut).sort(byIndex), train: order.slice(cut).sort(byIndex) };
}
