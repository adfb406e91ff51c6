/**
 * Which samples each worker sees, with PyTorch DistributedSampler / fastai DistributedDL semantics:
 * one (seeded) order for the epoch, padded cyclically to a multiple of the world size, cut into
 * equal contiguous shards so every worker runs the same number of steps.
 */
import { mixSeed, Rng } from './rng';

/** The sample order of one epoch: 0..n-1, shuffled by a generator seeded with (seed, epoch) when `shuffle`. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`epochOrder: sample count must be a whole number >= 0, got ${n}`);
  const order = Array.from({ length: n }, (_, i) => i);
  return shuffle ? new Rng(mixSeed(seed, epoch)).shuffle(order) : order;
}

/** One worker's samples: the first `real` entries are real samples, the rest padding. */
export interface Shard {
  indices: number[];
  real: number;
}

/**
 * Rank `rank`'s contiguous slice of `order` padded to ceil(n/world)*world by repeating the order
 * from its start (fastai DistributedDL). Padding only ever lands at the end of the last shards.
 */
export function shard(order: number[], rank: number, world: number): Shard {
  if (!Number.isInteger(world) || world < 1) throw new Error(`shard: world size must be a whole number >= 1, got ${world}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new Error(`shard: rank ${rank} is outside 0..${world - 1}`);
  const n = order.length;
  if (n === 0) return { indices: [], real: 0 };
  const per = Math.ceil(n / world);
  const start = rank * per;
  const indices = Array.from({ length: per }, (_, i) => order[(start + i) % n]);
  return { indices, real: Math.max(0, Math.min(per, n - start)) };
}

/** Consecutive batches of size `bs` from a shard (the last one smaller unless `dropLast`), each with its real-sample count. */
export function batches(sh: Shard, bs: number, dropLast: boolean): { indices: number[]; real: number }[] {
  if (!Number.isInteger(bs) || bs < 1) throw new Error(`batches: batch size must be a whole number >= 1, got ${bs}`);
  const out: { indices: number[]; real: number }[] = [];
  for (let s = 0; s < sh.indices.length; s += bs) {
    const indices = sh.indices.slice(s, s + bs);
    if (dropLast && indices.length < bs) break;
    out.push({ indices, real: Math.max(0, Math.min(indices.length, sh.real - s)) });
  }
  return out;
}

/** Batches per epoch for every worker: n samples over `world` workers at per-worker batch size `bs`. */
export function batchesPerEpoch(n: number, bs: number, world: number, dropLast: boolean): number {
  if (!(bs >= 1) || !(world >= 1)) throw new Error(`batchesPerEpoch: batch size and world size must be >= 1, got ${bs} and ${world}`);
  const per = n === 0 ? 0 : Math.ceil(n / world);
  return dropLast ? Math.floor(per / bs) : Math.ceil(per / bs);
}

/** A stretch of an epoch trained at one world size: `iters` batches on each of `world` ranks (Note [resize]). */
export interface Stretch {
  world: number;
  iters: number;
}

/**
 * Note [resize]: a run resumed on another number of workers goes on with the same epoch: the
 * samples the ranks have not trained on yet, in the epoch's order, sharded over the new ranks as a
 * whole epoch would be (shard, batches, drop_last). A stretch trained at world W for j batches
 * took the first j*bs samples of each of the W shards of what was left. Same-size resumes never
 * come here: they start at the same batch of the same shards, bitwise as if never interrupted.
 */
export function remainingAfter(order: number[], stretches: Stretch[], bs: number): number[] {
  let left = order;
  for (const { world, iters } of stretches) {
    const taken = new Set<number>();
    for (let r = 0; r < world; r++) for (const i of shard(left, r, world).indices.slice(0, iters * bs)) taken.add(i);
    left = left.filter((i) => !taken.has(i));
  }
  return left;
}
