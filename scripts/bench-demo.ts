/**
 * `npm run bench:demo`: the README's first table. Times the embedded default (`npm start`'s
 * fine_tune from the committed backbone) and training from scratch on the same data with the same
 * 2 workers (fit_one_cycle at each `--scratch-lr`, e.g. lr_find's suggestions, for
 * `--scratch-epochs`), each as one `ringtune launch` wall to wall, and prints accuracy, error and
 * wall time side by side with the ratio of the best scratch row's error to the demo's. With
 * `--seeds`, every row runs once per seed and the table gives each row's mean and spread; the
 * ratio compares mean errors. Run it on an idle machine: wall times are the point, and the scratch
 * epochs should fill the demo's wall time.
 *
 *   npm run bench:demo -- --scratch-lr 1e-2,3e-3 --scratch-epochs 12 [--runs demo,scratch]
 *     [--seeds 1,2,3] [--train-per-class N] [--demo-epochs N] [--base-lr LR|valley|minimum|...]
 *
 * `--train-per-class`, `--demo-epochs` and `--base-lr` try another design than demo.ts's default
 * (the first for every row, the other two for the demo row).
 */
import { join } from 'path';
import { launch } from '../cli/launch';
import { DEMO_LAUNCH_ARGS, prepareDemoData } from './demo';
import { finalAccuracy, meanStd } from './workers-accuracy';
import { median } from './stats';

const root = join(__dirname, '..', '..');

interface Row {
  name: string;
  command: string;
  args: string[];
}

interface Options {
  lrs: string[];
  epochs: string;
  runs: string[];
  seeds: number[];
  trainPerClass?: number;
  demo: string[];
}

const USAGE =
  'use --scratch-lr LR[,LR...] --scratch-epochs N [--runs demo,scratch] [--seeds S[,S...]] [--train-per-class N] [--demo-epochs N] [--base-lr LR]';

function whole(flag: string, text: string | undefined, min: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new Error(`${flag} must be a whole number >= ${min}, got '${text}'`);
  return v;
}

/** bench:demo's own flags; anything else is an error naming the flag. */
export function parseBenchDemoArgs(argv: string[]): Options {
  const o: Options = { lrs: [], epochs: '', runs: ['demo', 'scratch'], seeds: [], demo: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--scratch-lr') o.lrs = (argv[++i] ?? '').split(',');
    else if (flag === '--scratch-epochs') o.epochs = argv[++i];
    else if (flag === '--runs') o.runs = (argv[++i] ?? '').split(',');
    else if (flag === '--seeds') o.seeds = (argv[++i] ?? '').split(',').map((s) => whole(flag, s, 0));
    else if (flag === '--train-per-class') o.trainPerClass = whole(flag, argv[++i], 1);
    else if (flag === '--demo-epochs') o.demo.push('--epochs', `${whole(flag, argv[++i], 0)}`);
    else if (flag === '--base-lr' && argv[i + 1] !== undefined) o.demo.push(flag, argv[++i]);
    else throw new Error(`unknown option ${flag}: ${USAGE}`);
  }
  const numbers = o.lrs.length > 0 && o.lrs.every((lr) => Number(lr) > 0);
  if (o.runs.includes('scratch') && !(numbers && Number.isInteger(Number(o.epochs)) && Number(o.epochs) > 0))
    throw new Error('the scratch rows need --scratch-lr (positive numbers, comma-separated) and --scratch-epochs (a whole number)');
  return o;
}

/** The rows to run: the demo (with any override) and one scratch row per LR, each with the `npm start` command it equals. */
export function benchDemoRows(o: Options): Row[] {
  const scratch = (lr: string) => ['--no-pretrained', '--fit-one-cycle', '--lr-max', lr, '--epochs', o.epochs];
  const perClass = o.trainPerClass === undefined ? [] : ['--train-per-class', `${o.trainPerClass}`];
  const demoArgs = [...perClass, ...o.demo];
  return [
    ...(o.runs.includes('demo')
      ? [
          {
            name: 'demo',
            command: `npm start${demoArgs.length ? ` -- ${demoArgs.join(' ')}` : ''}`,
            args: [...DEMO_LAUNCH_ARGS, ...o.demo],
          },
        ]
      : []),
    ...(o.runs.includes('scratch') ? o.lrs : []).map((lr) => ({
      name: `scratch-${lr}`,
      command: `npm start -- ${[...perClass, ...scratch(lr)].join(' ')}`,
      args: [...DEMO_LAUNCH_ARGS, ...scratch(lr)],
    })),
  ];
}

async function main(): Promise<void> {
  const o = parseBenchDemoArgs(process.argv.slice(2));
  const data = await prepareDemoData(root, { trainPerClass: o.trainPerClass });
  const seeds: (number | undefined)[] = o.seeds.length > 0 ? o.seeds : [undefined];
  const results: { row: Row; accuracy: number[]; seconds: number[] }[] = [];
  for (const row of benchDemoRows(o)) {
    const r = { row, accuracy: [] as number[], seconds: [] as number[] };
    for (const seed of seeds) {
      const out = join(root, 'runs', `bench-demo-${row.name}${seed === undefined ? '' : `-s${seed}`}`);
      const seedArgs = seed === undefined ? [] : ['--seed', `${seed}`];
      const t0 = Date.now();
      const code = await launch({
        cli: join(root, 'dist', 'cli', 'main.js'),
        workers: 2,
        runArgs: ['--data', data, ...row.args, ...seedArgs, '--out', out],
      });
      if (code !== 0) throw new Error(`the ${row.name} run${seed === undefined ? '' : ` with seed ${seed}`} failed (exit ${code})`);
      r.accuracy.push(finalAccuracy(out));
      r.seconds.push((Date.now() - t0) / 1000);
    }
    results.push(r);
  }
  printTable(results, seeds);
}

function printTable(results: { row: Row; accuracy: number[]; seconds: number[] }[], seeds: (number | undefined)[]): void {
  const mmss = (s: number) => `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  const several = seeds.length > 1;
  const seedHead = several ? ` ${seeds.map((s) => `seed ${s}`).join(' | ')} | std | max - min |` : '';
  console.log(`\n| run | command |${seedHead} accuracy${several ? ' (mean)' : ''} | error | wall time${several ? ' (median)' : ''} |`);
  console.log(`|---|---|${several ? seeds.map(() => '---|').join('') + '---|---|' : ''}---|---|---|`);
  for (const r of results) {
    const { mean, std } = meanStd(r.accuracy);
    const spread = several
      ? ` ${r.accuracy.map((a) => a.toFixed(4)).join(' | ')} | ${std.toFixed(4)} | ${(Math.max(...r.accuracy) - Math.min(...r.accuracy)).toFixed(4)} |`
      : '';
    console.log(
      `| ${r.row.name} | \`${r.row.command}\` |${spread} ${mean.toFixed(4)} | ${(1 - mean).toFixed(4)} | ${mmss(median(r.seconds))} |`,
    );
  }
  const errorOf = (r: { accuracy: number[] }) => 1 - meanStd(r.accuracy).mean;
  const demo = results.find((r) => r.row.name === 'demo');
  const scratchErrors = results.filter((r) => r.row.name !== 'demo').map(errorOf);
  if (demo && scratchErrors.length > 0)
    console.log(`\nerror ratio best scratch / demo: ${(Math.min(...scratchErrors) / errorOf(demo)).toFixed(2)}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`bench:demo: ${(e as Error).message}`);
    process.exit(1);
  });
}
