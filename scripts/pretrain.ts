/**
 * `npm run pretrain`: produces the embedded backbone. Renders the source task (glyphs.ts: 47
 * classes of printed characters in 21 DejaVu faces, slanted, rotated, stretched, of random stroke
 * weight, laid out like MNIST), trains the small ResNet on it from random weights with ringtune
 * itself (fit_one_cycle, 2 workers), and copies the result to pretrained/resnet-small-glyphs/, the
 * backbone `npm start` fine-tunes. No MNIST image is involved: the demo's digits never touch it.
 * Runs are bitwise reproducible, so the same command gives the committed weights again.
 * Extra arguments go to `ringtune launch` (e.g. `--epochs 5`).
 */
import { join } from 'path';
import { copyFileSync, mkdirSync } from 'fs';
import { prepareData } from './prepare-data';
import { launch } from '../cli/launch';

const root = join(__dirname, '..', '..');

/** The source task's size: images rendered per class (10 % of them held out for validation). */
export const GLYPHS_PER_CLASS = 150;

/** The recipe: fit_one_cycle from random weights. */
export const PRETRAIN_ARGS = [
  '--arch',
  'resnet-small',
  '--no-pretrained',
  '--fit-one-cycle',
  '--epochs',
  '3',
  '--lr-max',
  '3e-3',
  '--size',
  '28',
  '--bs',
  '64',
  '--no-flip',
  '--min-scale',
  '0.35',
];

async function main(): Promise<void> {
  const data = join(root, 'data', `glyphs-${GLYPHS_PER_CLASS}`);
  const out = join(root, 'runs', 'pretrain-glyphs');
  await prepareData({ dataset: 'glyphs', out: data, limit: GLYPHS_PER_CLASS, validPct: 0.1, log: (l) => console.log(l) });
  const args = ['--data', data, ...PRETRAIN_ARGS, '--out', out, ...process.argv.slice(2)];
  const code = await launch({ cli: join(root, 'dist', 'cli', 'main.js'), workers: 2, runArgs: args });
  if (code !== 0) process.exit(code);
  const dest = join(root, 'pretrained', 'resnet-small-glyphs');
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
