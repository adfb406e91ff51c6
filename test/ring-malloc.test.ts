/** The malloc environment for ring processes (Note [frame memory] in cli/ring-malloc.ts). */
import { RING_MALLOC_TUNABLES, withRingMalloc } from '../cli/ring-malloc';

describe('withRingMalloc', () => {
  test('adds the tunables and keeps every other variable', () => {
    const env = withRingMalloc({ PATH: '/bin', HOME: '/root' });
    expect(env).toEqual({ PATH: '/bin', HOME: '/root', GLIBC_TUNABLES: RING_MALLOC_TUNABLES });
  });

  test('appends to tunables already set, and an explicit setting of the same key wins', () => {
    const env = withRingMalloc({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1:glibc.cpu.x86_rep_movsb_threshold=4096' });
    expect(env.GLIBC_TUNABLES).toBe(
      'glibc.malloc.trim_threshold=1:glibc.cpu.x86_rep_movsb_threshold=4096:glibc.malloc.mmap_threshold=8388608',
    );
  });

  test('does not modify the environment it is given', () => {
    const given = { GLIBC_TUNABLES: 'glibc.cpu.x=1' };
    withRingMalloc(given);
    expect(given).toEqual({ GLIBC_TUNABLES: 'glibc.cpu.x=1' });
  });

  test('the mmap threshold is above the largest default frame, so frames come from the heap', () => {
    const mmap = Number(/mmap_threshold=(\d+)/.exec(RING_MALLOC_TUNABLES)![1]);
    expect(mmap).toBeGreaterThanOrEqual(4 * 2 ** 20 + 4096); // 1-4 MiB frames are the measured best
  });
});
