/** Shared-memory all-reduce: its layout (pure), and ranks in separate processes sharing a real segment. */
import { existsSync } from 'fs';
import { referenceSum } from './helpers/ring-peer';
import { RingPeerGroup } from './helpers/ring-peer-group';
import { ShmAllReduce } from '../worker/shm/allreduce';
import { Counter, counterIndex, LINE_INTS, ownedSlice, segmentLayout } from '../worker/shm/layout';
import { shmNative, shmUnavailable } from '../worker/shm/native';

describe('shm layout', () => {
  test('owned slices tile the buffer, in rank order, sizes within one of each other', () => {
    for (const n of [0, 1, 3, 4, 5, 17, 70001]) {
      for (let world = 1; world <= 5; world++) {
        let at = 0;
        const sizes: number[] = [];
        for (let r = 0; r < world; r++) {
          const s = ownedSlice(n, world, r);
          expect(s.start).toBe(at);
          sizes.push(s.end - s.start);
          at = s.end;
        }
        expect(at).toBe(n);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        expect(sizes[0]).toBe(Math.max(...sizes)); // ShmAllReduce counts blocks from slice 0
      }
    }
  });

  test('every counter has its own cache line; regions are page-aligned and hold the capacity', () => {
    const world = 5;
    const seen = new Set<number>();
    for (let r = 0; r < world; r++) {
      for (const c of [Counter.Attached, Counter.Input, Counter.Reduced, Counter.Gathered]) {
        const i = counterIndex(r, c);
        expect(i % LINE_INTS).toBe(0);
        seen.add(i);
      }
    }
    expect(seen.size).toBe(4 * world);
    const l = segmentLayout(world, 1000);
    expect(l.controlBytes).toBeGreaterThanOrEqual((Math.max(...seen) + LINE_INTS) * 4);
    expect(l.controlBytes % 4096).toBe(0);
    expect(l.regionBytes % 4096).toBe(0);
    expect(l.regionBytes).toBeGreaterThanOrEqual(4000);
    expect(l.totalBytes).toBe(l.controlBytes + world * l.regionBytes);
    expect(() => segmentLayout(0, 10)).toThrow(/world/);
    expect(() => segmentLayout(2, -1)).toThrow(/capacity/);
  });
});

const native = shmNative().native;
const describeShm = native ? describe : describe.skip;
if (!native) console.warn(`shm all-reduce tests skipped: ${shmNative().reason}`);

let names = 0;
const segmentName = () => `/ringtune-test-${process.pid}-${names++}`;

describeShm('shm all-reduce across processes', () => {
  // Small blocks so that even small buffers run the pipelined path across several blocks.
  for (const [world, spins, blockFloats] of [
    [1, 0, 1000],
    [2, 50000, 1000],
    [3, 0, 7],
    [4, 0, 4096],
    [5, 100, 1000],
  ] as const) {
    test(`${world} processes (spins ${spins}, blocks of ${blockFloats}): odd sizes, reference sum, identical bits on every rank`, async () => {
      const name = segmentName();
      const group = await RingPeerGroup.start(world, { timeoutMs: 10000 }, 60000, { name, capacity: 70001, spins, blockFloats });
      try {
        expect(existsSync(`/dev/shm${name}`)).toBe(false); // unlinked once every rank mapped it
        for (const [floats, scale, buckets] of [
          [70001, 1, 1],
          [3, 0.5, 1],
          [1, 1, 1],
          [0, 1, 1],
          [4099, 1 / world, 1],
          [70001, 1, 3],
        ] as const) {
          const replies = await group.request(() => ({ type: 'check', floats, seed: floats, tag: floats, scale, buckets }));
          const bits = replies.map((r) => (r as { bits: string }).bits);
          expect(new Set(bits).size).toBe(1);
          const out = new Float32Array(Uint8Array.from(Buffer.from(bits[0], 'base64')).buffer);
          expect(out.length).toBe(floats);
          const { sum, mag } = referenceSum(floats, world, floats, scale);
          for (let i = 0; i < floats; i++) {
            if (!(Math.abs(out[i] - sum[i]) <= (world + 1) * 2 ** -24 * mag[i])) throw new Error(`element ${i}: ${out[i]} vs ${sum[i]}`);
          }
        }
      } finally {
        await group.close();
      }
    });
  }

  test('the same inputs give the same bits in a second run', async () => {
    const run = async () => {
      const group = await RingPeerGroup.start(3, { timeoutMs: 10000 }, 60000, { name: segmentName(), capacity: 5000, blockFloats: 333 });
      try {
        return ((await group.request(() => ({ type: 'check', floats: 5000, seed: 9, tag: 1 })))[0] as { bits: string }).bits;
      } finally {
        await group.close();
      }
    };
    expect(await run()).toBe(await run());
  });

  test('ranks that disagree on the buffer length fail naming the other rank, nothing hangs', async () => {
    const group = await RingPeerGroup.start(2, { timeoutMs: 3000 }, 60000, { name: segmentName(), capacity: 100 });
    const replies = await group.requestSettled((rank) => ({ type: 'check', floats: 50 + rank, seed: 1, tag: 7 }));
    expect(replies[0]).toMatchObject({
      type: 'error',
      message: expect.stringMatching(/rank 1 all-reduces 51 floats at offset 0, tag 7; rank 0 50 floats/),
    });
    expect(replies[1]).toMatchObject({
      type: 'error',
      message: expect.stringMatching(/rank 0 all-reduces 50 floats at offset 0, tag 7; rank 1 51 floats/),
    });
    await group.close().catch(() => undefined);
  });

  test('a buffer larger than the segment is refused with both sizes', async () => {
    const group = await RingPeerGroup.start(2, { timeoutMs: 3000 }, 60000, { name: segmentName(), capacity: 100 });
    const replies = await group.requestSettled(() => ({ type: 'check', floats: 101, seed: 1, tag: 1 }));
    for (const r of replies)
      expect(r).toMatchObject({ type: 'error', message: expect.stringMatching(/101 floats does not fit .*capacity 100/) });
    await group.close().catch(() => undefined);
  });

  test('a rank killed with SIGKILL: the others fail naming it within the timeout', async () => {
    const group = await RingPeerGroup.start(3, { timeoutMs: 800 }, 60000, { name: segmentName(), capacity: 1000 });
    process.kill(group.pids[1], 'SIGKILL');
    const t0 = Date.now();
    const replies = await group.requestSettled(() => ({ type: 'check', floats: 1000, seed: 1, tag: 5 }));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(replies[1]).toMatchObject({ type: 'error', message: expect.stringMatching(/rank 1 exited|rank 1 is not running/) });
    for (const r of [replies[0], replies[2]]) {
      expect(r).toMatchObject({
        type: 'error',
        message: expect.stringMatching(/rank 1 did not reach the all-reduce \(tag 5\) within 800 ms/),
      });
    }
    await group.close().catch(() => undefined);
  });

  test('a segment /dev/shm cannot hold is refused when mapped, naming the rank, and leaves nothing behind', async () => {
    const name = segmentName();
    await expect(ShmAllReduce.attach({ rank: 1, world: 2, name, capacity: 2 ** 40, timeoutMs: 300 })).rejects.toThrow(
      /rank 1: cannot reserve shared memory \(is \/dev\/shm large enough\?\) \/ringtune-test-/,
    );
    expect(existsSync(`/dev/shm${name}`)).toBe(false);
  });

  test('a rank whose peers never attach fails naming them, and leaves no segment behind', async () => {
    const name = segmentName();
    await expect(ShmAllReduce.attach({ rank: 0, world: 2, name, capacity: 10, timeoutMs: 300 })).rejects.toThrow(
      /rank 1 did not attach to shared memory .* within 300 ms.*--allreduce ring/,
    );
    expect(existsSync(`/dev/shm${name}`)).toBe(false);
  });

  test('too little room in /dev/shm is reported up front (so the coordinator picks the ring), enough is not', () => {
    expect(shmUnavailable(1)).toBe('');
    expect(shmUnavailable(2 ** 60)).toMatch(/^\/dev\/shm has \d+ MiB free, the all-reduce needs \d+ MiB \(Docker: --shm-size\)$/);
    expect(shmUnavailable(1, '/no/such/dir')).toMatch(/cannot read the free space of \/no\/such\/dir/);
  });

  test("allReduceSum's timing splits waiting for a late rank from the whole call", async () => {
    const name = segmentName();
    const ranks = await Promise.all([0, 1].map((rank) => ShmAllReduce.attach({ rank, world: 2, name, capacity: 1000, timeoutMs: 5000 })));
    try {
      const early = ranks[0].allReduceSum(ranks[0].buffer(1000), 1);
      await new Promise((r) => setTimeout(r, 300));
      const [first, late] = await Promise.all([early, ranks[1].allReduceSum(ranks[1].buffer(1000), 1)]);
      expect(first.waitMs).toBeGreaterThanOrEqual(250);
      expect(first.totalMs).toBeGreaterThanOrEqual(first.waitMs);
      expect(late.waitMs).toBeLessThan(250);
    } finally {
      await Promise.all(ranks.map((r) => r.close()));
    }
  });

  test('a bad segment name or rank is refused before anything is mapped', async () => {
    await expect(ShmAllReduce.attach({ rank: 0, world: 2, name: 'no-slash', capacity: 10 })).rejects.toThrow(/segment name/);
    await expect(ShmAllReduce.attach({ rank: 2, world: 2, name: segmentName(), capacity: 10 })).rejects.toThrow(/rank must be in \[0, 2\)/);
  });
});
