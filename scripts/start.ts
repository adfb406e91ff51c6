/**
 * `npm start`: the embedded default. Prepares MNIST as PNG folders if missing, then fine-tunes the
 * committed fashion-mnist backbone on it with a coordinator and 2 workers on loopback.
 * Extra arguments are passed to `ringtune launch` (e.g. `npm start -- --epochs 2`).
 */
import { join } from 'path';
import { prepareData } from './prepare-data';
import { launch } from '../coordinator/launch';

const root = join(__dirname, '..', '..');

async function main(): Promise<void> {
  const data = join(root, 'data', 'mnist');
  await prepareData({ dataset: 'mnist', out: data });
  const args = ['--data', data, '--arch', 'resnet-small', '--size', '28', '--bs', '64', '--epochs', '1', '--no-flip', '--out', join(root, 'runs', 'mnist'), ...process.argv.slice(2)];
  const code = await launch({ cli: join(root, 'dist', 'coordinator', 'cli.js'), workers: 2, runArgs: args });
  process.exit(code);
}

main().catch((e) => {
  console.error(`ringtune: ${(e as Error).message}`);
  process.exit(1);
});
