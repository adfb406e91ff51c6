/**
 * `npm run soak`: a long run of a tiny model (2,000 steps by default, 2 workers) that checks the
 * workers do not leak: live tensors must be flat, and resident memory must grow less than 5% from
 * step 100 (after warm-up) to the end. The workers run with --expose-gc, so each memory sample
 * follows a full collection (worker/memory-sample.ts) and counts live memory, not the garbage V8
 * keeps until it next collects (which alone swings resident memory by 20-30%).
 * Prints resident memory and the V8 heap along the run (each the largest over the workers, so their
 * difference is approximate); exits non-zero on a leak.
 * Usage: node dist/scripts/soak.js [--steps N]
 */
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { launch } from '../cli/launch';
import { makeImageFolders } from '../test/helpers/images';

const WARM_UP_STEPS = 100;
const MAX_GROWTH = 0.05;

interface StepRecord {
  step: number;
  tensors: number;
  rss_mb: number;
  js_heap_mb: number;
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--steps');
  const steps = at > 0 ? Number(process.argv[at + 1]) : 2000;
  if (!Number.isInteger(steps) || steps < 2 * WARM_UP_STEPS)
    throw new Error(`--steps must be a whole number >= ${2 * WARM_UP_STEPS}, got ${process.argv[at + 1]}`);
  const dir = mkdtempSync(join(tmpdir(), 'ringtune-soak-'));
  try {
    const data = join(dir, 'data');
    // 2 classes x 32 images, 2 workers x bs 4: 8 steps per epoch.
    await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 32, validPerClass: 4, size: 8 });
    const epochs = Math.ceil(steps / 8);
    const out = join(dir, 'out');
    const args = ['--data', data, '--size', '8', '--bs', '4', '--backend', 'wasm', '--no-pretrained', '--lin-ftrs', '16'];
    args.push('--fit-one-cycle', '--epochs', String(epochs), '--out', out);
    const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc`.trim() };
    const code = await launch({ cli: join(__dirname, '..', 'cli', 'main.js'), workers: 2, runArgs: args, env });
    if (code !== 0) throw new Error(`the soak run failed (exit ${code})`);
    const records: StepRecord[] = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.kind === 'step');
    const warm = records[WARM_UP_STEPS - 1];
    const last = records[records.length - 1];
    const tensorsFlat = records.slice(1).every((r) => r.tensors === records[1].tensors);
    const growth = (last.rss_mb - warm.rss_mb) / warm.rss_mb;
    const along = [0, 0.25, 0.5, 0.75, 1].map((f) => records[Math.round(WARM_UP_STEPS - 1 + f * (records.length - WARM_UP_STEPS))]);
    console.log('| step | live tensors | RSS MB | V8 heap MB | outside the V8 heap MB |');
    console.log('|---|---|---|---|---|');
    for (const r of along) console.log(`| ${r.step} | ${r.tensors} | ${r.rss_mb} | ${r.js_heap_mb} | ${r.rss_mb - r.js_heap_mb} |`);
    console.log(
      `live tensors ${tensorsFlat ? 'flat' : 'NOT flat'} (${records[1].tensors} -> ${last.tensors}); ` +
        `RSS ${warm.rss_mb} -> ${last.rss_mb} MB from step ${warm.step}: ${(growth * 100).toFixed(1)}% (limit ${MAX_GROWTH * 100}%)`,
    );
    if (!tensorsFlat || growth >= MAX_GROWTH) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`soak: ${(e as Error).message}`);
  process.exit(1);
});
