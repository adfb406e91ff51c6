/**
 * One shared-memory segment of the ranks on one host (layout in layout.ts): what both shared-memory
 * all-reduces build on, the flat one (allreduce.ts) and the hierarchical one (worker/hier/). It
 * maps the segment, holds each rank's counters and region, and gives every call the same frame:
 * enter (all ranks publish their input and check they are in the same call), the algorithm's own
 * reduce and gather, finish (publish "gathered"). Every wait times out with an error naming the peer.
 */
import { availableParallelism } from 'os';
import { Counter, counterIndex, segmentLayout } from './layout';
import { shmNative, type ShmNative } from './native';

/** How a rank joins a segment. */
export interface SegmentOptions {
  /** This rank's index among the segment's ranks, and how many there are. */
  rank: number;
  world: number;
  /** Segment name, the same on every rank and unique to the job and host (e.g. "/ringtune-<nonce>"). */
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
  /** How errors name a peer given its index here (default `rank j`). */
  peerName?: (rank: number) => string;
  /** What errors start with (default 'shm all-reduce'). */
  label?: string;
}

/** A rank's settings after defaults, with the segment mapped. */
interface Mapped {
  native: ShmNative;
  rank: number;
  world: number;
  /** The control block: each rank's counters (layout.ts). */
  counters: Int32Array;
  /** Every rank's region, index = rank. */
  regions: Float32Array[];
  timeoutMs: number;
  spins: number;
  peerName: (rank: number) => string;
  label: string;
}

const DEFAULT_TIMEOUT_MS = 30000;
/** Longest time one native wait blocks the event loop, so aborts and heartbeats get through. */
const WAIT_SLICE_MS = 50;
const ATTACHED = 1;

/** One rank's view of a mapped segment. */
export class ShmSegment {
  /** The generation of this rank's current (or last) call. */
  private generation = 0;
  private reducedBytes = 0;
  private broken: Error | null = null;

  private constructor(readonly mapped: Mapped) {}

  /** Maps the segment (creating it if this rank is first) and waits until every rank has. */
  static async attach(o: SegmentOptions): Promise<ShmSegment> {
    const label = o.label ?? 'shm all-reduce';
    const { native, reason } = shmNative();
    if (!native) throw new Error(`${label} is unavailable: ${reason}`);
    const { rank, world, name, capacity } = o;
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new Error(`${label}: rank must be in [0, ${world}), got ${rank}`);
    if (!/^\/[A-Za-z0-9._-]{1,200}$/.test(name))
      throw new Error(`${label}: segment name must look like /name, got ${JSON.stringify(name)}`);
    const layout = segmentLayout(world, capacity);
    let memory: ArrayBuffer;
    try {
      memory = native.map(name, layout.totalBytes);
    } catch (e) {
      native.unlink(name); // a segment created but not reserved (full /dev/shm) must not stay behind
      throw new Error(`${label}: rank ${rank}: ${(e as Error).message}`);
    }
    const self = new ShmSegment({
      native,
      rank,
      world,
      counters: new Int32Array(memory, 0, layout.controlBytes / 4),
      regions: Array.from({ length: world }, (_, r) => new Float32Array(memory, layout.controlBytes + r * layout.regionBytes, capacity)),
      timeoutMs: o.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      spins: o.spins ?? (world <= availableParallelism() ? 50000 : 0),
      peerName: o.peerName ?? ((j) => `rank ${j}`),
      label,
    });
    try {
      self.publish(Counter.Attached, ATTACHED);
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

  /** This rank's region. */
  get own(): Float32Array {
    return this.mapped.regions[this.mapped.rank];
  }

  /** Bytes of buffer passed through call() so far. */
  get bytesReduced(): number {
    return this.reducedBytes;
  }

  /** The first `floats` of this rank's region (AllReduce.buffer); prepare() before each refill. */
  buffer(floats: number): Float32Array {
    this.checkSize(floats);
    return this.own.subarray(0, floats);
  }

  /** Waits until every peer has finished the last call, i.e. copied what it needed from this rank's region. */
  async prepare(): Promise<void> {
    for (let j = 0; j < this.mapped.world; j++) {
      if (j !== this.mapped.rank)
        await this.waitFor(j, Counter.Gathered, this.generation, 'finish the previous all-reduce', this.generation);
    }
  }

  /**
   * Runs one call on `buf`: in place when it is a view into this rank's region (the whole buffer
   * or a bucket of it), else copied in (after prepare()) and out. `body` gets the offset of the
   * data in every region. A failure leaves the segment unusable (its peers' state is unknown).
   */
  async call<T>(buf: Float32Array, body: (offset: number) => Promise<T>): Promise<T> {
    const { label, rank } = this.mapped;
    if (this.broken) throw new Error(`${label}: rank ${rank} is unusable after an earlier failure: ${this.broken.message}`);
    const n = buf.length;
    this.checkSize(n);
    this.reducedBytes += buf.byteLength;
    const own = this.own;
    const at = (buf.byteOffset - own.byteOffset) / 4;
    const inPlace = buf.buffer === own.buffer && at >= 0 && at + n <= own.length;
    try {
      if (!inPlace) {
        await this.prepare();
        own.set(buf);
      }
      const result = await body(inPlace ? at : 0);
      if (!inPlace) buf.set(own.subarray(0, n));
      return result;
    } catch (e) {
      this.broken = e as Error;
      throw e;
    }
  }

  /**
   * Starts the next call: publishes this rank's input (n floats at `offset`, `tag`) and waits until
   * every rank has published the same; a different call on a peer is an error naming it. Returns
   * the generation.
   */
  async enter(n: number, tag: number, offset: number): Promise<number> {
    const { counters, rank, world, label, peerName } = this.mapped;
    const gen = (this.generation + 1) | 0;
    this.generation = gen;
    const tagBits = Math.trunc(tag) | 0;
    const input = counterIndex(rank, Counter.Input);
    counters[input + 1] = n;
    counters[input + 2] = tagBits;
    counters[input + 3] = offset;
    this.publish(Counter.Input, gen);
    for (let j = 0; j < world; j++) {
      await this.waitFor(j, Counter.Input, gen, 'reach the all-reduce', tag);
      const at = counterIndex(j, Counter.Input);
      if (counters[at + 1] !== n || counters[at + 2] !== tagBits || counters[at + 3] !== offset) {
        throw new Error(
          `${label}: ${peerName(j)} all-reduces ${counters[at + 1]} floats at offset ${counters[at + 3]}, tag ${counters[at + 2]}; ` +
            `${peerName(rank)} ${n} floats at offset ${offset}, tag ${tagBits}: the ranks are not in the same all-reduce`,
        );
      }
    }
    return gen;
  }

  /** Ends the current call: this rank has copied everything it needed from its peers. */
  finish(): void {
    this.publish(Counter.Gathered, this.generation);
  }

  /** Sets one of this rank's counters and wakes its waiters. */
  publish(c: Counter, value: number): void {
    this.mapped.native.publish(this.mapped.counters, counterIndex(this.mapped.rank, c), value);
  }

  /** Waits (spinning, then sleeping in short slices that let the event loop run) for a peer's counter to reach `target`. */
  async waitFor(peer: number, c: Counter, target: number, what: string, tag: number, hint = ''): Promise<void> {
    const { native, counters, spins, timeoutMs, label, peerName, rank } = this.mapped;
    const index = counterIndex(peer, c);
    if (native.waitAtLeast(counters, index, target, spins, 0)) return;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (native.waitAtLeast(counters, index, target, 0, WAIT_SLICE_MS)) return;
      if (this.broken) throw this.broken;
      if (performance.now() > deadline) {
        throw new Error(
          `${label}: ${peerName(peer)} did not ${what} (tag ${tag}) within ${timeoutMs} ms, seen from ${peerName(rank)}${hint}`,
        );
      }
      await new Promise((r) => setImmediate(r));
    }
  }

  private checkSize(floats: number): void {
    const capacity = this.own.length;
    if (!Number.isInteger(floats) || floats < 0 || floats > capacity) {
      throw new Error(`${this.mapped.label}: a buffer of ${floats} floats does not fit the segment (capacity ${capacity} floats)`);
    }
  }

  /** Marks the segment unusable (pending waits end within WAIT_SLICE_MS); the mapping goes with the object. */
  close(why = 'the shared-memory all-reduce was closed'): void {
    this.broken ??= new Error(why);
  }
}
