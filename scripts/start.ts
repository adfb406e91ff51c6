/**
 * `npm start`: the embedded default. Prepares MNIST as PNG folders if missing, then fine-tunes the
 * committed fashion-mnist backbone on it with a coordinator and 2 workers on loopback.
 * Extra arguments go to `ringtune launch` (e.g. `npm start -- --epochs 2`), except two of its own:
 * `--images-per-class N` (a smaller MNIST, for a quick look) and `--data-root DIR` (where the
 * PNG folders go; default data/ in the project).
 */
import { join, resolve } from 'path';
import { prepareData } from './prepare-data';
import { launch } from '../cli/launch';

const root = join(__dirname, '..', '..');

/** Splits start's own flags from those forwarded to `ringtune launch`. */
function parseArgs(argv: string[]): { limit?: number; dataRoot: string; forward: string[] } {
  let limit: number | undefined;
  let dataRoot = join(root, 'data');
  const forward: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--images-per-class') {
      limit = Number(argv[++i]);
      if (!Number.isInteger(limit) || limit < 2) throw new Error(`--images-per-class must be a whole number >= 2, got '${argv[i]}'`);
    } else if (argv[i] === '--data-root') dataRoot = resolve(argv[++i]);
    else forward.push(argv[i]);
  }
  return { limit, dataRoot, forward };
}

async function main(): Promise<void> {
  const { limit, dataRoot, forward } = parseArgs(process.argv.slice(2));
  const data = join(dataRoot, limit ? `mnist-${limit}` : 'mnist');
  await prepareData({ dataset: 'mnist', out: data, limit });
  const args = [
    '--data',
    data,
    '--arch',
    'resnet-small',
    '--size',
    '28',
    '--bs',
    '64',
    '--epochs',
    '1',
    '--no-flip',
    '--out',
    join(root, 'runs', 'mnist'),
    ...forward,
  ];
  const code = await launch({ cli: join(root, 'dist', 'cli', 'main.js'), workers: 2, runArgs: args });
  process.exit(code);
}

main().catch((e) => {
  console.error(`ringtune: ${(e as Error).message}`);
  process.exit(1);
});
