/** `ringtune lr-find` over real worker processes: suggestions in range, lr_find.png, weights restored bitwise. */
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import sharp from 'sharp';
import { makeImageFolders } from './helpers/images';
import { runCli } from './helpers/cli';
import { smallRunFlags } from './helpers/small-run';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-lrfind-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('sweeps 1e-7..10 on 2 workers, suggests LRs inside the range, plots them and restores the weights', async () => {
  const data = join(dir, 'data');
  await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 24, validPerClass: 4, size: 16 });
  const out = join(dir, 'out');
  const r = await runCli(['lr-find', '--workers', '2', ...smallRunFlags({ data, bs: 4 }), '--num-it', '20', '--out', out], 180_000);
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

describe('a suggestion in place of the LR', () => {
  const data = join(dir, 'data-from');
  const common = ['--workers', '2', '--data', data, '--size', '16', '--bs', '4', '--backend', 'wasm', '--no-pretrained'];
  beforeAll(() => makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 16, validPerClass: 4, size: 16 }));

  it('--base-lr valley: lr_find first (100 iterations), then fine_tune with its valley as base_lr', async () => {
    const out = join(dir, 'from');
    const r = await runCli(['launch', ...common, '--base-lr', 'valley', '--epochs', '1', '--out', out], 400_000);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const found = JSON.parse(readFileSync(join(out, 'lr_find.json'), 'utf8'));
    const valley = found.suggestions.valley as number;
    expect(r.stdout).toMatch(/lr_find first, for base_lr = its valley suggestion/);
    expect(r.stdout).toContain(`training with base_lr ${valley.toExponential(2)} (lr_find's valley)`);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect([config.baseLr, config.lrFrom]).toEqual([valley, 'valley']);
    // fine_tune's frozen phase starts the head at base_lr / 25 (fit_one_cycle's div).
    const first = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .map((l) => (l ? JSON.parse(l) : null))
      .find((m) => m?.kind === 'step');
    expect(first.lrs[first.lrs.length - 1]).toBeCloseTo(valley / 25, 12);
  }, 420_000);

  it('the names refuse the plan they do not set', async () => {
    const wrongPlan = await runCli(['launch', ...common, '--fit-one-cycle', '--base-lr', 'steep', '--out', join(dir, 'x')], 60_000);
    expect(wrongPlan.code).not.toBe(0);
    expect(wrongPlan.stderr).toContain("--base-lr steep sets fine_tune's base_lr; with --fit-one-cycle use --lr-max steep");
    const wrongFlag = await runCli(['launch', ...common, '--lr-max', 'slide', '--out', join(dir, 'y')], 60_000);
    expect(wrongFlag.code).not.toBe(0);
    expect(wrongFlag.stderr).toContain("--lr-max slide sets fit_one_cycle's peak; for fine_tune use --base-lr slide");
  });
});
