/** `ringtune lr-find` over real worker processes: suggestions in range, lr_find.png, weights restored bitwise. */
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import sharp from 'sharp';
import { makeImageFolders } from './helpers/images';
import { runCli } from './helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-lrfind-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('sweeps 1e-7..10 on 2 workers, suggests LRs inside the range, plots them and restores the weights', async () => {
  const data = join(dir, 'data');
  await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 24, validPerClass: 4, size: 16 });
  const out = join(dir, 'out');
  const r = await runCli(
    [
      'lr-find',
      '--workers',
      '2',
      '--data',
      data,
      '--size',
      '16',
      '--bs',
      '4',
      '--backend',
      'wasm',
      '--no-pretrained',
      '--num-it',
      '20',
      '--out',
      out,
    ],
    180_000,
  );
  expect(r.code).toBe(0);
  // The coordinator compares every replica's weights and BN statistics with the snapshot after the
  // restore and fails the command if one byte differs; exit 0 means they were restored bitwise.
  expect(r.stdout).toMatch(/weights restored/);
  expect(r.stdout).toMatch(/SuggestedLRs\(valley=[\d.e+-]+, steep=[\d.e+-]+, minimum=[\d.e+-]+\)/);
  const found = JSON.parse(readFileSync(join(out, 'lr_find.json'), 'utf8'));
  expect(found.lrs[0]).toBeCloseTo(1e-7, 12);
  expect(found.lrs.length).toBeLessThanOrEqual(20);
  for (const k of ['valley', 'steep', 'minimum']) {
    expect(found.suggestions[k]).toBeGreaterThanOrEqual(1e-8); // minimum is lr/10
    expect(found.suggestions[k]).toBeLessThanOrEqual(10);
  }
  const png = await sharp(join(out, 'lr_find.png')).metadata();
  expect(png.format).toBe('png');
  expect(png.width).toBeGreaterThan(300);
  expect(png.height).toBeGreaterThan(200);
});
