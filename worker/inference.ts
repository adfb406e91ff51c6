/**
 * Inference on a saved classifier: load a model folder (a training output or an export), prepare
 * images exactly as validation does (BatchLoader: fastai's validation RandomResizedCrop, the
 * whole image squashed to size + val_xtra and its centre kept, as learn.predict does), and turn logits into
 * probabilities, per-sample losses and predictions. Tensors live only inside this module.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'fs';
import { join } from 'path';
import { loadModelDir } from './models/io';
import type { Item } from '../shared/data/folders';
import { BatchLoader } from './data/loader';
import { readAllOwned } from './readback';
import { validationResize } from './data/augment';
import { DEFAULTS } from '../shared/config';

/** Input statistics buildNet gives every architecture (ImageNet's); a test keeps the two in step. */
export const TRAINING_STATS = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** Name of the softmax layer an export appends; loading strips it again to get the logits. */
export const EXPORT_SOFTMAX_LAYER = 'probabilities';

/** preprocessing.json: everything a browser needs to feed the exported model the way training did. */
export interface Preprocessing {
  format: 'ringtune-preprocessing';
  version: 2;
  /** The model input is [batch, size, size, 3]. */
  size: number;
  layout: 'NHWC';
  channelOrder: 'RGB';
  /** Pixels are divided by this (8-bit sRGB -> [0, 1]) before (x - mean) / std per channel. */
  pixelScale: 255;
  mean: number[];
  std: number[];
  /** Apply EXIF orientation, drop alpha, convert to sRGB. */
  decode: { exifOrientation: true; alpha: 'dropped'; colourspace: 'srgb' };
  /**
   * fastai's validation RandomResizedCrop: squash the whole image (aspect ratio not kept) to
   * `to` x `to` = size + ceil(size * 0.14 / 8) * 8 with Pillow's bilinear filter (antialiased
   * when shrinking; each pass rounded to 8 bits), then cut the centre size x size square.
   */
  resize: { method: 'squish'; to: number; filter: 'bilinear'; reference: 'PIL.Image.resize' };
  crop: { kind: 'centre'; size: number };
  /** What the model outputs: class probabilities (softmax applied), in labels.json order. */
  output: 'probabilities';
  /** The training transforms (fastai's RandomResizedCrop, ratio 3/4..4/3, then a flip with p 0.5 if on), for test-time augmentation. */
  training: { transform: 'RandomResizedCrop'; minScale: number; flip: boolean };
}

/** The training transforms a model saw, replayed by test-time augmentation; `seed` seeds its passes. */
export interface TrainingAugment {
  minScale: number;
  flip: boolean;
  seed: number;
}

/** The preprocessing a model trained at `size` with these statistics and training transforms expects. */
export function preprocessingFor(size: number, spec: { mean: number[]; std: number[]; augment: TrainingAugment }): Preprocessing {
  return {
    format: 'ringtune-preprocessing',
    version: 2,
    size,
    layout: 'NHWC',
    channelOrder: 'RGB',
    pixelScale: 255,
    mean: [...spec.mean],
    std: [...spec.std],
    decode: { exifOrientation: true, alpha: 'dropped', colourspace: 'srgb' },
    resize: { method: 'squish', to: validationResize(size), filter: 'bilinear', reference: 'PIL.Image.resize' },
    crop: { kind: 'centre', size },
    output: 'probabilities',
    training: { transform: 'RandomResizedCrop', minScale: spec.augment.minScale, flip: spec.augment.flip },
  };
}

/** A loaded classifier: `model` outputs logits; `labels[i]` names output i. */
export interface Classifier {
  dir: string;
  kind: 'training' | 'export';
  model: tf.LayersModel;
  labels: string[];
  size: number;
  mean: number[];
  std: number[];
  /** validPct/seed of the training run (config.json), so evaluate can rebuild its split. */
  split?: { validPct: number; seed: number };
  augment: TrainingAugment;
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );
const isNumbers = (v: unknown, n: number) =>
  Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** Reads size and normalization from preprocessing.json (export) or config.json (training output). */
async function readInputSpec(dir: string): Promise<Pick<Classifier, 'kind' | 'size' | 'mean' | 'std' | 'split' | 'augment'>> {
  const prepFile = join(dir, 'preprocessing.json');
  const configFile = join(dir, 'config.json');
  if (await exists(prepFile)) {
    const p = (await readJson(prepFile, 'preprocessing file')) as Partial<Preprocessing>;
    if (!Number.isInteger(p?.size) || !isNumbers(p.mean, 3) || !isNumbers(p.std, 3) || p.std!.some((s) => !(s > 0))) {
      throw new Error(`preprocessing file ${prepFile} needs an integer 'size' and 3-number 'mean' and positive 'std'`);
    }
    return { kind: 'export', size: p.size!, mean: p.mean!, std: p.std!, augment: augmentFrom(p.training ?? {}) };
  }
  if (await exists(configFile)) {
    const c = (await readJson(configFile, 'run config')) as {
      size?: unknown;
      mean?: unknown;
      std?: unknown;
      validPct?: unknown;
      seed?: unknown;
      minScale?: unknown;
      flip?: unknown;
    };
    if (!Number.isInteger(c?.size) || (c.size as number) < 1) throw new Error(`run config ${configFile} has no positive integer 'size'`);
    const stats = isNumbers(c.mean, 3) && isNumbers(c.std, 3) ? { mean: c.mean as number[], std: c.std as number[] } : TRAINING_STATS;
    const split = typeof c.validPct === 'number' && Number.isInteger(c.seed) ? { validPct: c.validPct, seed: c.seed as number } : undefined;
    return { kind: 'training', size: c.size as number, ...stats, split, augment: augmentFrom(c) };
  }
  throw new Error(
    `model folder ${dir} has neither config.json (a training output) nor preprocessing.json (an export): cannot tell the input size and normalization`,
  );
}

/** The training transforms recorded with a model; older folders without them get today's defaults. */
function augmentFrom(r: { minScale?: unknown; flip?: unknown; seed?: unknown }): TrainingAugment {
  return {
    minScale: typeof r.minScale === 'number' && r.minScale > 0 && r.minScale <= 1 ? r.minScale : DEFAULTS.minScale,
    flip: typeof r.flip === 'boolean' ? r.flip : DEFAULTS.flip,
    seed: Number.isInteger(r.seed) ? (r.seed as number) : DEFAULTS.seed,
  };
}

async function readLabels(file: string): Promise<string[]> {
  const labels = await readJson(file, 'labels file');
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string')) {
    throw new Error(`labels file ${file} must be a non-empty JSON array of class names`);
  }
  if (new Set(labels).size !== labels.length) throw new Error(`labels file ${file} lists a class name twice`);
  return labels as string[];
}

/** Cuts an exported model's trailing softmax so every caller works from logits. */
function logitsModel(model: tf.LayersModel): tf.LayersModel {
  const last = model.layers[model.layers.length - 1];
  if (last.name !== EXPORT_SOFTMAX_LAYER) return model;
  return tf.model({ inputs: model.inputs, outputs: last.input as tf.SymbolicTensor, name: `${model.name}_logits` });
}

/** Loads a model folder; every mismatch between its files is an error naming them. */
export async function loadClassifier(dir: string): Promise<Classifier> {
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new Error(`model folder ${dir} does not exist or is not a folder`);
  const spec = await readInputSpec(dir);
  const labelsFile = join(dir, 'labels.json');
  const labels = await readLabels(labelsFile);
  const modelFile = join(dir, 'model.json');
  const model = logitsModel(await loadModelDir(modelFile));
  const inShape = model.inputs[0].shape;
  const outShape = model.outputs[0].shape;
  const specFile = join(dir, spec.kind === 'export' ? 'preprocessing.json' : 'config.json');
  if (inShape.length !== 4 || inShape[1] !== spec.size || inShape[2] !== spec.size || inShape[3] !== 3) {
    throw new Error(
      `${modelFile} takes inputs of shape [${inShape.map(String).join(', ')}] but ${specFile} says size ${spec.size} (expected [null, ${spec.size}, ${spec.size}, 3])`,
    );
  }
  if (outShape.length !== 2 || outShape[1] !== labels.length) {
    throw new Error(
      `${labelsFile} lists ${labels.length} classes but ${modelFile} outputs ${outShape[outShape.length - 1]}: labels and model do not belong together`,
    );
  }
  return { dir, model, labels, ...spec };
}

/** What a pass over some images gives: row-major probabilities [n, classes], per-sample loss and prediction. */
export interface Scores {
  n: number;
  classes: number;
  probs: Float32Array;
  /** Cross-entropy of the true class (NaN when the images have no labels). */
  losses: Float32Array;
  preds: Int32Array;
  targets: Int32Array;
}

/** Runs the model over one prepared batch; returns probabilities and log-probabilities. */
async function scoreBatch(c: Classifier, x: Float32Array, n: number): Promise<{ probs: Float32Array; logp: Float32Array }> {
  const [probs, logp] = tf.tidy(() => {
    const logits = c.model.predict(tf.tensor4d(x, [n, c.size, c.size, 3])) as tf.Tensor2D;
    const lp = tf.logSoftmax(logits);
    return [tf.exp(lp), lp];
  });
  const [p, l] = await readAllOwned([probs, logp]);
  return { probs: p as Float32Array, logp: l as Float32Array };
}

/** How scoreItems runs: batch size, progress, and `augmentPass` to score under the training transforms (TTA pass i). */
export interface ScoreOptions {
  bs: number;
  onBatch?: (done: number, total: number) => void;
  augmentPass?: number;
}

/**
 * Scores `items` (files under `root`, label = index into the model's outputs, or -1 for unknown)
 * in batches of `bs`, decoding the next batch while the model runs on this one.
 */
export async function scoreItems(c: Classifier, root: string, items: Item[], { bs, onBatch, augmentPass }: ScoreOptions): Promise<Scores> {
  if (!(Number.isInteger(bs) && bs >= 1)) throw new Error(`batch size must be a whole number >= 1, got ${bs}`);
  const k = c.labels.length;
  const n = items.length;
  const out: Scores = {
    n,
    classes: k,
    probs: new Float32Array(n * k),
    losses: new Float32Array(n),
    preds: new Int32Array(n),
    targets: new Int32Array(n),
  };
  const train = augmentPass !== undefined;
  const loader = new BatchLoader(root, items, { size: c.size, mean: c.mean, std: c.std, train, ...c.augment, cacheBytes: 0 });
  const epoch = augmentPass ?? 0;
  const starts = Array.from({ length: Math.ceil(n / bs) }, (_, b) => b * bs);
  const indices = (s: number) => Array.from({ length: Math.min(bs, n - s) }, (_, i) => s + i);
  for (let b = 0; b < starts.length; b++) {
    if (b + 1 < starts.length) loader.prefetch(indices(starts[b + 1]), epoch);
    const batch = await loader.load(indices(starts[b]), epoch);
    const { probs, logp } = await scoreBatch(c, batch.x, batch.n);
    out.probs.set(probs, starts[b] * k);
    for (let i = 0; i < batch.n; i++) {
      const row = i * k;
      let best = 0;
      for (let j = 1; j < k; j++) if (probs[row + j] > probs[row + best]) best = j;
      const t = items[starts[b] + i].label;
      out.preds[starts[b] + i] = best;
      out.targets[starts[b] + i] = t;
      out.losses[starts[b] + i] = t >= 0 && t < k ? -logp[row + t] : NaN;
    }
    onBatch?.(starts[b] + batch.n, n);
  }
  return out;
}

/** Scores image files given by path (absolute or relative to the working directory); errors name the file. */
export async function scoreFiles(c: Classifier, files: string[], bs: number): Promise<Scores> {
  for (const f of files) {
    const st = await fs.stat(f).catch(() => null);
    if (!st) throw new Error(`image ${f} does not exist`);
    if (!st.isFile()) throw new Error(`image ${f} is not a file`);
  }
  return scoreItems(
    c,
    '',
    files.map((file) => ({ file, label: -1 })),
    { bs },
  );
}

/** Frees the classifier's weights. */
export function disposeClassifier(c: Classifier): void {
  c.model.dispose();
}
