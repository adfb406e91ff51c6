/**
 * `npm run bench:demo`: the README's first table. Times the embedded default (`npm start`'s
 * fine_tune from the committed backbone) and training from scratch on the same data with the same
 * 2 workers (fit_one_cycle at `--scratch-lr`, e.g. lr_find's suggestion, for `--scratch-epochs`),
 * each as one `ringtune launch` wall to wall, and prints accuracy, error and wall time side by
 * side with the error ratio. Run it on an idle machine: wall times are the point.
 *
 *   npm run bench:demo -- --scratch-lr 1e-2 --scratch-epochs 12 [--runs demo,scratch]
 */
import { join } from 'path';
import { launch } from '../cli/launch';
import { DEMO_LAUNCH_ARGS, prepareDemoData } from './demo';
import { finalAccuracy } from './workers-accuracy';

const root = join(__dirname, '..', '..');

interface Row {
  name: string;
  command: string;
  args: string[];
}

function parseArgs(argv: string[]): { lr: string; epochs: string; runs: string[] } {
  const o = { lr: '', epochs: '', runs: ['demo', 'scratch'] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--scratch-lr') o.lr = argv[++i];
    else if (argv[i] === '--scratch-epochs') o.epochs = argv[++i];
    else if (argv[i] === '--runs') o.runs = argv[++i].split(',');
    else throw new Error(`unknown option ${argv[i]}: use --scratch-lr LR --scratch-epochs N [--runs demo,scratch]`);
  }
  if (o.runs.includes('scratch') && !(Number(o.lr) > 0 && Number.isInteger(Number(o.epochs)) && Number(o.epochs) > 0))
    throw new Error('the scratch row needs --scratch-lr (a positive number) and --scratch-epochs (a whole number)');
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const data = await prepareDemoData(root);
  const scratch = ['--no-pretrained', '--fit-one-cycle', '--lr-max', o.lr, '--epochs', o.epochs];
  const rows: Row[] = [
    { name: 'demo', command: 'npm start', args: DEMO_LAUNCH_ARGS },
    { name: 'scratch', command: `npm start -- ${scratch.join(' ')}`, args: [...DEMO_LAUNCH_ARGS, ...scratch] },
  ].filter((r) => o.runs.includes(r.name));
  const results: { row: Row; accuracy: number; seconds: number }[] = [];
  for (const row of rows) {
    const out = join(root, 'runs', `bench-demo-${row.name}`);
    const t0 = Date.now();
    const code = await launch({
      cli: join(root, 'dist', 'cli', 'main.js'),
      workers: 2,
      runArgs: ['--data', data, ...row.args, '--out', out],
    });
    if (code !== 0) throw new Error(`the ${row.name} run failed (exit ${code})`);
    results.push({ row, accuracy: finalAccuracy(out), seconds: (Date.now() - t0) / 1000 });
  }
  const mmss = (s: number) => `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  console.log('\n| run | command | accuracy | error | wall time |\n|---|---|---|---|---|');
  for (const r of results)
    console.log(
      `| ${r.row.name} | \`${r.row.command}\` | ${r.accuracy.toFixed(4)} | ${(1 - r.accuracy).toFixed(4)} | ${mmss(r.seconds)} |`,
    );
  if (results.length === 2)
    console.log(`\nerror ratio scratch / demo: ${((1 - results[1].accuracy) / (1 - results[0].accuracy)).toFixed(2)}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`bench:demo: ${(e as Error).message}`);
    process.exit(1);
  });
}
