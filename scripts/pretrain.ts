/**
 * `npm run pretrain`: produces the embedded backbone. Its source task is MNIST's digits 0-4 (the
 * `mnist` package's images of those five classes, 90 % for training and 10 % held out); the small
 * ResNet is trained on it from random weights with ringtune itself (fit_one_cycle, 2 workers), and
 * the result is copied to pretrained/resnet-small-digits-0-4/, the backbone `npm start`
 * fine-tunes on the digits 5-9 (demo.ts). No image of a 5, 6, 7, 8 or 9 is involved, so the
 * demo's validation images never touch the backbone. Runs are bitwise reproducible (seed
 * PRETRAIN_SEED), so the same command gives the committed weights again.
 * Extra arguments go to `ringtune launch` (e.g. `--epochs 5`).
 */
import { copyFileSync, mkdirSync } from 'fs';
import { dirname, join } from 'path';
import { prepareData } from './prepare-data';
import { launch } from '../cli/launch';
import { EMBEDDED_BACKBONE } from '../cli/run-options';

const root = join(__dirname, '..', '..');

/** The source task's classes: the digits the demo's target task does not have. */
export const SOURCE_CLASSES = ['0', '1', '2', '3', '4'];

/** Seed of the source task's split and of the training run. */
export const PRETRAIN_SEED = 42;

/** The recipe: fit_one_cycle from random weights. */
export const PRETRAIN_ARGS = [
  '--arch',
  'resnet-small',
  '--no-pretrained',
  '--fit-one-cycle',
  '--epochs',
  '20',
  '--lr-max',
  '1e-2',
  '--size',
  '28',
  '--bs',
  '32',
  '--no-flip',
  '--min-scale',
  '0.35',
  '--seed',
  `${PRETRAIN_SEED}`,
];

async function main(): Promise<void> {
  const data = join(root, 'data', 'mnist-0-4');
  const out = join(root, 'runs', 'pretrain-digits-0-4');
  const log = (l: string) => console.log(l);
  await prepareData({ dataset: 'mnist', classes: SOURCE_CLASSES, out: data, validPct: 0.1, seed: PRETRAIN_SEED, log });
  const args = ['--data', data, ...PRETRAIN_ARGS, '--out', out, ...process.argv.slice(2)];
  const code = await launch({ cli: join(root, 'dist', 'cli', 'main.js'), workers: 2, runArgs: args });
  if (code !== 0) process.exit(code);
  const dest = dirname(EMBEDDED_BACKBONE);
  mkdirSync(dest, { recursive: true });
  for (const f of ['model.json', 'weights.bin', 'labels.json', 'config.json']) copyFileSync(join(out, f), join(dest, f));
  console.log(`ringtune: backbone written to ${dest}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`ringtune: ${(e as Error).message}`);
    process.exit(1);
  });
}
