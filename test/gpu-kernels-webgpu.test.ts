/**
 * Every kernel ringtune registers for webgpu, computed on a real adapter, against the cpu
 * backend's stock kernels on the same inputs (test/helpers/webgpu-kernels.ts lists the cases).
 * Tolerance: 1e-5 in norm per output. Both sides are float32 and differ only in summation order
 * (tiles, K splits, column-sum lanes): over the up to ~2k terms of these reductions that is
 * ~1e-7 to 1e-6 in norm, while a wrong index, tap, stride or race gives errors near 1.
 */
import { runMarked } from './helpers/webgpu-child';
import { withAdapter } from './helpers/webgpu';

const TOL = 1e-5;

withAdapter(
  'every registered webgpu kernel matches the cpu backend (norm error <= 1e-5)',
  () => {
    const results = runMarked<{ name: string; errors: number[]; error?: string }>(
      'test/helpers/webgpu-kernels.js',
      [],
      'WEBGPU_KERNEL ',
      900_000,
    );
    expect(results[0].error).toBeUndefined();
    const names = results.map((r) => r.name);
    for (const kind of ['conv', 'depthwise filter gradient', 'Sum/Mean', 'training BatchNorm'])
      expect(names.some((n) => n.startsWith(kind))).toBe(true);
    const off = results
      .filter((r) => !r.errors.every((e) => e <= TOL))
      .map((r) => `${r.name}: ${r.errors.map((e) => e.toExponential(1)).join(', ')}`);
    expect(off).toEqual([]);
  },
  900_000,
);
