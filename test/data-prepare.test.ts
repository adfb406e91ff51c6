/** prepare-data: the npm packages' real images as PNG folders, idempotent, redone after an interruption. */
import { execFile } from 'child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'fs';
import { join } from 'path';
import sharp from 'sharp';
import { scanImageFolders } from '../shared/data/folders';
import { DATASETS, MARKER, prepareData } from '../scripts/prepare-data';
import { makeTemp, rmTemp } from './data-fixtures';

let tmp: string;
beforeEach(() => {
  tmp = makeTemp('prepare');
});
afterEach(() => rmTemp(tmp));

/** The package's grey bytes for image `n` of class `c`, straight from its JSON. */
function packagePixels(dataset: keyof typeof DATASETS, c: number, n: number): number[] {
  const data = JSON.parse(readFileSync(require.resolve(DATASETS[dataset].file(c)), 'utf8')).data;
  if (dataset === 'mnist') return (data as number[]).slice(n * 784, (n + 1) * 784).map((v) => Math.round(v * 255));
  return (data as number[][]).filter((r) => r.length === 784)[n];
}

async function pngPixels(path: string): Promise<number[]> {
  const meta = await sharp(path).metadata();
  expect([meta.width, meta.height, meta.channels, meta.format]).toEqual([28, 28, 1, 'png']);
  const { data } = await sharp(path).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  return Array.from(data);
}

test("mnist: digit class folders, a stratified seeded split, the package's exact pixels", async () => {
  const out = join(tmp, 'mnist');
  const r = await prepareData({ dataset: 'mnist', out, limit: 20, validPct: 0.2, seed: 1 });
  expect(r).toMatchObject({ out, written: true, train: 160, valid: 40, classes: DATASETS.mnist.classes });
  const ds = await scanImageFolders(out, { verify: true });
  expect(ds.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  expect(ds.skipped).toEqual([]);
  for (let c = 0; c < 10; c++) expect(ds.valid.filter((i) => i.label === c)).toHaveLength(4);
  const item = ds.valid.find((i) => i.label === 7)!;
  const n = Number(item.file.split('/')[2].replace('.png', ''));
  expect(n).toBeLessThan(20);
  expect(await pngPixels(join(out, item.file))).toEqual(packagePixels('mnist', 7, n));
  const again = await prepareData({ dataset: 'mnist', out, limit: 20, validPct: 0.2, seed: 1 });
  expect(again.valid).toBe(40);
  const other = await prepareData({ dataset: 'mnist', out: join(tmp, 'other'), limit: 20, validPct: 0.2, seed: 2 });
  const names = (dir: string) => readdirSync(join(dir, 'valid', '3')).sort();
  expect(names(other.out)).not.toEqual(names(out));
});

test('fashion-mnist: named classes, empty package rows skipped', async () => {
  const out = join(tmp, 'fashion');
  const r = await prepareData({ dataset: 'fashion-mnist', out, limit: 10, validPct: 0.3 });
  expect(r.classes).toEqual(['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot']);
  expect([r.train, r.valid]).toEqual([70, 30]);
  const ds = await scanImageFolders(out, {});
  expect(ds.classes).toEqual([...r.classes].sort());
  const file = ds.train.find((i) => i.file.startsWith('train/ankle-boot/'))!.file;
  const n = Number(file.split('/')[2].replace('.png', ''));
  expect(await pngPixels(join(out, file))).toEqual(packagePixels('fashion-mnist', 9, n));
});

test('trainPerClass keeps the first training images of each class and every validation image', async () => {
  const few = await prepareData({ dataset: 'mnist', out: join(tmp, 'few'), limit: 30, trainPerClass: 5 });
  const all = await prepareData({ dataset: 'mnist', out: join(tmp, 'all'), limit: 30 });
  expect([few.train, few.valid]).toEqual([50, all.valid]);
  const names = async (dir: string) => (await scanImageFolders(dir, {})).valid.map((i) => i.file).sort();
  expect(await names(few.out)).toEqual(await names(all.out));
  await expect(prepareData({ dataset: 'mnist', out: join(tmp, 'few'), limit: 30, trainPerClass: 6 })).rejects.toThrow(
    /5 training images per class/,
  );
});

test('classes: only those folders, in label order, with the same split as the whole dataset', async () => {
  const out = join(tmp, 'five');
  const r = await prepareData({ dataset: 'mnist', out, limit: 20, classes: ['9', '5', '7'], trainPerClass: 6 });
  expect(r).toMatchObject({ written: true, classes: ['5', '7', '9'], train: 18, valid: 12 });
  expect(readdirSync(join(out, 'train')).sort()).toEqual(['5', '7', '9']);
  expect(readdirSync(join(out, 'valid')).sort()).toEqual(['5', '7', '9']);
  const whole = await prepareData({ dataset: 'mnist', out: join(tmp, 'whole'), limit: 20, trainPerClass: 6 });
  for (const part of ['train', 'valid'])
    for (const c of ['5', '7', '9']) expect(readdirSync(join(out, part, c)).sort()).toEqual(readdirSync(join(whole.out, part, c)).sort());
  const file = readdirSync(join(out, 'valid', '7'))[0];
  expect(await pngPixels(join(out, 'valid', '7', file))).toEqual(packagePixels('mnist', 7, Number(file.replace('.png', ''))));
  expect((await prepareData({ dataset: 'mnist', out, limit: 20, classes: ['5', '7', '9'], trainPerClass: 6 })).written).toBe(false);
  await expect(prepareData({ dataset: 'mnist', out, limit: 20, classes: ['5', '7'], trainPerClass: 6 })).rejects.toThrow(
    `${out} already holds mnist classes 5,7,9 (valid-pct 0.2, seed 42, limit 20, 6 training images per class), not mnist classes 5,7 (`,
  );
  await expect(prepareData({ dataset: 'mnist', out: join(tmp, 'x'), classes: ['5', '10'] })).rejects.toThrow(
    '--classes: mnist has no class 10; its classes are 0, 1, 2, 3, 4, 5, 6, 7, 8, 9',
  );
  await expect(prepareData({ dataset: 'mnist', out: join(tmp, 'x'), classes: ['5', '5'] })).rejects.toThrow(
    "--classes needs at least two different classes, got '5,5'",
  );
  expect(existsSync(join(tmp, 'x'))).toBe(false);
});

test('a complete folder is left alone; different options on it are refused', async () => {
  const out = join(tmp, 'd');
  await prepareData({ dataset: 'mnist', out, limit: 5 });
  const marker = statSync(join(out, MARKER)).mtimeMs;
  const r = await prepareData({ dataset: 'mnist', out, limit: 5 });
  expect(r.written).toBe(false);
  expect(statSync(join(out, MARKER)).mtimeMs).toBe(marker);
  await expect(prepareData({ dataset: 'mnist', out, limit: 6 })).rejects.toThrow(
    `${out} already holds mnist (valid-pct 0.2, seed 42, limit 5), not mnist (valid-pct 0.2, seed 42, limit 6)`,
  );
});

test('an interrupted run is redone; a foreign non-empty folder is refused', async () => {
  const out = join(tmp, 'd');
  mkdirSync(join(`${out}.incomplete`, 'train', '0'), { recursive: true });
  writeFileSync(join(`${out}.incomplete`, 'train', '0', 'half.png'), 'partial');
  const r = await prepareData({ dataset: 'mnist', out, limit: 5 });
  expect(r.written).toBe(true);
  expect(existsSync(`${out}.incomplete`)).toBe(false);
  expect(existsSync(join(out, 'train', '0', 'half.png'))).toBe(false);
  const foreign = join(tmp, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'x'), 'mine');
  await expect(prepareData({ dataset: 'mnist', out: foreign })).rejects.toThrow(`${foreign} exists, is not empty and has no ${MARKER}`);
});

test('bad options are refused by name', async () => {
  await expect(prepareData({ dataset: 'cifar' as never, out: tmp })).rejects.toThrow("unknown --dataset 'cifar': use mnist, fashion-mnist");
  await expect(prepareData({ dataset: 'mnist', out: tmp, validPct: 1 })).rejects.toThrow('--valid-pct must be in (0, 1), got 1');
  await expect(prepareData({ dataset: 'mnist', out: tmp, limit: 1 })).rejects.toThrow('--limit must be an integer >= 2');
});

test('the compiled CLI writes the folder and exits non-zero with a message on bad input', async () => {
  const cli = join(__dirname, '..', 'dist', 'scripts', 'prepare-data.js');
  const run = (args: string[]) =>
    new Promise<{ code: number; out: string }>((done) => {
      execFile(process.execPath, [cli, ...args], (err, stdout, stderr) =>
        done({ code: err ? (err.code as number) : 0, out: stdout + stderr }),
      );
    });
  const ok = await run(['--dataset', 'mnist', '--out', join(tmp, 'cli'), '--limit', '3', '--seed', '5']);
  expect(ok.out).toContain('prepared mnist: 20 train + 10 valid images');
  expect(ok.code).toBe(0);
  const some = await run(['--dataset', 'mnist', '--out', join(tmp, 'cli59'), '--limit', '3', '--classes', '5,6,7,8,9']);
  expect(some.code).toBe(0);
  expect(readdirSync(join(tmp, 'cli59', 'valid')).sort()).toEqual(['5', '6', '7', '8', '9']);
  const bad = await run(['--dataset', 'svhn', '--out', join(tmp, 'x')]);
  expect(bad.code).toBe(1);
  expect(bad.out).toContain("prepare-data: unknown --dataset 'svhn'");
});
