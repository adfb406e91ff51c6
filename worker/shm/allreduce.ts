/**
 * All-reduce through shared memory, for ranks on one host: each rank's gradient buffer is a
 * region of one mapped segment, so nothing is copied in or out and nothing crosses a socket.
 *
 *   1. every rank publishes "input ready" for generation g (with the buffer length and tag);
 *   2. rank r sums slice r of every region, in rank order, into its own region (one pass, the
 *      n-way add in shm.cc) and publishes "reduced";
 *   3. rank r copies each other slice from its owner's region and publishes "gathered".
 *
 * Only the owner computes a slice and everyone copies it, so the result is bitwise identical on
 * every rank, and the fixed order makes it identical in every run.
 *
 * Note [who may write when]: in step 2 rank r writes only slice r of its region, which nobody else
 * reads in that step (they read their own slices); in step 3 it writes slice j only after j
 * published "reduced", i.e. after j read it. What stays exposed after the call is the owned slice,
 * which the others copy in step 3; so the caller must `prepare()` (wait for every "gathered")
 * before writing its buffer again. The replica does that while the next batch computes, so the
 * wait is normally already over.
 */
import type { AllReduce, AllReduceTiming } from '../allreduce';
import { Counter, ownedSlice } from './layout';
import { ShmSegment, type SegmentOptions } from './segment';

/** How a rank joins a shared-memory all-reduce. */
export interface ShmOptions extends Omit<SegmentOptions, 'peerName' | 'label'> {
  /**
   * Floats per pipelined block (default 262144, 1 MiB, when spinning, else the whole slice). With a core per
   * rank, summing block b and copying the peers' block b right after keeps both in cache instead of
   * streaming every slice through memory twice; without, each wait would cost a context switch.
   */
  blockFloats?: number;
}

/** One rank of a shared-memory all-reduce. */
export class ShmAllReduce implements AllReduce {
  readonly kind = 'shm';
  /** Blocks summed by this rank so far (the value of its Reduced counter). */
  private progress = 0;

  private constructor(
    private readonly segment: ShmSegment,
    private readonly blockFloats: number,
  ) {}

  /** Maps the segment (creating it if this rank is first) and waits until every rank has. */
  static async attach(o: ShmOptions): Promise<ShmAllReduce> {
    const segment = await ShmSegment.attach(o);
    const blockFloats = o.blockFloats ?? (segment.mapped.spins > 0 ? 262144 : Math.max(1, o.capacity));
    if (!Number.isSafeInteger(blockFloats) || blockFloats < 1) {
      segment.close();
      throw new Error(`shm all-reduce: blockFloats must be at least 1, got ${blockFloats}`);
    }
    return new ShmAllReduce(segment, blockFloats);
  }

  get bytesReduced(): number {
    return this.segment.bytesReduced;
  }

  /** This rank's region (see AllReduce.buffer); call prepare() before each refill. */
  buffer(floats: number): Float32Array {
    return this.segment.buffer(floats);
  }

  /** Waits until every peer has copied what it needed from this rank's region (Note [who may write when]). */
  prepare(): Promise<void> {
    return this.segment.prepare();
  }

  /** See AllReduce.allReduceSum; `waitMs` of the timing lasts until every rank had arrived. */
  allReduceSum(buf: Float32Array, tag: number, scale = 1): Promise<AllReduceTiming> {
    return this.segment.call(buf, (offset) => this.collective(offset, buf.length, tag, scale));
  }

  /** Sums floats [offset, offset + n) of every region (see the steps at the top). */
  private async collective(offset: number, n: number, tag: number, scale: number): Promise<AllReduceTiming> {
    const { native, regions, rank, world } = this.segment.mapped;
    const t0 = performance.now();
    await this.segment.enter(n, tag, offset);
    const waitMs = performance.now() - t0;
    const slices = Array.from({ length: world }, (_, j) => {
      const s = ownedSlice(n, world, j);
      return { start: offset + s.start, end: offset + s.end };
    });
    const blocks = Math.max(1, Math.ceil((slices[0].end - slices[0].start) / this.blockFloats)); // slice 0 is a longest one
    const block = (j: number, b: number) => {
      const start = Math.min(slices[j].start + b * this.blockFloats, slices[j].end);
      return { start, end: Math.min(start + this.blockFloats, slices[j].end) };
    };
    const base = this.progress;
    for (let b = 0; b < blocks; b++) {
      const mine = block(rank, b);
      native.sumInto(
        regions[rank].subarray(mine.start, mine.end),
        regions.map((r) => r.subarray(mine.start, mine.end)),
        scale,
      );
      this.segment.publish(Counter.Reduced, (base + b + 1) | 0);
      for (let k = 1; k < world; k++) {
        const j = (rank + k) % world; // start at different owners, so ranks do not all read one region at once
        await this.segment.waitFor(j, Counter.Reduced, (base + b + 1) | 0, 'finish summing its slice', tag);
        const s = block(j, b);
        regions[rank].subarray(s.start, s.end).set(regions[j].subarray(s.start, s.end));
      }
    }
    this.progress = (base + blocks) | 0;
    this.segment.finish();
    return { waitMs, totalMs: performance.now() - t0 };
  }

  /** Marks the all-reduce unusable (pending waits end soon); the mapping goes with the object. */
  async close(): Promise<void> {
    this.segment.close();
  }
}
