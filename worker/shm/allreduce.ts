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
import { availableParallelism } from 'os';
import type { AllReduce, AllReduceTiming } from '../allreduce';
import { Counter, counterIndex, ownedSlice, segmentLayout } from './layout';
import { shmNative, type ShmNative } from './native';

/** How a rank joins a shared-memory all-reduce. */
export interface ShmOptions {
  rank: number;
  world: number;
  /** Segment name, the same on every rank and unique to the job (e.g. "/ringtune-<nonce>"). */
  name: string;
  /** Largest buffer, in floats, that will be all-reduced. */
  capacity: number;
  /** Every wait for a peer times out with an error naming it (default 30000). */
  timeoutMs?: number;
  /**
   * Busy-wait iterations before sleeping on a futex. Spinning saves the wake-up latency when every
   * rank has a core; with more ranks than cores it would steal the core a peer needs (default:
   * 50000, about a millisecond, when ranks <= cores, else 0).
   */
  spins?: number;
  /**
   * Floats per pipelined block (default 262144, 1 MiB, when spinning, else the whole slice). With a core per
   * rank, summing block b and copying the peers' block b right after keeps both in cache instead of
   * streaming every slice through memory twice; without, each wait would cost a context switch.
   */
  blockFloats?: number;
}

/** A rank's settings after defaults, with the segment attach() mapped. */
interface MappedShm {
  native: ShmNative;
  rank: number;
  world: number;
  /** The control block: each rank's counters (layout.ts). */
  counters: Int32Array;
  /** Every rank's region, index = rank. */
  regions: Float32Array[];
  timeoutMs: number;
  spins: number;
  blockFloats: number;
}

const DEFAULT_TIMEOUT_MS = 30000;
/** Longest time one native wait blocks the event loop, so aborts and heartbeats get through. */
const WAIT_SLICE_MS = 50;
const ATTACHED = 1;

/** One rank of a shared-memory all-reduce. */
export class ShmAllReduce implements AllReduce {
  readonly kind = 'shm';
  private gen = 0;
  /** Blocks summed by this rank so far (the value of its Reduced counter). */
  private progress = 0;
  private reducedBytes = 0;
  private broken: Error | null = null;

  private constructor(private readonly mapped: MappedShm) {}

  /** Maps the segment (creating it if this rank is first) and waits until every rank has. */
  static async attach(o: ShmOptions): Promise<ShmAllReduce> {
    const { native, reason } = shmNative();
    if (!native) throw new Error(`shm all-reduce is unavailable: ${reason}`);
    const { rank, world, name, capacity } = o;
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new Error(`shm all-reduce: rank must be in [0, ${world}), got ${rank}`);
    if (!/^\/[A-Za-z0-9._-]{1,200}$/.test(name))
      throw new Error(`shm all-reduce: segment name must look like /name, got ${JSON.stringify(name)}`);
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const spins = o.spins ?? (world <= availableParallelism() ? 50000 : 0);
    const layout = segmentLayout(world, capacity);
    let memory: ArrayBuffer;
    try {
      memory = native.map(name, layout.totalBytes);
    } catch (e) {
      native.unlink(name); // a segment created but not reserved (full /dev/shm) must not stay behind
      throw new Error(`shm all-reduce: rank ${rank}: ${(e as Error).message}`);
    }
    const counters = new Int32Array(memory, 0, layout.controlBytes / 4);
    const regions = Array.from(
      { length: world },
      (_, r) => new Float32Array(memory, layout.controlBytes + r * layout.regionBytes, capacity),
    );
    const blockFloats = o.blockFloats ?? (spins > 0 ? 262144 : Math.max(1, capacity));
    if (!Number.isSafeInteger(blockFloats) || blockFloats < 1)
      throw new Error(`shm all-reduce: blockFloats must be at least 1, got ${blockFloats}`);
    const self = new ShmAllReduce({ native, rank, world, counters, regions, timeoutMs, spins, blockFloats });
    try {
      native.publish(counters, counterIndex(rank, Counter.Attached), ATTACHED);
      for (let j = 0; j < world; j++) {
        await self.waitFor(
          j,
          Counter.Attached,
          ATTACHED,
          `attach to shared memory ${name}`,
          0,
          ': are all ranks on this host and sharing /dev/shm (containers need a shared IPC namespace)? --allreduce ring avoids shared memory',
        );
      }
    } catch (e) {
      native.unlink(name);
      throw e;
    }
    // Everyone has it mapped: the name is no longer needed, and a crash now leaves nothing behind.
    if (rank === 0) native.unlink(name);
    return self;
  }

  get bytesReduced(): number {
    return this.reducedBytes;
  }

  /** This rank's region (see AllReduce.buffer); call prepare() before each refill. */
  buffer(floats: number): Float32Array {
    this.checkSize(floats);
    return this.mapped.regions[this.mapped.rank].subarray(0, floats);
  }

  /** Waits until every peer has copied what it needed from this rank's region (Note [who may write when]). */
  async prepare(): Promise<void> {
    for (let j = 0; j < this.mapped.world; j++) {
      if (j !== this.mapped.rank) await this.waitFor(j, Counter.Gathered, this.gen, 'finish the previous all-reduce', this.gen);
    }
  }

  /** See AllReduce.allReduceSum; `waitMs` of the timing lasts until every rank had arrived. */
  async allReduceSum(buf: Float32Array, tag: number, scale = 1): Promise<AllReduceTiming> {
    if (this.broken)
      throw new Error(`shm all-reduce: rank ${this.mapped.rank} is unusable after an earlier failure: ${this.broken.message}`);
    const n = buf.length;
    this.checkSize(n);
    this.reducedBytes += buf.byteLength;
    const own = this.mapped.regions[this.mapped.rank];
    // A view into this rank's region (the whole buffer or a bucket of it) is summed where it lies.
    const at = (buf.byteOffset - own.byteOffset) / 4;
    const inPlace = buf.buffer === own.buffer && at >= 0 && at + n <= own.length;
    const offset = inPlace ? at : 0;
    try {
      if (!inPlace) {
        await this.prepare();
        own.set(buf);
      }
      const timing = await this.collective(offset, n, tag, scale);
      if (!inPlace) buf.set(own.subarray(0, n));
      return timing;
    } catch (e) {
      this.broken = e as Error;
      throw e;
    }
  }

  /** Sums floats [offset, offset + n) of every region (see the steps at the top). */
  private async collective(offset: number, n: number, tag: number, scale: number): Promise<AllReduceTiming> {
    const { native, counters, regions, rank, world } = this.mapped;
    const t0 = performance.now();
    const gen = (this.gen + 1) | 0;
    this.gen = gen;
    const tagBits = Math.trunc(tag) | 0;
    const input = counterIndex(rank, Counter.Input);
    counters[input + 1] = n;
    counters[input + 2] = tagBits;
    counters[input + 3] = offset;
    native.publish(counters, input, gen);
    for (let j = 0; j < world; j++) {
      await this.waitFor(j, Counter.Input, gen, 'reach the all-reduce', tag);
      const at = counterIndex(j, Counter.Input);
      if (counters[at + 1] !== n || counters[at + 2] !== tagBits || counters[at + 3] !== offset) {
        throw new Error(
          `shm all-reduce: rank ${j} all-reduces ${counters[at + 1]} floats at offset ${counters[at + 3]}, tag ${counters[at + 2]}; ` +
            `rank ${rank} ${n} floats at offset ${offset}, tag ${tagBits}: the ranks are not in the same all-reduce`,
        );
      }
    }
    const waitMs = performance.now() - t0;
    const slices = Array.from({ length: world }, (_, j) => {
      const s = ownedSlice(n, world, j);
      return { start: offset + s.start, end: offset + s.end };
    });
    const blocks = Math.max(1, Math.ceil((slices[0].end - slices[0].start) / this.mapped.blockFloats)); // slice 0 is a longest one
    const block = (j: number, b: number) => {
      const start = Math.min(slices[j].start + b * this.mapped.blockFloats, slices[j].end);
      return { start, end: Math.min(start + this.mapped.blockFloats, slices[j].end) };
    };
    const base = this.progress;
    for (let b = 0; b < blocks; b++) {
      const mine = block(rank, b);
      native.sumInto(
        regions[rank].subarray(mine.start, mine.end),
        regions.map((r) => r.subarray(mine.start, mine.end)),
        scale,
      );
      native.publish(counters, counterIndex(rank, Counter.Reduced), (base + b + 1) | 0);
      for (let k = 1; k < world; k++) {
        const j = (rank + k) % world; // start at different owners, so ranks do not all read one region at once
        await this.waitFor(j, Counter.Reduced, (base + b + 1) | 0, 'finish summing its slice', tag);
        const s = block(j, b);
        regions[rank].subarray(s.start, s.end).set(regions[j].subarray(s.start, s.end));
      }
    }
    this.progress = (base + blocks) | 0;
    native.publish(counters, counterIndex(rank, Counter.Gathered), gen);
    return { waitMs, totalMs: performance.now() - t0 };
  }

  /** Waits (spinning, then sleeping in short slices that let the event loop run) for a peer's counter. */
  private async waitFor(peer: number, c: Counter, target: number, what: string, tag: number, hint = ''): Promise<void> {
    const index = counterIndex(peer, c);
    if (this.mapped.native.waitAtLeast(this.mapped.counters, index, target, this.mapped.spins, 0)) return;
    const deadline = performance.now() + this.mapped.timeoutMs;
    for (;;) {
      if (this.mapped.native.waitAtLeast(this.mapped.counters, index, target, 0, WAIT_SLICE_MS)) return;
      if (this.broken) throw this.broken;
      if (performance.now() > deadline) {
        throw new Error(
          `shm all-reduce: rank ${peer} did not ${what} (tag ${tag}) within ${this.mapped.timeoutMs} ms, seen from rank ${this.mapped.rank}${hint}`,
        );
      }
      await new Promise((r) => setImmediate(r));
    }
  }

  private checkSize(floats: number): void {
    const capacity = this.mapped.regions[this.mapped.rank].length;
    if (!Number.isInteger(floats) || floats < 0 || floats > capacity) {
      throw new Error(`shm all-reduce: a buffer of ${floats} floats does not fit the segment (capacity ${capacity} floats)`);
    }
  }

  /** Marks the all-reduce unusable (pending waits end within WAIT_SLICE_MS); the mapping goes with the object. */
  async close(): Promise<void> {
    this.broken ??= new Error('the shared-memory all-reduce was closed');
  }
}
