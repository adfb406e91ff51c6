/** Sharding with fastai DistributedDL / DistributedSampler semantics. */
import { batches, batchesPerEpoch, epochOrder, remainingAfter, shard } from '../shared/sampler';

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

describe('epochOrder', () => {
  test('unshuffled is 0..n-1', () => {
    expect(epochOrder(5, 42, 3, false)).toEqual([0, 1, 2, 3, 4]);
  });
  test('shuffled is a permutation fixed by (seed, epoch) and different across epochs and seeds', () => {
    const a = epochOrder(100, 42, 0, true);
    expect([...a].sort((x, y) => x - y)).toEqual(range(0, 100));
    expect(epochOrder(100, 42, 0, true)).toEqual(a);
    expect(epochOrder(100, 42, 1, true)).not.toEqual(a);
    expect(epochOrder(100, 43, 0, true)).not.toEqual(a);
    expect(a).not.toEqual(range(0, 100));
  });
  test('bad counts are refused', () => {
    expect(() => epochOrder(-1, 0, 0, true)).toThrow(/sample count/);
  });
});

describe('shard (DistributedDL)', () => {
  test('reference vector: 50 items, bs 12, 4 ranks -> 13 items each (i*13.. mod 50), batches [12, 1]', () => {
    const order = range(0, 50);
    for (let r = 0; r < 4; r++) {
      const sh = shard(order, r, 4);
      expect(sh.indices).toEqual(range(r * 13, r * 13 + 13).map((i) => i % 50));
      expect(batches(sh, 12, false).map((b) => b.indices.length)).toEqual([12, 1]);
    }
    // 52 padded slots: the last rank holds 11 real samples and 2 repeats of the first ones.
    expect(shard(order, 3, 4)).toEqual({ indices: [...range(39, 50), 0, 1], real: 11 });
    expect(batches(shard(order, 3, 4), 12, false).map((b) => b.real)).toEqual([11, 0]);
    expect(batches(shard(order, 0, 4), 12, false).map((b) => b.real)).toEqual([12, 1]);
  });
  test('padding repeats the order cyclically from its start, also when n < world', () => {
    const order = [7, 3, 5];
    const shards = range(0, 8).map((r) => shard(order, r, 8));
    expect(shards.map((s) => s.indices)).toEqual([[7], [3], [5], [7], [3], [5], [7], [3]]);
    expect(shards.map((s) => s.real)).toEqual([1, 1, 1, 0, 0, 0, 0, 0]);
  });
  test('property: equal shard sizes, every sample exactly once among the real entries, padding only duplicates', () => {
    for (const n of [1, 2, 7, 50, 97, 128]) {
      for (const world of [1, 2, 3, 4, 5, 8]) {
        const order = epochOrder(n, 11, n + world, true);
        const shards = range(0, world).map((r) => shard(order, r, world));
        const per = Math.ceil(n / world);
        const real: number[] = [];
        for (const s of shards) {
          expect(s.indices).toHaveLength(per);
          real.push(...s.indices.slice(0, s.real));
          for (const i of s.indices.slice(s.real)) expect(order).toContain(i);
        }
        expect(real).toEqual(order); // contiguous slices, in order, nothing lost or doubled
        expect(shards.reduce((t, s) => t + s.indices.length - s.real, 0)).toBe(per * world - n);
      }
    }
  });
  test('an empty dataset gives empty shards; bad rank/world are refused', () => {
    expect(shard([], 0, 2)).toEqual({ indices: [], real: 0 });
    expect(() => shard([1, 2], 2, 2)).toThrow(/rank 2 is outside 0..1/);
    expect(() => shard([1, 2], 0, 0)).toThrow(/world size/);
  });
});

describe('batches', () => {
  test('dropLast drops the short final batch (train), keeps it otherwise (valid)', () => {
    const sh = { indices: range(0, 25), real: 25 };
    expect(batches(sh, 10, true).map((b) => b.indices)).toEqual([range(0, 10), range(10, 20)]);
    expect(batches(sh, 10, false).map((b) => b.indices.length)).toEqual([10, 10, 5]);
    expect(() => batches(sh, 0, false)).toThrow(/batch size/);
  });
  test('real counts split across batches', () => {
    const sh = { indices: range(0, 13), real: 11 };
    expect(batches(sh, 5, false).map((b) => b.real)).toEqual([5, 5, 1]);
    expect(batches(sh, 12, true).map((b) => b.real)).toEqual([11]);
  });
  test('batchesPerEpoch agrees with the batches every rank gets', () => {
    for (const [n, bs, world] of [
      [50, 12, 4],
      [5912, 64, 2],
      [100, 10, 3],
      [7, 4, 8],
    ]) {
      for (const dropLast of [true, false]) {
        const counts = range(0, world).map((r) => batches(shard(range(0, n), r, world), bs, dropLast).length);
        expect(new Set(counts).size).toBe(1);
        expect(batchesPerEpoch(n, bs, world, dropLast)).toBe(counts[0]);
      }
    }
    expect(batchesPerEpoch(5912, 64, 1, true)).toBe(92); // pets: N = 92
  });
});

describe('remainingAfter (Note [resize])', () => {
  test('no stretch leaves the whole order; a stretch takes the first iters*bs of each shard', () => {
    const order = [9, 3, 7, 1, 5, 0, 8, 2, 6, 4];
    expect(remainingAfter(order, [], 2)).toEqual(order);
    // 2 shards of 5: [9, 3, 7, 1, 5] and [0, 8, 2, 6, 4]; one batch of 2 from each.
    expect(remainingAfter(order, [{ world: 2, iters: 1 }], 2)).toEqual([7, 1, 5, 2, 6, 4]);
    // With batches of 1: [9] and [0] first, then 3 shards of [3, 7, 1, 5, 8, 2, 6, 4] (the last padded) give 3, 5 and 6.
    expect(
      remainingAfter(
        order,
        [
          { world: 2, iters: 1 },
          { world: 3, iters: 1 },
        ],
        1,
      ),
    ).toEqual([7, 1, 8, 2, 4]);
  });

  test('what the stretches trained on and what is left cover the epoch once', () => {
    const order = epochOrder(97, 3, 1, true);
    const stretches = [
      { world: 4, iters: 3 },
      { world: 2, iters: 5 },
    ];
    const left = remainingAfter(order, stretches, 4);
    const trained = new Set<number>();
    let rest = order;
    for (const { world, iters } of stretches) {
      for (let r = 0; r < world; r++) for (const i of shard(rest, r, world).indices.slice(0, iters * 4)) trained.add(i);
      rest = rest.filter((i) => !trained.has(i));
    }
    expect(trained.size).toBe(4 * 3 * 4 + 2 * 5 * 4);
    expect(left.length).toBe(97 - trained.size);
    expect(new Set([...trained, ...left]).size).toBe(97);
    expect(left).toEqual(order.filter((i) => !trained.has(i)));
  });
});
