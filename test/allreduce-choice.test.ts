/** The coordinator's choice between the shared-memory all-reduce and the ZeroMQ ring. */
import { chooseAllReduce } from '../shared/allreduce-choice';

const here = (n: number, host = 'h/boot') => Array.from({ length: n }, () => ({ host, shmUnavailable: '' }));

describe('chooseAllReduce', () => {
  test('auto: shared memory when every worker is on one host and can map it', () => {
    expect(chooseAllReduce('auto', here(3), 'f32')).toEqual({ kind: 'shm', reason: 'all 3 workers on one host' });
  });

  test('auto: the ring across hosts, for a lone worker, for a ring wire dtype, or where a worker lacks the addon', () => {
    expect(chooseAllReduce('auto', [...here(1, 'a/1'), ...here(2, 'b/1')], 'f32')).toMatchObject({
      kind: 'ring',
      reason: 'the 3 workers are on 2 hosts',
    });
    expect(chooseAllReduce('auto', here(1), 'f32')).toMatchObject({ kind: 'ring', reason: expect.stringMatching(/one worker/) });
    expect(chooseAllReduce('auto', here(2), 'bf16')).toMatchObject({ kind: 'ring', reason: expect.stringMatching(/--grad-dtype bf16/) });
    const lacking = [...here(1), { host: 'h/boot', shmUnavailable: 'RINGTUNE_NO_SHM=1' }];
    expect(chooseAllReduce('auto', lacking, 'f32')).toMatchObject({
      kind: 'ring',
      reason: 'worker rank 1 cannot map shared memory (RINGTUNE_NO_SHM=1)',
    });
  });

  test('ring is always honoured; shm refuses what it cannot do, naming the flag and why', () => {
    expect(chooseAllReduce('ring', here(2), 'f32').kind).toBe('ring');
    expect(() => chooseAllReduce('shm', [...here(1, 'a/1'), ...here(1, 'b/1')], 'f32')).toThrow(
      /--allreduce shm cannot be used: the 2 workers are on 2 hosts/,
    );
    expect(() => chooseAllReduce('shm', here(2), 'fp16')).toThrow(/--allreduce shm cannot be used: --grad-dtype fp16/);
    expect(() => chooseAllReduce('shm', [...here(1), { host: 'h/boot', shmUnavailable: 'no addon' }], 'f32')).toThrow(
      /rank 1 cannot map shared memory \(no addon\)/,
    );
    expect(chooseAllReduce('shm', here(2), 'f32').kind).toBe('shm');
  });
});
