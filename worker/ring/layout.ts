/**
 * Where every float travels in a ring all-reduce: the buffer is cut into `world` segments, each
 * segment into the same number of chunks, and step s of 2(world-1) moves one segment per rank.
 * Pure functions, shared by every rank, so all ranks agree on the layout without talking.
 *
 * Note [ring schedule]: at step s rank r sends segment (r - s) mod world to rank r+1 and receives
 * segment (r - s - 1) mod world from rank r-1. Steps 0..world-2 are the reduce-scatter (the
 * received partial sum is added to the local values); after the last of them rank r owns the full
 * sum of segment r+1, accumulated in the fixed order r+1, r+2, ..., r. Steps world-1..2world-3 are
 * the all-gather (received sums are copied, not added). So every float of the result is computed
 * once, on one rank, in one order, and copied bit for bit to the others.
 */

/** Float range [start, end) of one chunk. */
export interface ChunkRange {
  start: number;
  end: number;
}

/** Frames smaller than this are not worth splitting further for pipelining (512 KiB of floats): under CPU contention each extra frame costs thread wake-ups (1 MiB at 2 ranks: 12 ms in 1 frame per step vs 16-19 ms in 4). */
const MIN_PIPELINE_FLOATS = 128 * 1024;
/** Segments at least this many chunks long let summing one chunk overlap sending the next. */
const PIPELINE_DEPTH = 4;

/** Non-negative remainder. */
export function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** Number of steps of one all-reduce: world-1 reduce-scatter plus world-1 all-gather. */
export function ringSteps(world: number): number {
  return 2 * (world - 1);
}

/** Segment rank `rank` sends at step `step` (see Note [ring schedule]). */
export function sendSegment(rank: number, world: number, step: number): number {
  return mod(rank - step, world);
}

/** Segment rank `rank` receives at step `step`. */
export function recvSegment(rank: number, world: number, step: number): number {
  return mod(rank - step - 1, world);
}

/** True for reduce-scatter steps (received data is added), false for all-gather (copied). */
export function isReduceStep(world: number, step: number): boolean {
  return step < world - 1;
}

/**
 * Chunks per segment for a buffer of `floats`: frames of at most `chunkFloats`, and, when the
 * segment is big enough, at least PIPELINE_DEPTH chunks so the pipeline has something to overlap.
 */
export function chunksPerSegment(floats: number, world: number, chunkFloats: number): number {
  if (!(chunkFloats >= 1)) throw new Error(`ring: chunk size must be at least one float, got ${chunkFloats}`);
  const segFloats = Math.ceil(floats / world);
  const bySize = Math.ceil(segFloats / chunkFloats);
  const byDepth = Math.min(PIPELINE_DEPTH, Math.floor(segFloats / MIN_PIPELINE_FLOATS));
  return Math.max(1, bySize, byDepth);
}

/** Float range of chunk `chunk` (of `chunks`) of segment `seg` in a buffer of `floats`. */
export function chunkRange(floats: number, world: number, chunks: number, seg: number, chunk: number): ChunkRange {
  const segStart = Math.floor((seg * floats) / world);
  const segLen = Math.floor(((seg + 1) * floats) / world) - segStart;
  return {
    start: segStart + Math.floor((chunk * segLen) / chunks),
    end: segStart + Math.floor(((chunk + 1) * segLen) / chunks),
  };
}

/** Payload bytes rank `rank` sends in one all-reduce of `floats` (what `Ring.bytesSent` grows by). */
export function payloadBytesSent(floats: number, world: number, rank: number, chunkFloats: number, bytesPerFloat = 4): number {
  if (world === 1) return 0;
  const chunks = chunksPerSegment(floats, world, chunkFloats);
  let bytes = 0;
  for (let step = 0; step < ringSteps(world); step++) {
    const seg = sendSegment(rank, world, step);
    const first = chunkRange(floats, world, chunks, seg, 0);
    const last = chunkRange(floats, world, chunks, seg, chunks - 1);
    bytes += (last.end - first.start) * bytesPerFloat;
  }
  return bytes;
}
