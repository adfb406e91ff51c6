/**
 * Gradient buckets (as PyTorch DDP has them): consecutive trainable variables grouped into ranges
 * of the flat gradient buffer of about `capFloats` each, in the same order on every rank. The
 * replica reads each bucket back from the device separately and starts its all-reduce as soon as
 * it arrives, while later buckets are still being read back.
 */

/** One bucket: variables [first, last] occupying floats [start, end) of the flat buffer. */
export interface Bucket {
  first: number;
  last: number;
  start: number;
  end: number;
}

/** A bucket cap of `mb` MiB (--bucket-mb) in floats, at least one. */
export function bucketFloats(mb: number): number {
  return Math.max(1, Math.floor((mb * 2 ** 20) / 4));
}

/**
 * Splits variables of the given sizes into buckets: a bucket closes once it holds at least
 * `capFloats` (a variable larger than the cap gets a bucket of its own). Never empty for
 * non-empty input; the buckets tile [0, total).
 */
export function bucketize(sizes: number[], capFloats: number): Bucket[] {
  if (!(capFloats >= 1)) throw new Error(`bucket cap must be at least one float, got ${capFloats}`);
  const out: Bucket[] = [];
  let open: Bucket | null = null;
  let at = 0;
  sizes.forEach((size, i) => {
    open ??= { first: i, last: i, start: at, end: at };
    open.last = i;
    open.end = at += size;
    if (open.end - open.start >= capFloats) {
      out.push(open);
      open = null;
    }
  });
  if (open) out.push(open);
  return out;
}
