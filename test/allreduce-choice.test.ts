/** The coordinator's choice between shared memory, the hierarchical all-reduce and the ZeroMQ ring, and the hierarchical plan. */
import { chooseAllReduce } from '../shared/allreduce-choice';
import { hierPlan, rankOrder } from '../shared/hier-plan';

const on = (n: number, host = 'h/boot', shmUnavailable = '') => Array.from({ length: n }, () => ({ host, shmUnavailable }));

describe('chooseAllReduce', () => {
  test('auto: shared memory when every worker is on one host and can map it', () => {
    expect(chooseAllReduce('auto', on(3), 'f32')).toEqual({ kind: 'shm', reason: 'all 3 workers on one host' });
  });

  test('auto: hierarchical across hosts when some host has several workers, whatever the wire dtype', () => {
    expect(chooseAllReduce('auto', [...on(1, 'a/1'), ...on(2, 'b/1')], 'f32')).toEqual({
      kind: 'hier',
      reason: '2 hosts (1 + 2 workers): shared memory within each host, one ZeroMQ ring per slice across hosts (f32 on the wire)',
    });
    expect(chooseAllReduce('auto', [...on(2, 'a/1'), ...on(2, 'b/1')], 'bf16')).toMatchObject({
      kind: 'hier',
      reason: expect.stringMatching(/^2 hosts \(2 \+ 2 workers\): .*\(bf16 on the wire\)$/),
    });
    // A lone worker on its host needs no shared memory.
    expect(chooseAllReduce('auto', [...on(1, 'a/1', 'no addon'), ...on(2, 'b/1')], 'f32').kind).toBe('hier');
  });

  test('auto: the flat ring for a lone worker, one worker per host, a ring wire dtype on one host, or a worker lacking the addon', () => {
    expect(chooseAllReduce('auto', on(1), 'f32')).toMatchObject({ kind: 'ring', reason: expect.stringMatching(/one worker/) });
    expect(chooseAllReduce('auto', [...on(1, 'a/1'), ...on(1, 'b/1'), ...on(1, 'c/1')], 'f32')).toEqual({
      kind: 'ring',
      reason: 'one worker on each of 3 hosts (1 + 1 + 1 workers): nothing to share within a host',
    });
    expect(chooseAllReduce('auto', on(2), 'bf16')).toMatchObject({ kind: 'ring', reason: expect.stringMatching(/--grad-dtype bf16/) });
    expect(chooseAllReduce('auto', [...on(1), ...on(1, 'h/boot', 'RINGTUNE_NO_SHM=1')], 'f32')).toMatchObject({
      kind: 'ring',
      reason: 'worker rank 1 cannot map shared memory (RINGTUNE_NO_SHM=1)',
    });
    expect(chooseAllReduce('auto', [...on(2, 'a/1'), ...on(1, 'b/1'), ...on(1, 'b/1', 'no room')], 'f32')).toEqual({
      kind: 'ring',
      reason: 'the 4 workers are on 2 hosts (2 + 2 workers) and worker rank 3 cannot map shared memory (no room)',
    });
  });

  test('ring is always honoured; shm and hier refuse what they cannot do, naming the flag and why', () => {
    expect(chooseAllReduce('ring', on(2), 'f32').kind).toBe('ring');
    expect(() => chooseAllReduce('shm', [...on(1, 'a/1'), ...on(1, 'b/1')], 'f32')).toThrow(
      /--allreduce shm cannot be used: the 2 workers are on 2 hosts \(--allreduce hier shares memory within each\)/,
    );
    expect(() => chooseAllReduce('shm', on(2), 'fp16')).toThrow(/--allreduce shm cannot be used: --grad-dtype fp16/);
    expect(() => chooseAllReduce('shm', [...on(1), ...on(1, 'h/boot', 'no addon')], 'f32')).toThrow(
      /rank 1 cannot map shared memory \(no addon\)/,
    );
    expect(chooseAllReduce('shm', on(2), 'f32').kind).toBe('shm');
    expect(() => chooseAllReduce('hier', [...on(2, 'a/1', 'no addon'), ...on(2, 'b/1')], 'f32')).toThrow(
      /--allreduce hier cannot be used: the 4 workers are on 2 hosts \(2 \+ 2 workers\) and worker rank 0 cannot map shared memory \(no addon\)/,
    );
    expect(chooseAllReduce('hier', on(2), 'f32')).toMatchObject({ kind: 'shm', reason: expect.stringMatching(/is the shared-memory one/) });
    expect(chooseAllReduce('hier', [...on(1, 'a/1'), ...on(1, 'b/1')], 'fp16').kind).toBe('ring');
  });
});

describe('hierPlan', () => {
  test('2 hosts x 2 ranks, ranks interleaved: hosts in order of their lowest rank, one slice per local rank', () => {
    const { placements, ringMembers } = hierPlan(['a', 'b', 'a', 'b']);
    expect(placements).toEqual([
      { host: 0, hosts: 2, localRank: 0, localWorld: 2, slices: 2, owned: [0], hostRanks: [0, 2] },
      { host: 1, hosts: 2, localRank: 0, localWorld: 2, slices: 2, owned: [0], hostRanks: [1, 3] },
      { host: 0, hosts: 2, localRank: 1, localWorld: 2, slices: 2, owned: [1], hostRanks: [0, 2] },
      { host: 1, hosts: 2, localRank: 1, localWorld: 2, slices: 2, owned: [1], hostRanks: [1, 3] },
    ]);
    expect(ringMembers).toEqual([
      [0, 1],
      [2, 3],
    ]);
  });

  test('uneven hosts (2 + 1 + 2, and 3 + 2): slices round-robin, a smaller host owns several per rank', () => {
    const uneven = hierPlan(['a', 'a', 'b', 'c', 'c']);
    expect(uneven.placements.map((p) => [p.host, p.localRank, p.owned])).toEqual([
      [0, 0, [0]],
      [0, 1, [1]],
      [1, 0, [0, 1]],
      [2, 0, [0]],
      [2, 1, [1]],
    ]);
    expect(uneven.ringMembers).toEqual([
      [0, 2, 3],
      [1, 2, 4],
    ]);
    const big = hierPlan(['x', 'x', 'x', 'y', 'y']);
    expect(big.placements.map((p) => p.owned)).toEqual([[0], [1], [2], [0, 2], [1]]);
    expect(big.ringMembers).toEqual([
      [0, 3],
      [1, 4],
      [2, 3],
    ]);
  });

  test('every slice has exactly one owner per host, and each ring lists its owners in host order', () => {
    for (const hosts of [['a'], ['a', 'b'], ['a', 'a', 'b', 'c', 'c', 'c', 'c'], ['p', 'q', 'p', 'q', 'p']]) {
      const { placements, ringMembers } = hierPlan(hosts);
      for (let k = 0; k < placements[0].slices; k++) {
        for (let h = 0; h < placements[0].hosts; h++) {
          const owners = placements.flatMap((p, r) => (p.host === h && p.owned.includes(k) ? [r] : []));
          expect(owners).toEqual([ringMembers[k][h]]);
        }
      }
    }
    expect(() => hierPlan([])).toThrow(/no ranks/);
  });
});

describe('rankOrder', () => {
  test('numbers ranks host by host, hosts by their lowest task rank, then by task rank within a host', () => {
    // Arrivals: b/3, a/1, b/2, a/0 -> a (lowest task rank 0) first: a/0, a/1, then b/2, b/3.
    const arrivals = [
      { host: 'b', order: 3 },
      { host: 'a', order: 1 },
      { host: 'b', order: 2 },
      { host: 'a', order: 0 },
    ];
    expect(rankOrder(arrivals)).toEqual([3, 1, 2, 0]);
    // Any arrival order of the same workers gives the same numbering (by arrival index mapped back to the worker).
    const shuffled = [2, 0, 3, 1].map((i) => arrivals[i]);
    expect(rankOrder(shuffled).map((i) => shuffled[i])).toEqual(rankOrder(arrivals).map((i) => arrivals[i]));
  });

  test('without task ranks: hosts by name, arrival order within a host (one host: plain arrival order)', () => {
    expect(
      rankOrder([
        { host: 'y', order: null },
        { host: 'x', order: null },
        { host: 'y', order: null },
        { host: 'x', order: null },
      ]),
    ).toEqual([1, 3, 0, 2]);
    expect(rankOrder([0, 1, 2].map(() => ({ host: 'h', order: null })))).toEqual([0, 1, 2]);
  });
});
