/**
 * Loader benchmark: ringtune's BatchLoader (first epoch = decoding, later epochs = cached) next to
 * torchvision's ImageFolder + DataLoader with the same transforms, on the embedded MNIST folders
 * and on synthetic 500x375 JPEG "photos". Prints a table with the ratio. The peer runs with
 * /usr/bin/python3 (Debian python3-torch + python3-torchvision); without it its column reads n/a.
 */
import { execFileSync } from 'child_process';
import { existsSync, mkdirSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import sharp from 'sharp';
import { DEFAULTS } from '../shared/config';
import { scanImageFolders } from '../shared/data/folders';
import { mapPool } from '../shared/data/pool';
import { Rng } from '../shared/rng';
import { BatchLoader } from '../worker/data/loader';
import { prepareData } from './prepare-data';

interface Case {
  name: string;
  root: string;
  size: number;
  bs: number;
  batches: number;
  train: boolean;
}
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const PYTHON = process.env.RINGTUNE_BENCH_PYTHON ?? '/usr/bin/python3';

async function writePhotos(root: string): Promise<void> {
  if (existsSync(join(root, 'valid'))) return;
  const rng = new Rng(1);
  const jobs: [string, number][] = [];
  for (const [split, n] of [
    ['train', 160],
    ['valid', 64],
  ] as const)
    for (const c of ['a', 'b']) for (let i = 0; i < n; i++) jobs.push([join(root, split, c, `${i}.jpg`), rng.int(1 << 30)]);
  await mapPool(jobs, 8, async ([path, seed]) => {
    const r = new Rng(seed);
    const w = 500,
      h = 375,
      px = Buffer.alloc(w * h * 3);
    const [fx, fy] = [r.uniform(0.01, 0.05), r.uniform(0.01, 0.05)];
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 3;
        px[o] = 128 + 100 * Math.sin(x * fx);
        px[o + 1] = 128 + 100 * Math.cos(y * fy);
        px[o + 2] = r.int(256);
      }
    mkdirSync(join(path, '..'), { recursive: true });
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(path);
  });
}

/** ms per batch for one epoch through a fresh or warm loader, prefetching the next batch like a worker does. */
async function epochMs(loader: BatchLoader, batches: number[][], epoch: number): Promise<number> {
  const t = performance.now();
  for (let b = 0; b < batches.length; b++) {
    const got = loader.load(batches[b], epoch);
    if (b + 1 < batches.length) loader.prefetch(batches[b + 1], epoch);
    await got;
  }
  return (performance.now() - t) / batches.length;
}

async function ringtune(c: Case): Promise<{ cold: number; warm: number }> {
  const ds = await scanImageFolders(c.root, {});
  const items = c.train ? ds.train : ds.valid;
  const order = new Rng(7).shuffle(items.map((_, i) => i));
  const batches = Array.from({ length: c.batches }, (_, b) => order.slice(b * c.bs, (b + 1) * c.bs));
  const loader = new BatchLoader(c.root, items, {
    size: c.size,
    mean: MEAN,
    std: STD,
    train: c.train,
    flip: true,
    minScale: DEFAULTS.minScale,
    seed: 42,
  });
  const cold = await epochMs(loader, batches, 0);
  const warm = await epochMs(loader, batches, 1);
  return { cold, warm };
}

function torchvision(c: Case): number | null {
  const args = [
    join(__dirname, '..', '..', 'scripts', 'bench_loader_torch.py'),
    '--root',
    c.root,
    '--size',
    `${c.size}`,
    '--bs',
    `${c.bs}`,
    '--batches',
    `${c.batches}`,
    '--min-scale',
    `${DEFAULTS.minScale}`,
  ];
  try {
    const out = execFileSync(PYTHON, c.train ? [...args, '--train'] : args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return (JSON.parse(out.trim().split('\n').pop()!) as { ms_per_batch: number }).ms_per_batch;
  } catch (e) {
    console.error(`peer unavailable for ${c.name}: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
}

async function main(): Promise<void> {
  const dir = join(tmpdir(), 'ringtune-bench-loader');
  const mnist = (await prepareData({ dataset: 'mnist', out: join(dir, 'mnist') })).out;
  const photos = join(dir, 'photos');
  await writePhotos(photos);
  const cases: Case[] = [
    { name: 'mnist 28px train bs64', root: mnist, size: 28, bs: 64, batches: 40, train: true },
    { name: 'mnist 28px valid bs64', root: mnist, size: 28, bs: 64, batches: 25, train: false },
    { name: 'jpeg 500x375 -> 224 train bs32', root: photos, size: 224, bs: 32, batches: 8, train: true },
    { name: 'jpeg 500x375 -> 224 valid bs32', root: photos, size: 224, bs: 32, batches: 4, train: false },
  ];
  const rows = [
    [
      'case',
      'ringtune 1st epoch ms/batch',
      'ringtune cached ms/batch',
      'torchvision (2 workers) ms/batch',
      'ratio torchvision/ringtune cached',
    ],
  ];
  for (const c of cases) {
    const r = await ringtune(c);
    const peer = torchvision(c);
    rows.push([
      c.name,
      r.cold.toFixed(1),
      r.warm.toFixed(1),
      peer === null ? 'n/a' : peer.toFixed(1),
      peer === null ? 'n/a' : `${(peer / r.warm).toFixed(1)}x`,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(`| ${r.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`bench-loader: ${(e as Error).message}`);
    process.exit(1);
  });
}
