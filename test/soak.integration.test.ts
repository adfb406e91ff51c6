/**
 * A short `npm run soak` (400 steps, 2 workers, every kernel the machine has: oneDNN where it
 * loads): live tensors flat and resident memory, sampled after a full collection, within 5%.
 */
import { spawnSync } from 'child_process';
import { join } from 'path';

it('400 steps of a tiny model: live tensors flat, RSS within 5% from step 100', () => {
  const r = spawnSync(process.execPath, [join(__dirname, '..', 'dist', 'scripts', 'soak.js'), '--steps', '400'], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  const verdict = /live tensors (flat|NOT flat) .*RSS (\d+) -> (\d+) MB from step \d+: (-?[\d.]+)%/.exec(r.stdout);
  expect(verdict).not.toBeNull();
  expect(verdict![1]).toBe('flat');
  expect(Number(verdict![4])).toBeLessThan(5);
  expect(r.status).toBe(0);
}, 300_000);
