/**
 * The embedded default, in one place for `npm start` and the benchmarks that reuse it: handwritten
 * digits from the `mnist` package with few labels (the first 100 training images of each class),
 * validated on the same 1,996 held-out digits as the whole set, fine-tuned from the committed
 * backbone that `npm run pretrain` trains on rendered glyphs (see pretrain.ts).
 */
import { join } from 'path';
import { prepareData } from './prepare-data';

/** Labelled training digits per class in the demo task. */
export const DEMO_TRAIN_PER_CLASS = 100;

/** Where the demo's data goes and how much of it: `limit` digits per class before the split shrinks it all for a quick look. */
export interface DemoData {
  dataRoot?: string;
  trainPerClass?: number;
  limit?: number;
}

/** The data folder of the demo task (prepared on first use). */
export async function prepareDemoData(root: string, o: DemoData = {}): Promise<string> {
  const trainPerClass = o.trainPerClass ?? DEMO_TRAIN_PER_CLASS;
  const out = join(o.dataRoot ?? join(root, 'data'), `mnist-${trainPerClass}-per-class${o.limit ? `-of-${o.limit}` : ''}`);
  await prepareData({ dataset: 'mnist', out, trainPerClass, limit: o.limit });
  return out;
}

/** The demo's `ringtune launch` arguments (besides --data and --out). */
export const DEMO_LAUNCH_ARGS = [
  '--arch',
  'resnet-small',
  '--size',
  '28',
  '--bs',
  '64',
  '--epochs',
  '10',
  '--no-flip',
  '--min-scale',
  '0.35',
];
