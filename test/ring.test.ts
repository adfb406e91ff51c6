/** Ring all-reduce over real ZeroMQ sockets, all ranks in this process (one event loop, real libzmq I/O). */
import { Ring, type RingOptions } from '../worker/ring/ring';
import { payloadBytesSent } from '../worker/ring/layout';
import { Rng, mixSeed } from '../shared/rng';

/** Binds and connects a ring of `world` ranks. */
async function makeRing(world: number, opts: Partial<RingOptions> = {}): Promise<Ring[]> {
  const rings = await Promise.all(Array.from({ length: world }, (_, rank) => Ring.bind({ rank, world, ...opts })));
  const endpoints = rings.map((r) => r.endpoint);
  await Promise.all(rings.map((r) => r.connect(endpoints)));
  return rings;
}

/** Rank r's input: seeded normals with a wide dynamic range, so summation order shows in the bits. */
function input(n: number, rank: number, seed: number): Float32Array {
  const rng = new Rng(mixSeed(seed, rank, n));
  return Float32Array.from({ length: n }, () => rng.normal() * Math.exp(rng.uniform(-8, 8)));
}

/** All-reduces fresh inputs on every rank; returns the results and the inputs. */
async function reduce(rings: Ring[], n: number, seed: number, tag = 7): Promise<{ outs: Float32Array[]; ins: Float32Array[] }> {
  const ins = rings.map((_, r) => input(n, r, seed));
  const outs = ins.map((x) => x.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduceSum(outs[r], tag)));
  return { outs, ins };
}

/** Checks against a float64 reference: error within fp32 rounding of a `world`-term sum. */
function expectNearReference(out: Float32Array, ins: Float32Array[]): void {
  const eps = 2 ** -24;
  for (let i = 0; i < out.length; i++) {
    let ref = 0;
    let mag = 0;
    for (const x of ins) {
      ref += x[i];
      mag += Math.abs(x[i]);
    }
    const tol = ins.length * eps * mag + 1e-45;
    if (!(Math.abs(out[i] - ref) <= tol)) throw new Error(`element ${i}: got ${out[i]}, reference ${ref}, tolerance ${tol}`);
  }
}

function expectBitwiseEqual(outs: Float32Array[]): void {
  const bits0 = new Uint32Array(outs[0].buffer, outs[0].byteOffset, outs[0].length);
  for (let r = 1; r < outs.length; r++) {
    expect(
      Buffer.compare(Buffer.from(new Uint32Array(outs[r].buffer, outs[r].byteOffset, outs[r].length).buffer), Buffer.from(bits0.buffer)),
    ).toBe(0);
  }
}

const closeAll = (rings: Ring[]) => Promise.all(rings.map((r) => r.close()));

describe('ring all-reduce, in-process ranks', () => {
  // Odd sizes: below the world size, not divisible by world or chunk, several chunks per segment.
  const sizes = [0, 1, 2, 3, 4, 5, 7, 31, 1000, 4099, 100003];

  for (const world of [1, 2, 3, 4, 5]) {
    test(`world ${world}: matches float64 reference, bitwise identical on every rank`, async () => {
      const rings = await makeRing(world, { chunkBytes: 4 * 1021, timeoutMs: 10000 });
      try {
        for (const n of sizes) {
          const { outs, ins } = await reduce(rings, n, 11);
          expectNearReference(outs[0], ins);
          expectBitwiseEqual(outs);
        }
      } finally {
        await closeAll(rings);
      }
    });
  }

  test("allReduceSum's timing splits waiting for a late rank from the whole call", async () => {
    const rings = await makeRing(2);
    try {
      const bufs = [new Float32Array(1000), new Float32Array(1000)];
      const early = rings[0].allReduceSum(bufs[0], 1);
      await new Promise((r) => setTimeout(r, 300));
      const [first, late] = await Promise.all([early, rings[1].allReduceSum(bufs[1], 1)]);
      expect(first.waitMs).toBeGreaterThanOrEqual(250);
      expect(first.totalMs).toBeGreaterThanOrEqual(first.waitMs);
      expect(late.waitMs).toBeLessThan(250);
    } finally {
      await closeAll(rings);
    }
  });

  test('a ring of one is a no-op and connect([]) is fine', async () => {
    const ring = await Ring.bind({ rank: 0, world: 1 });
    await ring.connect([]);
    const x = input(17, 0, 3);
    const y = x.slice();
    await ring.allReduceSum(y, 0);
    expect(y).toEqual(x);
    expect(ring.bytesSent).toBe(0);
    await ring.close();
  });

  test('same inputs give the same bits in every run, and across tcp and ipc', async () => {
    const results: Float32Array[] = [];
    for (const transport of ['tcp', 'ipc', 'auto', 'tcp'] as const) {
      const rings = await makeRing(3, { transport, chunkBytes: 4096 });
      try {
        expect(rings[0].endpoint.startsWith(transport === 'ipc' ? 'ipc://' : 'tcp://')).toBe(true);
        results.push((await reduce(rings, 50001, 5)).outs[1]);
      } finally {
        await closeAll(rings);
      }
    }
    expectBitwiseEqual(results);
  });

  test('one chunk per segment and a single big chunk (default chunkBytes) agree with the reference', async () => {
    const rings = await makeRing(4);
    try {
      const { outs, ins } = await reduce(rings, 300007, 9);
      expectNearReference(outs[2], ins);
      expectBitwiseEqual(outs);
    } finally {
      await closeAll(rings);
    }
  });

  test('bytesSent grows by exactly the payload of the schedule, bytesReduced by the buffer size', async () => {
    const rings = await makeRing(3, { chunkBytes: 4000 });
    try {
      await reduce(rings, 12345, 1);
      await reduce(rings, 10, 2);
      rings.forEach((r, rank) => {
        expect(r.bytesSent).toBe(payloadBytesSent(12345, 3, rank, 1000) + payloadBytesSent(10, 3, rank, 1000));
        expect(r.bytesReduced).toBe((12345 + 10) * 4);
      });
      const total = rings.reduce((s, r) => s + r.bytesSent, 0);
      expect(total).toBe(2 * 2 * (12345 + 10) * 4); // each rank-segment crosses 2(world-1) links
    } finally {
      await closeAll(rings);
    }
  });

  test('the buffer may be a subarray at any float offset, and is reusable right after return', async () => {
    const rings = await makeRing(2, { chunkBytes: 1024 });
    try {
      const backing = rings.map(() => new Float32Array(5003));
      const views = backing.map((b) => b.subarray(3, 5001));
      for (let round = 0; round < 3; round++) {
        const ins = views.map((_, r) => input(views[0].length, r, 100 + round));
        views.forEach((v, r) => v.set(ins[r]));
        await Promise.all(rings.map((ring, r) => ring.allReduceSum(views[r], round)));
        expectNearReference(views[0], ins);
        expectBitwiseEqual(views);
        backing.forEach((b) => b.fill(NaN)); // scribble at once: nothing may still be in flight from it
      }
    } finally {
      await closeAll(rings);
    }
  });
});

describe('back-to-back calls', () => {
  test('each rank runs its own loop of calls with no barrier between them: every result exact', async () => {
    const world = 3;
    const rings = await makeRing(world, { chunkBytes: 16 * 1024, timeoutMs: 10000 });
    try {
      const sizes = [50001, 50001, 7, 120000, 3, 50001, 80000, 80000];
      const ins = sizes.map((n, k) => rings.map((_, r) => input(n, r, 1000 + k)));
      const outs = ins.map((perRank) => perRank.map((x) => x.slice()));
      await Promise.all(
        rings.map(async (ring, r) => {
          for (let k = 0; k < sizes.length; k++) await ring.allReduceSum(outs[k][r], k);
        }),
      );
      sizes.forEach((_, k) => {
        expectNearReference(outs[k][0], ins[k]);
        expectBitwiseEqual(outs[k]);
      });
    } finally {
      await closeAll(rings);
    }
  });
});

describe('closing right after the last all-reduce', () => {
  test('a rank that closes as soon as its own call returns still lets its neighbours finish', async () => {
    for (let round = 0; round < 5; round++) {
      const rings = await makeRing(3, { chunkBytes: 64 * 1024, timeoutMs: 3000 });
      const ins = rings.map((_, r) => input(400003, r, round));
      const outs = ins.map((x) => x.slice());
      await Promise.all(rings.map((ring, r) => ring.allReduceSum(outs[r], 1).then(() => ring.close())));
      expectBitwiseEqual(outs);
    }
  });
});

describe('ring failures name the peer and do not hang', () => {
  test('a peer that never sends: error naming it within the timeout', async () => {
    const rings = await makeRing(2, { timeoutMs: 400 });
    try {
      const t0 = Date.now();
      await expect(rings[0].allReduceSum(new Float32Array(1000), 1)).rejects.toThrow(/no frame from rank 1 .*within 400 ms/);
      expect(Date.now() - t0).toBeLessThan(3000);
      await expect(rings[0].allReduceSum(new Float32Array(10), 2)).rejects.toThrow(/unusable after an earlier failure/);
    } finally {
      await closeAll(rings);
    }
  });

  test('a neighbour that never connects: connect times out naming it', async () => {
    const a = await Ring.bind({ rank: 0, world: 2, timeoutMs: 300 });
    const b = await Ring.bind({ rank: 1, world: 2, timeoutMs: 300 });
    try {
      await expect(a.connect([a.endpoint, b.endpoint])).rejects.toThrow(/no frame from rank 1 .*handshake/);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('tag mismatch throws naming the peer', async () => {
    const rings = await makeRing(2, { timeoutMs: 2000 });
    try {
      const results = await Promise.allSettled([
        rings[0].allReduceSum(new Float32Array(100), 5),
        rings[1].allReduceSum(new Float32Array(100), 6),
      ]);
      expect(results[0].status).toBe('rejected');
      expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/rank 1 .* sent tag \(step number\) 6, expected 5/);
      expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/rank 0 .* sent tag \(step number\) 5, expected 6/);
    } finally {
      await closeAll(rings);
    }
  });

  test('buffer length mismatch throws naming the peer', async () => {
    const rings = await makeRing(3, { timeoutMs: 2000 });
    try {
      const results = await Promise.allSettled(rings.map((r, rank) => r.allReduceSum(new Float32Array(rank === 2 ? 99 : 100), 1)));
      expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/rank 2 .* sent buffer length \(floats\) 99, expected 100/);
    } finally {
      await closeAll(rings);
    }
  });

  test('bad options and endpoints are refused with clear errors', async () => {
    await expect(Ring.bind({ rank: 2, world: 2 })).rejects.toThrow(/rank must be in \[0, 2\)/);
    await expect(Ring.bind({ rank: 0, world: 0 })).rejects.toThrow(/world must be a positive integer/);
    await expect(Ring.bind({ rank: 0, world: 2, host: '10.255.255.1' })).rejects.toThrow(/could not bind/);
    const r = await Ring.bind({ rank: 0, world: 2 });
    try {
      await expect(r.connect([r.endpoint])).rejects.toThrow(/got 1 endpoints for a ring of 2/);
      await expect(r.connect([r.endpoint, 'http://x'])).rejects.toThrow(/endpoint of rank 1 is malformed/);
    } finally {
      await r.close();
    }
  });
});
