/** Seeded train/validation split of one list of items, as fastai's RandomSplitter does it. */
import { Rng } from '../rng';

/**
 * Shuffles the indices 0..n-1 with `seed`, takes the first floor(validPct * n) as validation and
 * the rest as training; each part comes back in ascending order so item order stays sorted.
 */
export function randomSplit(n: number, validPct: number, seed: number): { train: number[]; valid: number[] } {
  if (!(validPct > 0 && validPct < 1)) throw new Error(`validPct must be in (0, 1), got ${validPct}`);
  const order = new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i));
  const cut = Math.floor(validPct * n);
  const byIndex = (a: number, b: number) => a - b;
  return { valid: order.slice(0, cut).sort(byIndex), train: order.slice(cut).sort(byIndex) };
}
