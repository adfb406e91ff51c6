/**
 * The embedded default, in one place for `npm start` and the benchmarks that reuse it: a task
 * with few labels, handwritten 5s, 6s, 7s, 8s and 9s from the `mnist` package (the first
 * DEMO_TRAIN_PER_CLASS training images of each), validated on all their held-out images, and
 * fine-tuned from the committed backbone that `npm run pretrain` trains on the digits 0-4 (see
 * pretrain.ts): the source and target tasks share no class, so no target image touches the backbone.
 */
import { join } from 'path';
import { prepareData } from './prepare-data';

/** The target task's classes. */
export const DEMO_CLASSES = ['5', '6', '7', '8', '9'];

/**
 * Labelled training digits per class in the demo task: few enough that the backbone's features
 * matter (README "## Run": at 30, fine_tune's error is well under half of the best from-scratch
 * run's in the same wall time; at 50, scratch comes within a factor of two), and enough that
 * fine_tune stays above 97 % for every seed measured.
 */
export const DEMO_TRAIN_PER_CLASS = 30;

/** Batch size per worker; `npm start` runs 2 workers, so the global batch is 32. */
export const DEMO_BS = 16;

/** Where the demo's data goes and how much of it: `limit` digits per class before the split shrinks it all for a quick look. */
export interface DemoData {
  dataRoot?: string;
  trainPerClass?: number;
  limit?: number;
}

/** The data folder of the demo task (prepared on first use). */
export async function prepareDemoData(root: string, o: DemoData = {}): Promise<string> {
  const trainPerClass = o.trainPerClass ?? DEMO_TRAIN_PER_CLASS;
  const name = `mnist-5-9-${trainPerClass}-per-class${o.limit ? `-of-${o.limit}` : ''}`;
  const out = join(o.dataRoot ?? join(root, 'data'), name);
  await prepareData({ dataset: 'mnist', classes: DEMO_CLASSES, out, trainPerClass, limit: o.limit });
  return out;
}

/** The demo's `ringtune launch` arguments (besides --data and --out). */
export const DEMO_LAUNCH_ARGS = [
  '--arch',
  'resnet-small',
  '--size',
  '28',
  '--bs',
  `${DEMO_BS}`,
  '--epochs',
  '40',
  // lr_find's `minimum` on the frozen model on this task (`npm start -- --base-lr minimum` recomputes it).
  '--base-lr',
  '2.51e-2',
  '--no-flip',
  '--min-scale',
  '0.35',
];
