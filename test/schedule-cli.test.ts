/** `ringtune schedule`: --json against the reference formulas, --plot as a real PNG, flag errors. */
import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import sharp from 'sharp';
import { scheduleCommand } from '../cli/commands/schedule';
import type { ScheduleRecord } from '../coordinator/schedule-figure';

/** Runs the command in-process; resolves to its stdout, rejects with commander's or the action's error. */
async function run(args: string[]): Promise<string> {
  let out = '';
  const cmd = scheduleCommand((t) => {
    out += t;
  })
    .exitOverride()
    .configureOutput({
      writeOut: (t) => {
        out += t;
      },
      writeErr: () => undefined,
    });
  await cmd.parseAsync(args, { from: 'user' });
  return out;
}
const json = async (args: string[]) => JSON.parse(await run([...args, '--json'])) as ScheduleRecord[];

/** The reference's formulas written out directly: 1cycle value at pos for one peak. */
function oneCycle(peak: number, div: number, divFinal: number, pct: number, pos: number): number {
  const cos = (a: number, b: number, p: number) => a + ((b - a) * (1 + Math.cos(Math.PI * (1 - p)))) / 2;
  return pos < pct ? cos(peak / div, peak, pos / pct) : cos(peak, peak / divFinal, (pos - pct) / (1 - pct));
}
const momAt = (pct: number, pos: number) => oneCycle(0.85, 0.85 / 0.95, 0.85 / 0.95, pct, pos);

function expectRel(a: number, e: number, rtol = 1e-12): void {
  if (!(Math.abs(a - e) <= rtol * Math.abs(e))) throw new Error(`got ${a}, expected ${e}`);
}

describe('schedule --json', () => {
  test('fit_one_cycle(2), 10 batches, lr_max 1e-3: the reference LR list', async () => {
    const recs = await json(['--fit-one-cycle', '2', '--batches', '10', '--groups', '1', '--lr-max', '1e-3']);
    expect(recs.map((r) => [r.phase, r.iter])).toEqual(Array.from({ length: 20 }, (_, i) => ['train', i]));
    const expected = [
      4e-5, 1.3167e-4, 3.7167e-4, 6.6833e-4, 9.0833e-4, 1e-3, 9.8907e-4, 9.5677e-4, 9.0451e-4, 8.3457e-4, 7.5e-4, 6.5451e-4, 5.5227e-4,
      4.4774e-4, 3.455e-4, 2.5001e-4, 1.6544e-4, 9.55e-5, 4.324e-5, 1.094e-5,
    ];
    recs.forEach((r, i) => expectRel(r.lr[0], expected[i], 5e-4));
    expect(Object.keys(recs[0])).toEqual(['phase', 'iter', 'lr', 'mom']);
  });

  test.each([
    { n: 7, g: 3, extra: [] as string[], base: 2e-3, mult: 100, fe: 1, pct: 0.3, div: 5, divFinal: 1e5, e: 2 },
    {
      n: 30,
      g: 2,
      extra: ['--base-lr', '1e-2', '--lr-mult', '10', '--freeze-epochs', '2', '--pct-start', '0.5', '--div', '8', '--div-final', '1e3'],
      base: 1e-2,
      mult: 10,
      fe: 2,
      pct: 0.5,
      div: 8,
      divFinal: 1e3,
      e: 1,
    },
    { n: 150, g: 4, extra: [], base: 2e-3, mult: 100, fe: 1, pct: 0.3, div: 5, divFinal: 1e5, e: 1 },
  ])('fine_tune($e), N=$n, G=$g, options $extra', async (c) => {
    const recs = await json(['--fine-tune', String(c.e), '--batches', String(c.n), '--groups', String(c.g), ...c.extra]);
    const frozen = recs.filter((r) => r.phase === 'frozen');
    const unfrozen = recs.filter((r) => r.phase === 'unfrozen');
    expect(frozen.map((r) => r.iter)).toEqual(Array.from({ length: c.fe * c.n }, (_, i) => i));
    expect(unfrozen.map((r) => r.iter)).toEqual(Array.from({ length: c.e * c.n }, (_, i) => i));
    expect(recs).toEqual([...frozen, ...unfrozen]);
    const half = c.base / 2;
    const step = Math.pow(c.mult, 1 / (c.g - 1));
    const frozenPeaks = Array.from({ length: c.g }, (_, k) => (k === c.g - 1 ? c.base : c.base / 10));
    const unfrozenPeaks = Array.from({ length: c.g }, (_, k) => (half / c.mult) * Math.pow(step, k));
    for (const r of frozen) {
      const pos = r.iter / (c.fe * c.n);
      r.lr.forEach((lr, k) => expectRel(lr, oneCycle(frozenPeaks[k], 25, c.divFinal, 0.99, pos)));
      expectRel(r.mom, momAt(0.99, pos));
    }
    for (const r of unfrozen) {
      const pos = r.iter / (c.e * c.n);
      r.lr.forEach((lr, k) => expectRel(lr, oneCycle(unfrozenPeaks[k], c.div, c.divFinal, c.pct, pos)));
      expectRel(r.mom, momAt(c.pct, pos));
    }
  });

  test('fit_one_cycle with a START,STOP slice and custom moms', async () => {
    const recs = await json(['--fit-one-cycle', '3', '--batches', '5', '--groups', '3', '--lr-max', '1e-6,1e-4', '--moms', '0.9,0.8,0.7']);
    expect(recs).toHaveLength(15);
    for (const r of recs) {
      const pos = r.iter / 15;
      [1e-6, 1e-5, 1e-4].forEach((peak, k) => expectRel(r.lr[k], oneCycle(peak, 25, 1e5, 0.25, pos)));
      expectRel(
        r.mom,
        pos < 0.25
          ? 0.9 + ((0.8 - 0.9) * (1 + Math.cos(Math.PI * (1 - pos / 0.25)))) / 2
          : 0.8 + ((0.7 - 0.8) * (1 + Math.cos(Math.PI * (1 - (pos - 0.25) / 0.75)))) / 2,
      );
    }
  });
});

describe('schedule output', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ringtune-sched-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the summary names both phases; --plot writes a PNG of the right size', async () => {
    const file = join(dir, 'schedule.png');
    const out = await run(['--fine-tune', '2', '--batches', '20', '--plot', file]);
    expect(out).toMatch(/^frozen: 1 epoch\(s\) x 20 batches = 20 iterations, groups 0..1 frozen/m);
    expect(out).toMatch(/^unfrozen: 2 epoch\(s\) x 20 batches = 40 iterations, all groups trainable/m);
    expect(out).toContain(`wrote ${file}`);
    const meta = await sharp(file).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1280, 434]);
  });

  test('bad flags are refused with the flag named', async () => {
    await expect(run(['--batches', '10'])).rejects.toThrow(/exactly one of --fine-tune EPOCHS or --fit-one-cycle EPOCHS/);
    await expect(run(['--fine-tune', '1', '--fit-one-cycle', '1', '--batches', '10'])).rejects.toThrow(/exactly one/);
    await expect(run(['--fine-tune', '1'])).rejects.toThrow(/--batches/);
    await expect(run(['--fine-tune', '1', '--batches', 'ten'])).rejects.toThrow(/--batches must be a whole number >= 1, got 'ten'/);
    await expect(run(['--fine-tune', '1', '--batches', '5', '--lr-max', '1e-3'])).rejects.toThrow(
      /--lr-max only applies to --fit-one-cycle/,
    );
    await expect(run(['--fit-one-cycle', '1', '--batches', '5', '--base-lr', '1e-3'])).rejects.toThrow(
      /--base-lr only apply to --fine-tune/,
    );
    await expect(run(['--fit-one-cycle', '1', '--batches', '5', '--lr-max', '1e-3,x'])).rejects.toThrow(
      /--lr-max: expected a number or START,STOP/,
    );
    await expect(run(['--fit-one-cycle', '1', '--batches', '5', '--moms', '0.9,0.8'])).rejects.toThrow(/--moms must be three numbers/);
    await expect(run(['--fine-tune', '1', '--batches', '5', '--groups', '1'])).rejects.toThrow(/needs >= 2 groups/);
    await expect(run(['--fine-tune', '1', '--batches', '5', '--plot', join(dir, 'a.svg')])).rejects.toThrow(
      /--plot must name a \.png file/,
    );
  });
});

describe('the installed CLI', () => {
  const cli = join(__dirname, '..', 'dist', 'cli', 'main.js');
  test('`ringtune schedule --json` prints the records; a bad flag exits non-zero naming it', () => {
    expect(existsSync(cli)).toBe(true); // built by `npm test` (npm run build) before jest
    const ok = spawnSync(process.execPath, [cli, 'schedule', '--fit-one-cycle', '1', '--batches', '4', '--groups', '2', '--json'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(ok.status).toBe(0);
    const recs = JSON.parse(ok.stdout) as ScheduleRecord[];
    expect(recs.map((r) => r.iter)).toEqual([0, 1, 2, 3]);
    expect(recs[0].lr).toEqual([4e-5, 4e-5]);
    const bad = spawnSync(process.execPath, [cli, 'schedule', '--fine-tune', '1', '--batches', '0'], { encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--batches must be a whole number >= 1, got '0'/);
  }, 90_000);
});
