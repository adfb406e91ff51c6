/**
 * Hierarchical all-reduce, for ranks on several hosts with several ranks on some host (who owns
 * what: Note [hierarchical slices] in shared/hier-plan.ts). One call:
 *   1. every rank of a host publishes its input in the host's shared-memory segment (enter);
 *   2. the owner of slice k on the host sums slice k of every region of the host, in local rank
 *      order, into its own region;
 *   3. it all-reduces that partial sum with slice k's owners on the other hosts around slice k's
 *      ZeroMQ ring (wire format, fp32 sums and the scale are the ring's), all its slices at once;
 *   4. it publishes "reduced" and every other rank of the host copies slice k from its region;
 *   5. every rank publishes "gathered" (finish).
 * Each float is computed once, by one ring member, and copied bit for bit everywhere else, in an
 * order fixed by the plan: bitwise identical on every rank and in every run.
 *
 * Note [who may write when] of the flat shared-memory all-reduce holds here too: in step 2 a rank
 * writes only the slices it owns in its own region, which the other owners do not read; in step 4
 * it writes slice k only after k's owner published "reduced", i.e. after that owner read it; and
 * its own slices stay exposed to its host's copies after the call, so the caller must prepare()
 * before writing its buffer again. A rank alone on its host has no segment: its buffer is plain
 * memory and it owns (and rings) every slice.
 */
import type { AllReduce, AllReduceTiming } from '../allreduce';
import { Ring, type RingOptions } from '../ring/ring';
import { summableFloats } from '../reduce/add';
import { Counter, ownedSlice } from '../shm/layout';
import { ShmSegment, type SegmentOptions } from '../shm/segment';
import type { HierPlacement } from '../../shared/hier-plan';

/** How a rank joins the hierarchical all-reduce. */
export interface HierOptions {
  placement: HierPlacement;
  /** The host's segment (its name must differ from every other host's: /dev/shm may be shared). */
  shm: Pick<SegmentOptions, 'name' | 'capacity' | 'timeoutMs' | 'spins'>;
  /** The cross-host rings' settings: interface, keys, wire format, timeout (ring rank = host index). */
  ring: Omit<RingOptions, 'rank' | 'world' | 'peerName'>;
}

/** One slice's ring as the coordinator wires it: its members' ranks and endpoints, in host order. */
export interface SliceRing {
  slice: number;
  ranks: number[];
  endpoints: string[];
}

const LABEL = 'hierarchical all-reduce';

/** One rank of a hierarchical all-reduce. */
export class HierAllReduce implements AllReduce {
  readonly kind = 'hier';
  private plainBytes = 0;

  private constructor(
    private readonly placement: HierPlacement,
    /** The host's segment; null for a rank alone on its host. */
    private readonly local: ShmSegment | null,
    /** One per owned slice, in the order of placement.owned. */
    private readonly rings: Ring[],
  ) {}

  /** Maps the host's segment (waiting for its other ranks) and binds one ring socket per owned slice. */
  static async create(o: HierOptions): Promise<HierAllReduce> {
    const p = o.placement;
    const where = (j: number) => `rank ${p.hostRanks[j]} (local rank ${j} on host ${p.host})`;
    const local =
      p.localWorld > 1
        ? await ShmSegment.attach({ ...o.shm, rank: p.localRank, world: p.localWorld, peerName: where, label: LABEL })
        : null;
    const rings: Ring[] = [];
    try {
      for (const k of p.owned)
        rings.push(await Ring.bind({ ...o.ring, rank: p.host, world: p.hosts, peerName: (h) => `host ${h}'s owner of slice ${k}` }));
    } catch (e) {
      local?.close();
      await Promise.all(rings.map((r) => r.close()));
      throw e;
    }
    return new HierAllReduce(p, local, rings);
  }

  /** What the other hosts' members of this rank's rings connect to, one per owned slice. */
  get endpoints(): string[] {
    return this.rings.map((r) => r.endpoint);
  }

  /** Connects every owned slice's ring (each given with its members, in host order). */
  async connect(rings: SliceRing[]): Promise<void> {
    const { owned, host } = this.placement;
    if (rings.length !== owned.length || rings.some((r, i) => r.slice !== owned[i]))
      throw new Error(`${LABEL}: got rings for slices [${rings.map((r) => r.slice)}], this rank owns [${owned}]`);
    await Promise.all(
      rings.map((r, i) =>
        this.rings[i]
          .connect(r.endpoints, (h) => `rank ${r.ranks[h]} (host ${h}'s owner of slice ${r.slice})`)
          .catch((e: Error) => {
            throw new Error(`${LABEL}: slice ${r.slice}'s ring on host ${host}: ${e.message}`);
          }),
      ),
    );
  }

  get bytesReduced(): number {
    return this.local ? this.local.bytesReduced : this.plainBytes;
  }

  /** This rank's region of its host's segment (prepare() before each refill), or plain memory when alone on its host. */
  buffer(floats: number): Float32Array {
    return this.local ? this.local.buffer(floats) : summableFloats(floats);
  }

  /** Waits until the host's other ranks have copied this rank's slices of the last call. */
  async prepare(): Promise<void> {
    await this.local?.prepare();
  }

  /** See AllReduce.allReduceSum; `waitMs` adds the wait for the host's ranks and the longest wait for a ring's first frame. */
  allReduceSum(buf: Float32Array, tag: number, scale = 1): Promise<AllReduceTiming> {
    if (this.local) return this.local.call(buf, (offset) => this.collective(this.local!, offset, buf.length, tag, scale));
    this.plainBytes += buf.byteLength;
    const t0 = performance.now();
    return this.acrossHosts((k) => this.sliceOf(buf, 0, buf.length, k), tag, scale).then((waitMs) => ({
      waitMs,
      totalMs: performance.now() - t0,
    }));
  }

  /** Steps 1-5 (see the top) on floats [offset, offset + n) of every region of the host. */
  private async collective(seg: ShmSegment, offset: number, n: number, tag: number, scale: number): Promise<AllReduceTiming> {
    const { native, regions, rank } = seg.mapped;
    const { owned, slices, localWorld } = this.placement;
    const t0 = performance.now();
    const gen = await seg.enter(n, tag, offset);
    const hostWaitMs = performance.now() - t0;
    for (const k of owned) {
      const own = this.sliceOf(regions[rank], offset, n, k);
      native.sumInto(
        own,
        regions.map((r) => this.sliceOf(r, offset, n, k)),
        1,
      );
    }
    const ringWaitMs = await this.acrossHosts((k) => this.sliceOf(regions[rank], offset, n, k), tag, scale);
    seg.publish(Counter.Reduced, gen);
    for (let k = 0; k < slices; k++) {
      const owner = k % localWorld;
      if (owner === rank) continue;
      await seg.waitFor(owner, Counter.Reduced, gen, `finish slice ${k}`, tag);
      this.sliceOf(regions[rank], offset, n, k).set(this.sliceOf(regions[owner], offset, n, k));
    }
    seg.finish();
    return { waitMs: hostWaitMs + ringWaitMs, totalMs: performance.now() - t0 };
  }

  /** Runs every owned slice's ring on its part of the data at once; resolves with the longest wait for a first frame. */
  private async acrossHosts(part: (slice: number) => Float32Array, tag: number, scale: number): Promise<number> {
    const timings = await Promise.all(this.placement.owned.map((k, i) => this.rings[i].allReduceSum(part(k), tag, scale)));
    return Math.max(0, ...timings.map((t) => t.waitMs));
  }

  /** Slice k of the n floats at `offset` in `region`. */
  private sliceOf(region: Float32Array, offset: number, n: number, k: number): Float32Array {
    const s = ownedSlice(n, this.placement.slices, k);
    return region.subarray(offset + s.start, offset + s.end);
  }

  /** Closes the rings (pending waits fail) and marks the segment unusable. */
  async close(): Promise<void> {
    this.local?.close();
    await Promise.all(this.rings.map((r) => r.close()));
  }
}
