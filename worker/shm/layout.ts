/**
 * Where things live in the shared-memory segment of a same-host all-reduce, and which slice of
 * the buffer each rank sums. Pure functions, so the layout is tested without processes.
 *
 *   [control: one 64-byte line per counter][region of rank 0][region of rank 1]...
 *
 * Each rank has four counters (attached, input, reduced, gathered), each alone on a cache line so
 * ranks publishing at the same time do not bounce a shared line, and a region of `capacity`
 * floats rounded up to a page.
 */

export const LINE_INTS = 16; // 64 bytes
const PAGE = 4096;
const COUNTERS_PER_RANK = 4;

/** The counters each rank publishes, in the order they appear. */
export const enum Counter {
  /** The rank has mapped the segment (value: the job's attach token). */
  Attached = 0,
  /** Generation whose input (buffer, length, tag) the rank has written. */
  Input = 1,
  /** Blocks of its owned slices the rank has summed, over all calls (see ShmAllReduce's pipelining). */
  Reduced = 2,
  /** Generation whose slices the rank has copied from their owners. */
  Gathered = 3,
}

/** Int32 index of a counter; the next two ints of its line hold the call's length and tag. */
export function counterIndex(rank: number, c: Counter): number {
  return (rank * COUNTERS_PER_RANK + c) * LINE_INTS;
}

/** Byte layout of a segment for `world` ranks of `capacity` floats each. */
export function segmentLayout(world: number, capacity: number): { controlBytes: number; regionBytes: number; totalBytes: number } {
  if (!Number.isInteger(world) || world < 1) throw new Error(`shm all-reduce: world must be a positive integer, got ${world}`);
  if (!Number.isInteger(capacity) || capacity < 0)
    throw new Error(`shm all-reduce: capacity must be a non-negative integer, got ${capacity}`);
  const controlBytes = roundUp(world * COUNTERS_PER_RANK * LINE_INTS * 4, PAGE);
  const regionBytes = roundUp(Math.max(capacity, 1) * 4, PAGE);
  return { controlBytes, regionBytes, totalBytes: controlBytes + world * regionBytes };
}

/** The slice of an n-float buffer that `rank` sums (its owner): contiguous, sizes differ by at most one. */
export function ownedSlice(n: number, world: number, rank: number): { start: number; end: number } {
  const base = Math.floor(n / world);
  const extra = n % world;
  const start = rank * base + Math.min(rank, extra);
  return { start, end: start + base + (rank < extra ? 1 : 0) };
}

function roundUp(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}
