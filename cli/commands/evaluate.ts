/**
 * `ringtune evaluate`: a saved model on a labelled image folder: loss, accuracy, per-class
 * accuracy, the most confused pairs, a confusion matrix PNG and a top-losses image grid.
 */
import { Command, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import { scanImageFolders, type Item } from '../../shared/data/folders';
import { selectBackend } from '../../worker/backend';
import type { BackendChoice } from '../../shared/config';
import { numberFlag, wholeFlag } from '../flags';
import { modelCommand } from './model-command';
import { disposeClassifier, loadClassifier, scoreItems, type Scores } from '../../worker/inference';
import { scoreItemsTta } from '../../worker/tta';
import { writeConfusionMatrix, writeImageGrid, type Tile } from '../../coordinator/figures';

/** Title of the top-losses grid (fastai's plot_top_losses caption order). */
export const TOP_LOSSES_TITLE = 'Top losses: predicted / actual (probability), loss';

/** One class's row of the per-class table. */
export interface ClassAccuracy {
  name: string;
  images: number;
  correct: number;
  accuracy: number;
}

/** Everything evaluate reports (also written as evaluation.json). */
export interface EvaluationSummary {
  images: number;
  loss: number;
  accuracy: number;
  perClass: ClassAccuracy[];
  /** confusion[actual][predicted] counts, classes in the model's label order. */
  confusion: number[][];
}

/** Loss, accuracy, per-class accuracy and the confusion matrix of labelled scores. */
export function summarize(s: Scores, labels: string[]): EvaluationSummary {
  const k = labels.length;
  const confusion = labels.map(() => new Array<number>(k).fill(0));
  let lossSum = 0;
  let correct = 0;
  for (let i = 0; i < s.n; i++) {
    const t = s.targets[i];
    if (!(t >= 0 && t < k)) throw new Error(`sample ${i} has label ${t}, outside the model's ${k} classes`);
    confusion[t][s.preds[i]]++;
    lossSum += s.losses[i];
    if (s.preds[i] === t) correct++;
  }
  const perClass = labels.map((name, c) => {
    const images = confusion[c].reduce((a, b) => a + b, 0);
    return { name, images, correct: confusion[c][c], accuracy: images ? confusion[c][c] / images : NaN };
  });
  return { images: s.n, loss: s.n ? lossSum / s.n : NaN, accuracy: s.n ? correct / s.n : NaN, perClass, confusion };
}

/** Indices of the `k` largest losses, largest first (ties: lower index first). */
export function topLossIndices(losses: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: losses.length }, (_, i) => i);
  idx.sort((a, b) => losses[b] - losses[a] || a - b);
  return idx.slice(0, Math.max(0, k));
}

/** fastai's most_confused: off-diagonal (actual, predicted, count) with count >= minCount, most first. */
export function mostConfused(
  confusion: number[][],
  labels: string[],
  minCount = 1,
): { actual: string; predicted: string; count: number }[] {
  const out: { actual: string; predicted: string; count: number }[] = [];
  confusion.forEach((row, a) =>
    row.forEach((count, p) => {
      if (a !== p && count >= minCount) out.push({ actual: labels[a], predicted: labels[p], count });
    }),
  );
  return out.sort((x, y) => y.count - x.count);
}

const fixed = (x: number) => (Number.isFinite(x) ? x.toFixed(6) : 'n/a');

/** The text report: totals, a per-class table and the most confused pairs. */
export function formatSummary(s: EvaluationSummary, labels: string[]): string {
  const w = Math.max(5, ...labels.map((l) => l.length)) + 2;
  const lines = [
    `loss      ${fixed(s.loss)}`,
    `accuracy  ${fixed(s.accuracy)}`,
    '',
    `${'class'.padEnd(w)}${'images'.padEnd(8)}${'correct'.padEnd(9)}accuracy`,
  ];
  for (const c of s.perClass)
    lines.push(`${c.name.padEnd(w)}${String(c.images).padEnd(8)}${String(c.correct).padEnd(9)}${fixed(c.accuracy)}`);
  const confused = mostConfused(s.confusion, labels).slice(0, 5);
  if (confused.length)
    lines.push('', 'most confused (actual -> predicted: images):', ...confused.map((c) => `  ${c.actual} -> ${c.predicted}: ${c.count}`));
  return lines.join('\n');
}

/** What `evaluate` needs. */
export interface EvaluateOptions {
  model: string;
  data: string;
  split: 'valid' | 'train';
  bs: number;
  out?: string;
  topLosses: number;
  validPct?: number;
  seed?: number;
  backend: BackendChoice;
  /** fastai's Learner.tta: 4 passes under the training transforms, blended with the plain pass (beta 0.25). */
  tta?: boolean;
}

/** Maps the data folder's items onto the model's label order; a class the model lacks is an error. */
function relabel(items: Item[], dataClasses: string[], labels: string[], data: string, labelsFile: string): Item[] {
  const map = dataClasses.map((c) => labels.indexOf(c));
  const unknown = dataClasses.filter((_, i) => map[i] < 0);
  if (unknown.length)
    throw new Error(
      `class folder(s) ${unknown.join(', ')} in ${data} are not among the model's classes in ${labelsFile} (${labels.join(', ')})`,
    );
  return items.map((it) => ({ file: it.file, label: map[it.label] }));
}

/** Runs the evaluation, writes the figures and evaluation.json; returns the summary and the files written. */
export async function evaluate(
  o: EvaluateOptions,
  log: (line: string) => void = () => undefined,
): Promise<{ summary: EvaluationSummary; files: string[] }> {
  await selectBackend(o.backend);
  const clf = await loadClassifier(o.model);
  try {
    const dataset = await scanImageFolders(o.data, { validPct: o.validPct ?? clf.split?.validPct, seed: o.seed ?? clf.split?.seed });
    const items = relabel(
      o.split === 'valid' ? dataset.valid : dataset.train,
      dataset.classes,
      clf.labels,
      o.data,
      join(o.model, 'labels.json'),
    );
    if (items.length === 0) throw new Error(`the ${o.split} split of ${o.data} has no images`);
    log(
      `evaluate: ${items.length} images (${o.split} split of ${o.data}), model ${o.model}, ${clf.labels.length} classes, ${clf.size}x${clf.size}${o.tta ? ', with test-time augmentation' : ''}`,
    );
    const scores = o.tta
      ? await scoreItemsTta(clf, dataset.root, items, { bs: o.bs })
      : await scoreItems(clf, dataset.root, items, { bs: o.bs });
    const summary = summarize(scores, clf.labels);
    const out = o.out ?? join(o.model, `eval-${o.split}`);
    mkdirSync(out, { recursive: true });
    const files = [join(out, 'evaluation.json'), join(out, 'confusion.png')];
    const top = topLossIndices(scores.losses, Math.min(o.topLosses, items.length));
    const topLosses = top.map((i) => ({
      file: items[i].file,
      actual: clf.labels[scores.targets[i]],
      predicted: clf.labels[scores.preds[i]],
      loss: scores.losses[i],
      actualProbability: scores.probs[i * scores.classes + scores.targets[i]],
      predictedProbability: scores.probs[i * scores.classes + scores.preds[i]],
    }));
    writeFileSync(
      files[0],
      JSON.stringify({ model: resolve(o.model), data: dataset.root, split: o.split, tta: o.tta === true, ...summary, topLosses }, null, 2) +
        '\n',
    );
    await writeConfusionMatrix(
      files[1],
      summary.confusion,
      clf.labels,
      `Confusion matrix (${o.split}, ${items.length} images, accuracy ${(summary.accuracy * 100).toFixed(1)}%)`,
    );
    if (top.length > 0) {
      files.push(join(out, 'top_losses.png'));
      await writeImageGrid(
        files[2],
        top.map((i) => topLossTile(scores, i, join(dataset.root, items[i].file), clf.labels)),
        { title: TOP_LOSSES_TITLE },
      );
    }
    return { summary, files };
  } finally {
    disposeClassifier(clf);
  }
}

/** A top-losses caption: predicted and actual class with their probabilities, and the loss. */
function topLossTile(s: Scores, i: number, file: string, labels: string[]): Tile {
  const p = s.preds[i],
    t = s.targets[i],
    row = i * s.classes;
  return {
    file,
    lines: [
      { text: `pred ${labels[p]} (${s.probs[row + p].toFixed(2)})`, color: p === t ? '#2ca02c' : '#d62728' },
      { text: `actual ${labels[t]} (${s.probs[row + t].toFixed(2)})` },
      { text: `loss ${s.losses[i].toFixed(2)}`, color: '#555555' },
    ],
  };
}

/** The `evaluate` subcommand (commander); `write` receives what is printed. */
export function evaluateCommand(write: (line: string) => void = (l) => console.log(l)): Command {
  return modelCommand('evaluate', {
    description:
      'loss, accuracy, per-class accuracy, a confusion matrix PNG and the top-losses images of a saved model on labelled image folders',
  })
    .requiredOption('--data <dir>', 'image folders: train/<class>/* and valid/<class>/*, or <class>/* (split as in training)')
    .addOption(new Option('--split <name>', 'which split to evaluate').choices(['valid', 'train']).default('valid'))
    .option('--bs <n>', 'images per batch', wholeFlag('--bs', 1), 64)
    .option('--out <dir>', 'where to write confusion.png, top_losses.png and evaluation.json (default: <model>/eval-<split>)')
    .option('--top-losses <k>', 'images in the top-losses grid (0: none)', wholeFlag('--top-losses', 0), 9)
    .option(
      '--valid-pct <p>',
      "validation fraction for a single-folder dataset (default: the training run's)",
      numberFlag('--valid-pct', (v) => v > 0 && v < 1, 'in (0, 1)'),
    )
    .option('--seed <n>', "split seed for a single-folder dataset (default: the training run's)", wholeFlag('--seed', 0))
    .option(
      '--tta',
      "test-time augmentation (fastai's Learner.tta): mean of 4 passes under the training transforms, blended 3:1 with the plain pass",
    )
    .action(async (opts: EvaluateOptions) => {
      const { summary, files } = await evaluate(opts, write);
      write(
        formatSummary(
          summary,
          summary.perClass.map((c) => c.name),
        ),
      );
      write(`\nwrote ${files.join(', ')}`);
    });
}
