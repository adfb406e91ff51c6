/**
 * `ringtune predict`: the most likely classes of some image files under a saved model, as a
 * table or JSON.
 */
import { Command } from 'commander';
import { selectBackend } from '../../worker/backend';
import type { BackendChoice } from '../../shared/config';
import { wholeFlag } from '../flags';
import { modelCommand } from './model-command';
import { disposeClassifier, loadClassifier, scoreFiles, type Scores } from '../../worker/inference';

/** One image's answer: the best class and the `top` most likely classes, most likely first. */
export interface Prediction {
  image: string;
  class: string;
  probability: number;
  top: { class: string; probability: number }[];
}

/** The k most likely classes of every scored image (ties: earlier label first). */
export function topK(s: Scores, labels: string[], files: string[], k: number): Prediction[] {
  const kk = Math.min(k, s.classes);
  return files.map((image, i) => {
    const row = s.probs.subarray(i * s.classes, (i + 1) * s.classes);
    const order = Array.from(row.keys())
      .sort((a, b) => row[b] - row[a] || a - b)
      .slice(0, kk);
    const top = order.map((c) => ({ class: labels[c], probability: row[c] }));
    return { image, class: top[0].class, probability: top[0].probability, top };
  });
}

/** A readable table: image, class, probability (and the runners-up when k > 1). */
export function formatPredictions(ps: Prediction[]): string {
  const w = Math.max(5, ...ps.map((p) => p.image.length)) + 2;
  const cw = Math.max(5, ...ps.map((p) => p.class.length)) + 2;
  const head = `${'image'.padEnd(w)}${'class'.padEnd(cw)}probability`;
  const rows = ps.map((p) => {
    const more = p.top
      .slice(1)
      .map((t) => `${t.class} ${t.probability.toFixed(4)}`)
      .join(', ');
    return `${p.image.padEnd(w)}${p.class.padEnd(cw)}${p.probability.toFixed(4)}${more ? `   (then ${more})` : ''}`;
  });
  return [head, ...rows].join('\n');
}

/** What `predict` needs. */
export interface PredictOptions {
  model: string;
  images: string[];
  top: number;
  bs: number;
  backend: BackendChoice;
}

/** The parsed flags of `ringtune predict` (the images are its arguments). */
interface PredictFlags extends Omit<PredictOptions, 'images'> {
  json?: true;
}

/** Loads the model and predicts every image. */
export async function predict(o: PredictOptions): Promise<Prediction[]> {
  if (o.images.length === 0) throw new Error('give at least one image file to predict');
  await selectBackend(o.backend);
  const clf = await loadClassifier(o.model);
  try {
    const scores = await scoreFiles(clf, o.images, o.bs);
    return topK(scores, clf.labels, o.images, o.top);
  } finally {
    disposeClassifier(clf);
  }
}

/** The `predict` subcommand (commander); `write` receives what is printed. */
export function predictCommand(write: (text: string) => void = (t) => process.stdout.write(t)): Command {
  return modelCommand('predict', { description: 'class and probability of each image under a saved model' })
    .argument('<images...>', 'image files (any format sharp reads)')
    .option('--top <k>', 'also list the k most likely classes', wholeFlag('--top', 1), 1)
    .option('--json', 'print a JSON array: {image, class, probability, top: [{class, probability}]} per image')
    .option('--bs <n>', 'images per batch', wholeFlag('--bs', 1), 32)
    .action(async (images: string[], opts: PredictFlags) => {
      const ps = await predict({ ...opts, images });
      write(opts.json ? JSON.stringify(ps, null, 2) + '\n' : formatPredictions(ps) + '\n');
    });
}
