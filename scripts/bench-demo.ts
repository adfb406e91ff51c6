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
import { prepareDemoData } from './demo';
import { benchDemoRows, parseBenchDemoArgs, type Row } from './bench-demo-rows';
import { finalAccuracy, meanStd } from './workers-accuracy';
import { median } from './stats';

const root = join(__dirname, '..', '..');

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
