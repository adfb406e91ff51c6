/**
 * `npm run bench:demo`: the README's first table. Times the embedded default (`npm start`'s
 * fine_tune from the committed backbone) and training from scratch on the same data with the same
 * 2 workers (fit_one_cycle at each `--scratch-lr`, e.g. lr_find's suggestions, for
 * `--scratch-epochs`), each as one `ringtune launch` wall to wall, and prints accuracy, error and
 * wall time side by side with the ratio of the best scratch row's error to the demo's. Run it on an
 * idle machine: wall times are the point, and the scratch epochs should fill the demo's wall time.
 *
 *   npm run bench:demo -- --scratch-lr 1e-2,3e-3 --scratch-epochs 12 [--runs demo,scratch]
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

function parseArgs(argv: string[]): { lrs: string[]; epochs: string; runs: string[] } {
  const o = { lrs: [] as string[], epochs: '', runs: ['demo', 'scratch'] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--scratch-lr') o.lrs = (argv[++i] ?? '').split(',');
    else if (argv[i] === '--scratch-epochs') o.epochs = argv[++i];
    else if (argv[i] === '--runs') o.runs = argv[++i].split(',');
    else throw new Error(`unknown option ${argv[i]}: use --scratch-lr LR[,LR...] --scratch-epochs N [--runs demo,scratch]`);
  }
  const numbers = o.lrs.length > 0 && o.lrs.every((lr) => Number(lr) > 0);
  if (o.runs.includes('scratch') && !(numbers && Number.isInteger(Number(o.epochs)) && Number(o.epochs) > 0))
    throw new Error('the scratch rows need --scratch-lr (positive numbers, comma-separated) and --scratch-epochs (a whole number)');
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const data = await prepareDemoData(root);
  const scratch = (lr: string) => ['--no-pretrained', '--fit-one-cycle', '--lr-max', lr, '--epochs', o.epochs];
  const rows: Row[] = [
    ...(o.runs.includes('demo') ? [{ name: 'demo', command: 'npm start', args: DEMO_LAUNCH_ARGS }] : []),
    ...(o.runs.includes('scratch') ? o.lrs : []).map((lr) => ({
      name: `scratch-${lr}`,
      command: `npm start -- ${scratch(lr).join(' ')}`,
      args: [...DEMO_LAUNCH_ARGS, ...scratch(lr)],
    })),
  ];
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
  const demo = results.find((r) => r.row.name === 'demo');
  const scratchErrors = results.filter((r) => r.row.name !== 'demo').map((r) => 1 - r.accuracy);
  if (demo && scratchErrors.length > 0)
    console.log(`\nerror ratio best scratch / demo: ${(Math.min(...scratchErrors) / (1 - demo.accuracy)).toFixed(2)}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`bench:demo: ${(e as Error).message}`);
    process.exit(1);
  });
}
