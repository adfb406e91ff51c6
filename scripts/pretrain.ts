/**
 * `npm run pretrain`: produces the embedded backbone. Writes fashion-mnist as PNG folders, trains
 * the small ResNet on it from random weights with ringtune itself (fit_one_cycle, 2 workers), and
 * copies the result to pretrained/resnet-small-fashion/, the backbone `npm start` fine-tunes.
 * 2,000 images per class (20,000 of fashion-mnist's 70,000) keep it to minutes on 2 cores.
 * Extra arguments go to `ringtune launch` (e.g. `--epochs 3`).
 */
import { join } from 'path';
import { copyFileSync, mkdirSync } from 'fs';
import { prepareData } from './prepare-data';
import { launch } from '../cli/launch';

const root = join(__dirname, '..', '..');
const IMAGES_PER_CLASS = 2000;

async function main(): Promise<void> {
  const data = join(root, 'data', 'fashion-mnist');
  const out = join(root, 'runs', 'pretrain-fashion');
  await prepareData({ dataset: 'fashion-mnist', out: data, limit: IMAGES_PER_CLASS });
  const args = [
    '--data',
    data,
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
    '--out',
    out,
    ...process.argv.slice(2),
  ];
  const code = await launch({ cli: join(root, 'dist', 'cli', 'main.js'), workers: 2, runArgs: args });
  if (code !== 0) process.exit(code);
  const dest = join(root, 'pretrained', 'resnet-small-fashion');
  mkdirSync(dest, { recursive: true });
  for (const f of ['model.json', 'weights.bin', 'labels.json', 'config.json']) copyFileSync(join(out, f), join(dest, f));
  console.log(`ringtune: backbone written to ${dest}`);
}

main().catch((e) => {
  console.error(`ringtune: ${(e as Error).message}`);
  process.exit(1);
});
