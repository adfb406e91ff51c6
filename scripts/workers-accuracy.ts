/**
 * `npm run accuracy:workers`: does distributed training cost accuracy? Trains the embedded default
 * (or `-- --data DIR ...`) with 1, 2 and 4 workers at the same global batch (per-worker batch =
 * global / workers) and the same seeds, and prints each world size's final accuracy per seed, the
 * mean, the spread and the mean's distance from one worker's, beside the seed-to-seed spread.
 *
 *   npm run accuracy:workers -- [--workers 1,2,4] [--seeds 1,2,3] [--global-bs 32] [launch options...]
 *
 * The global batch defaults to the demo's (2 workers x DEMO_BS).
 *
 * Runs are sequential (each world size gets the whole machine); their outputs go under
 * runs/accuracy-workers/w<W>-s<S>/.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { launch } from '../cli/launch';
import { DEMO_BS, DEMO_LAUNCH_ARGS, prepareDemoData } from './demo';

const root = join(__dirname, '..', '..');

interface Options {
  workers: number[];
  seeds: number[];
  globalBs: number;
  forward: string[];
}

function list(flag: string, text: string | undefined): number[] {
  const v = (text ?? '').split(',').map(Number);
  if (v.length === 0 || v.some((n) => !Number.isInteger(n) || n < 0))
    throw new Error(`${flag} must be comma-separated whole numbers, got '${text}'`);
  return v;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { workers: [1, 2, 4], seeds: [1, 2, 3], globalBs: 2 * DEMO_BS, forward: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--workers') o.workers = list('--workers', argv[++i]);
    else if (argv[i] === '--seeds') o.seeds = list('--seeds', argv[++i]);
    else if (argv[i] === '--global-bs') [o.globalBs] = list('--global-bs', argv[++i]);
    else o.forward.push(argv[i]);
  }
  for (const w of o.workers)
    if (w < 1 || o.globalBs % w !== 0) throw new Error(`--global-bs ${o.globalBs} must split evenly over ${w} worker(s)`);
  return o;
}

/** The last epoch's validation accuracy in a run's metrics.jsonl. */
export function finalAccuracy(out: string): number {
  const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"kind":"epoch"'))
    .map((l) => JSON.parse(l) as { accuracy: number });
  if (epochs.length === 0) throw new Error(`${out}/metrics.jsonl has no epoch record`);
  return epochs[epochs.length - 1].accuracy;
}

/** Mean and sample standard deviation. */
export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1) : 0;
  return { mean, std: Math.sqrt(v) };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const hasData = o.forward.includes('--data');
  const base = hasData ? o.forward : [...DEMO_LAUNCH_ARGS, '--data', await prepareDemoData(root), ...o.forward];
  const acc = new Map<number, number[]>();
  for (const w of o.workers) {
    for (const seed of o.seeds) {
      const out = join(root, 'runs', 'accuracy-workers', `w${w}-s${seed}`);
      const args = [...base, '--seed', `${seed}`, '--bs', `${o.globalBs / w}`, '--out', out];
      console.error(`accuracy:workers: ${w} worker(s), seed ${seed}, batch ${o.globalBs / w} per worker`);
      const code = await launch({ cli: join(root, 'dist', 'cli', 'main.js'), workers: w, runArgs: args });
      if (code !== 0) throw new Error(`the run with ${w} worker(s), seed ${seed} failed (exit ${code}); its log is above`);
      acc.set(w, [...(acc.get(w) ?? []), finalAccuracy(out)]);
    }
  }
  const one = meanStd(acc.get(o.workers[0])!).mean;
  console.log(`\nglobal batch ${o.globalBs}, seeds ${o.seeds.join(', ')}: final validation accuracy`);
  console.log(
    `| workers | batch per worker | ${o.seeds.map((s) => `seed ${s}`).join(' | ')} | mean | std | max - min | mean - ${o.workers[0]} worker(s) |`,
  );
  console.log(`|---|---|${o.seeds.map(() => '---|').join('')}---|---|---|---|`);
  for (const w of o.workers) {
    const xs = acc.get(w)!;
    const { mean, std } = meanStd(xs);
    const cells = [w, o.globalBs / w, ...xs.map((x) => x.toFixed(4)), mean.toFixed(4), std.toFixed(4)];
    console.log(
      `| ${cells.join(' | ')} | ${(Math.max(...xs) - Math.min(...xs)).toFixed(4)} | ${(mean - one >= 0 ? '+' : '') + (mean - one).toFixed(4)} |`,
    );
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`accuracy:workers: ${(e as Error).message}`);
    process.exit(1);
  });
}
