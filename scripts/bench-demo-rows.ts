/** `npm run bench:demo`'s options and the runs they stand for (pure: no process starts here). */
import { DEMO_LAUNCH_ARGS } from './demo';

export interface Row {
  name: string;
  command: string;
  args: string[];
}

export interface Options {
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
