/**
 * `npm start`: the embedded default (demo.ts). Prepares the few-label task (the digits 5-9) as PNG
 * folders if missing, then fine-tunes the committed backbone (trained on the digits 0-4) on it with
 * a coordinator and 2 workers on loopback. Extra arguments go to `ringtune launch` (e.g.
 * `npm start -- --epochs 2`), except three of its own: `--train-per-class N` (another number of
 * labelled digits per class), `--images-per-class N` (only N digits per class before the split,
 * for a quick look) and `--data-root DIR` (where the PNG folders go; default data/ in the project).
 */
import { join, resolve } from 'path';
import { DEMO_LAUNCH_ARGS, prepareDemoData, type DemoData } from './demo';
import { launch } from '../cli/launch';

const root = join(__dirname, '..', '..');

/** Splits start's own flags from those forwarded to `ringtune launch`. */
export function parseStartArgs(argv: string[]): { data: DemoData; forward: string[] } {
  const data: DemoData = {};
  const forward: string[] = [];
  const whole = (flag: string, text: string, min: number) => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < min) throw new Error(`${flag} must be a whole number >= ${min}, got '${text}'`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--train-per-class') data.trainPerClass = whole(argv[i], argv[++i], 1);
    else if (argv[i] === '--images-per-class') data.limit = whole(argv[i], argv[++i], 2);
    else if (argv[i] === '--data-root') data.dataRoot = resolve(argv[++i]);
    else forward.push(argv[i]);
  }
  return { data, forward };
}

async function main(): Promise<void> {
  const { data: which, forward } = parseStartArgs(process.argv.slice(2));
  const data = await prepareDemoData(root, which);
  const args = ['--data', data, ...DEMO_LAUNCH_ARGS, '--out', join(root, 'runs', 'mnist'), ...forward];
  const code = await launch({ cli: join(root, 'dist', 'cli', 'main.js'), workers: 2, runArgs: args });
  process.exit(code);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`ringtune: ${(e as Error).message}`);
    process.exit(1);
  });
}
