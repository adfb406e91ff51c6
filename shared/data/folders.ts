/**
 * Image-folder datasets, the layout fastai's `ImageDataLoaders.from_folder` reads: either
 * `root/train/<class>/*` + `root/valid/<class>/*`, or `root/<class>/*` split by a seeded
 * RandomSplitter. Everything is sorted so every process derives the same item list.
 */
import { readdir, stat } from 'fs/promises';
import { join, resolve } from 'path';
import { hasImageExtension, imageProblem } from './image-files';
import { mapPool } from './pool';
import { randomSplit } from './split';
import { DEFAULTS } from '../config';

/** One sample: a path relative to the data folder (always with '/') and its class index. */
export interface Item {
  file: string;
  label: number;
}

/** A scanned dataset: sorted class names, the two splits, and what was left out and why. */
export interface Dataset {
  root: string;
  classes: string[];
  train: Item[];
  valid: Item[];
  skipped: { file: string; reason: string }[];
}

/** How to scan: validPct/seed (default: the run's defaults) apply to the single-folder layout; verify decodes every header. */
export interface ScanOptions {
  validPct?: number;
  seed?: number;
  verify?: boolean;
}

type Skipped = Dataset['skipped'];
interface ClassFolder {
  name: string;
  files: string[];
}

const LAYOUT_HINT = 'expected <dir>/train/<class>/<images> and <dir>/valid/<class>/<images>, or <dir>/<class>/<images>';
const VERIFY_CONCURRENCY = 16;
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Scans `train/<class>/*` + `valid/<class>/*`, or one folder of `<class>/*` split by validPct with seed. Sorted, deterministic. */
export async function scanImageFolders(root: string, opts: ScanOptions = {}): Promise<Dataset> {
  const dir = resolve(root);
  if (!(await isDir(dir))) throw new Error(`data folder ${root} does not exist or is not a folder (${LAYOUT_HINT})`);
  const [hasTrain, hasValid] = await Promise.all([isDir(join(dir, 'train')), isDir(join(dir, 'valid'))]);
  if (hasTrain !== hasValid) {
    const [found, missing] = hasTrain ? ['train', 'valid'] : ['valid', 'train'];
    throw new Error(`data folder ${root} has ${found}/ but no ${missing}/ folder (${LAYOUT_HINT})`);
  }
  const skipped: Skipped = [];
  if (hasTrain) {
    const train = await scanSplit(dir, 'train', skipped, opts.verify ?? false);
    const valid = await scanSplit(dir, 'valid', skipped, opts.verify ?? false);
    const classes = train.map((c) => c.name);
    const unknown = valid.filter((c) => !classes.includes(c.name)).map((c) => c.name);
    if (unknown.length) throw new Error(`${join(root, 'valid')} has class folders that train/ lacks: ${unknown.join(', ')}`);
    return { root: dir, classes, train: toItems(train, classes, 'train/'), valid: toItems(valid, classes, 'valid/'), skipped };
  }
  const folders = await scanSplit(dir, '', skipped, opts.verify ?? false);
  const classes = folders.map((c) => c.name);
  const all = toItems(folders, classes, '');
  const { train, valid } = randomSplit(all.length, opts.validPct ?? DEFAULTS.validPct, opts.seed ?? DEFAULTS.seed);
  return { root: dir, classes, train: train.map((i) => all[i]), valid: valid.map((i) => all[i]), skipped };
}

/** Lists the class folders of `dir/split` with their image files; throws on no/empty classes. */
async function scanSplit(dir: string, split: string, skipped: Skipped, verify: boolean): Promise<ClassFolder[]> {
  const base = split ? join(dir, split) : dir;
  const entries = await readdir(base, { withFileTypes: true });
  const names: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDir(join(base, e.name))))) names.push(e.name);
  }
  if (names.length === 0) throw new Error(`no class folders in ${base} (${LAYOUT_HINT})`);
  names.sort(byCodePoint);
  const prefix = split ? `${split}/` : '';
  const folders: ClassFolder[] = [];
  for (const name of names) {
    const files = await listImages(base, name, `${prefix}${name}/`, skipped);
    const good = verify ? await dropUnreadable(dir, files, `${prefix}${name}/`, skipped) : files;
    if (good.length === 0) {
      const why = files.length === 0 ? 'has no image files' : `has no readable images (${files.length} skipped)`;
      throw new Error(`class folder ${join(base, name)} ${why}`);
    }
    folders.push({ name, files: good });
  }
  return folders;
}

/** Sorted image file names directly inside one class folder; other entries go to `skipped`. */
async function listImages(base: string, cls: string, rel: string, skipped: Skipped): Promise<string[]> {
  const entries = await readdir(join(base, cls), { withFileTypes: true });
  const files: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const isFile = e.isFile() || (e.isSymbolicLink() && (await isRegularFile(join(base, cls, e.name))));
    if (!isFile) skipped.push({ file: rel + e.name, reason: 'not a file (sub-folders are not scanned)' });
    else if (!hasImageExtension(e.name)) skipped.push({ file: rel + e.name, reason: 'not an image file extension' });
    else files.push(e.name);
  }
  return files.sort(byCodePoint);
}

/** Decodes each file's header; unreadable or truncated ones move to `skipped` with the reason. */
async function dropUnreadable(dir: string, files: string[], rel: string, skipped: Skipped): Promise<string[]> {
  const problems = await mapPool(files, VERIFY_CONCURRENCY, (f) => imageProblem(join(dir, rel, f)));
  const good: string[] = [];
  files.forEach((f, i) => {
    const reason = problems[i];
    if (reason) skipped.push({ file: rel + f, reason });
    else good.push(f);
  });
  return good;
}

function toItems(folders: ClassFolder[], classes: string[], prefix: string): Item[] {
  return folders.flatMap((c) => {
    const label = classes.indexOf(c.name);
    return c.files.map((f) => ({ file: `${prefix}${c.name}/${f}`, label }));
  });
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function isRegularFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** One line per skipped file reason, for logs: "3 files skipped: a.txt (not an image ...), ...". */
export function describeSkipped(skipped: Skipped, max = 10): string {
  if (skipped.length === 0) return 'no files skipped';
  const shown = skipped
    .slice(0, max)
    .map((s) => `${s.file} (${s.reason})`)
    .join(', ');
  const more = skipped.length > max ? `, and ${skipped.length - max} more` : '';
  return `${skipped.length} file${skipped.length === 1 ? '' : 's'} skipped: ${shown}${more}`;
}
