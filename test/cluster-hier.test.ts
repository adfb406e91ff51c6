/**
 * The hierarchical all-reduce across simulated hosts (network + UTS namespaces, test/helpers/sim-hosts.ts):
 * ranks are separate processes, each host's ranks share a real shared-memory segment, slices cross
 * hosts over real TCP between the namespaces. 2 hosts x 2 ranks and 3 uneven hosts (2 + 1 + 2):
 * every rank ends with the same bits, every run with the same bits, the sum is the single-host
 * (shared-memory) result within fp32 rounding, bf16/fp16 apply to the cross-host part, and a rank
 * killed on the second host makes the others fail naming it, within the timeout.
 * Runs under `npm run test:cluster` as root; skips with the reason otherwise.
 */
import { referenceSum } from './helpers/ring-peer';
import { RingPeerGroup } from './helpers/ring-peer-group';
import { SimulatedHosts, simHostsUnavailable } from './helpers/sim-hosts';
import { shmNative } from '../worker/shm/native';
import type { RingOptions } from '../worker/ring/ring';

const skip = simHostsUnavailable() ?? (shmNative().native ? null : shmNative().reason);
if (skip) console.warn(`cluster-hier: skipped: ${skip}`);
const maybe = skip ? describe.skip : describe;

const CAPACITY = 70001;
/** Buffer sizes (with the scale and the number of buckets they are cut into): odd, tiny, empty, fewer floats than slices. */
const CASES = [
  [70001, 1, 1],
  [4099, 0.25, 3],
  [3, 0.5, 1],
  [1, 1, 1],
  [0, 1, 1],
] as const;

let names = 0;
const segmentName = () => `/ringtune-hiertest-${process.pid}-${names++}`;

/** Every rank's result of one check, asserting they are bitwise identical; returns the floats. */
async function check(group: RingPeerGroup, floats: number, scale: number, buckets: number, seed = floats): Promise<Float32Array> {
  const replies = await group.request(() => ({ type: 'check', floats, seed, tag: floats + 1, scale, buckets }));
  const bits = replies.map((r) => (r as { bits: string }).bits);
  expect(new Set(bits).size).toBe(1);
  return new Float32Array(Uint8Array.from(Buffer.from(bits[0], 'base64')).buffer);
}

/** Asserts |out - sum| <= (world + 1) 2^-24 of the magnitudes' sum, element by element: fp32 rounding of any summation order. */
function expectWithinRounding(out: Float32Array, floats: number, world: number, scale: number): void {
  const { sum, mag } = referenceSum(floats, world, floats, scale);
  expect(out.length).toBe(floats);
  for (let i = 0; i < floats; i++) {
    if (!(Math.abs(out[i] - sum[i]) <= (world + 1) * 2 ** -24 * mag[i])) throw new Error(`element ${i}: ${out[i]} vs ${sum[i]}`);
  }
}

maybe('hierarchical all-reduce across simulated hosts', () => {
  let sim: SimulatedHosts;
  beforeAll(async () => {
    sim = await SimulatedHosts.create(3, 'hier');
  }, 60_000);
  afterAll(async () => {
    await sim?.destroy();
  });

  const hier = (hostOf: number[], ring: Omit<RingOptions, 'rank' | 'world' | 'host'> = {}) =>
    RingPeerGroup.startOnHosts({ sim, hostOf, ring: { timeoutMs: 10000, ...ring }, hier: { shmName: segmentName(), capacity: CAPACITY } });

  for (const hostOf of [
    [0, 0, 1, 1],
    [0, 1, 0, 2, 2],
  ]) {
    const layout = `${new Set(hostOf).size} hosts x (${[...new Set(hostOf)].map((h) => hostOf.filter((x) => x === h).length).join(' + ')})`;
    test(`${layout} ranks: identical bits on every rank, the single-host sum within fp32 rounding, the same bits again`, async () => {
      const world = hostOf.length;
      const single = await RingPeerGroup.start(world, { timeoutMs: 10000 }, 60000, { name: segmentName(), capacity: CAPACITY });
      const flat: Float32Array[] = [];
      try {
        for (const [floats, scale, buckets] of CASES) flat.push(await check(single, floats, scale, buckets));
      } finally {
        await single.close();
      }
      const first: Float32Array[] = [];
      const group = await hier(hostOf);
      try {
        for (const [i, [floats, scale, buckets]] of CASES.entries()) {
          const out = await check(group, floats, scale, buckets);
          expectWithinRounding(out, floats, world, scale);
          // Another summation order than the single host's, each within rounding of the exact sum.
          const { mag } = referenceSum(floats, world, floats, scale);
          for (let j = 0; j < floats; j++) {
            if (!(Math.abs(out[j] - flat[i][j]) <= 2 * (world + 1) * 2 ** -24 * mag[j]))
              throw new Error(`element ${j}: ${out[j]} vs ${flat[i][j]}`);
          }
          first.push(out);
        }
      } finally {
        await group.close();
      }
      const again = await hier(hostOf);
      try {
        for (const [i, [floats, scale, buckets]] of CASES.entries())
          expect(Buffer.from((await check(again, floats, scale, buckets)).buffer)).toEqual(Buffer.from(first[i].buffer));
      } finally {
        await again.close();
      }
    }, 180_000);
  }

  test('bf16 and fp16 on the cross-host part: identical bits everywhere, within the wire format of the exact sum', async () => {
    for (const [wire, bits] of [
      ['bf16', 8],
      ['fp16', 11],
    ] as const) {
      const group = await hier([0, 0, 1, 2, 2], { wire });
      try {
        const out = await check(group, 4099, 0.2, 2);
        // Each host's partial sum and every ring hop round to the wire format (fp16 per frame, scaled
        // to the frame's largest value): a few of its ulps of the largest magnitude, not fp32's.
        const { sum, mag } = referenceSum(4099, 5, 4099, 0.2);
        const bound = 6 * 2 ** -bits * Math.max(...mag);
        out.forEach((x, i) => {
          if (!(Math.abs(x - sum[i]) <= bound)) throw new Error(`${wire} element ${i}: ${x} vs ${sum[i]} (bound ${bound})`);
        });
        expect(Math.max(...out.map((x, i) => Math.abs(x - sum[i])))).toBeGreaterThan(0); // the wire format did round
      } finally {
        await group.close();
      }
    }
  }, 120_000);

  test('a rank killed on the second host: the others fail naming a peer, within the timeout', async () => {
    const group = await hier([0, 0, 1, 1], { timeoutMs: 1500 });
    try {
      await check(group, 1000, 1, 1);
      process.kill(group.pids[3], 'SIGKILL');
      const t0 = Date.now();
      const replies = await group.requestSettled(() => ({ type: 'check', floats: 1000, seed: 1, tag: 9 }));
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(replies[3]).toMatchObject({ type: 'error', message: expect.stringMatching(/rank 3 exited|rank 3 is not running/) });
      // Rank 2 shares host 1 with the dead rank; ranks 0 and 1 wait on it across hosts or on a host peer that does.
      expect(replies[2]).toMatchObject({
        type: 'error',
        message: expect.stringMatching(/rank 3 \(local rank 1 on host 1\) did not reach the all-reduce \(tag 9\)/),
      });
      for (const r of [replies[0], replies[1]])
        expect(r).toMatchObject({
          type: 'error',
          message: expect.stringMatching(/hierarchical all-reduce: rank \d|ring: no frame from rank \d/),
        });
    } finally {
      await group.close().catch(() => undefined);
    }
  }, 60_000);
});
