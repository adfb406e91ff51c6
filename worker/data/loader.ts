/**
 * A worker's batch loader: decode with sharp (on libuv threads), apply fastai's item transforms
 * (RandomResizedCrop: a random crop for training, the val_xtra squash + centre crop for
 * validation; see augment.ts), normalize into one NHWC Float32Array. Decoded pixels (before
 * augmentation) are cached up to a byte budget, so a small dataset is decoded once and later
 * epochs only crop, resize and normalize.
 *
 * Note [loader determinism]: a sample's pixels are a function of (file, options, seed, epoch,
 * index) only. The cache holds full-size decode output, which does not depend on the epoch, so
 * a batch is the same whether it was cached, prefetched, or loaded by another worker.
 */
import { join } from 'path';
import type { Item } from '../../shared/data/folders';
import { augmentationFor, trainingPlan, validationPlan } from './augment';
import { decodeRgb, type Pixels } from './decode';
import { makeNormalizer, normalizeInto, resizeCropRgb, type Normalizer } from './resample';

/** How samples are prepared; `cacheBytes` (default 256 MiB) bounds the decoded-pixel cache. */
export interface LoaderOptions {
  size: number;
  mean: number[];
  std: number[];
  train: boolean;
  flip: boolean;
  minScale: number;
  seed: number;
  cacheBytes?: number;
}

/** A batch: x is NHWC with 3 normalized channels, y the class indices, n the sample count. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
const MAX_PREFETCHED = 4;

/** Loads batches of `items` (paths relative to `root`) as normalized, augmented tensors' data. */
export class BatchLoader {
  private readonly norm: Normalizer;
  private readonly cacheLimit: number;
  private readonly decoded = new Map<number, Promise<Pixels>>();
  private cachedBytes = 0;
  private readonly prefetched = new Map<string, Promise<Batch>>();

  constructor(
    private readonly root: string,
    private readonly items: Item[],
    private readonly opts: LoaderOptions,
  ) {
    checkOptions(opts);
    this.norm = makeNormalizer(opts.mean, opts.std);
    this.cacheLimit = opts.cacheBytes ?? DEFAULT_CACHE_BYTES;
  }

  /** Bytes of decoded pixels held in the cache. */
  get cacheSize(): number {
    return this.cachedBytes;
  }

  /** Loads the samples at these indices (into `items`); augmentation random state = f(seed, epoch, sample index), so results do not depend on which worker loads them. */
  load(indices: number[], epoch: number): Promise<Batch> {
    const key = batchKey(indices, epoch);
    const ready = this.prefetched.get(key);
    if (ready) {
      this.prefetched.delete(key);
      return ready;
    }
    return this.assemble(indices, epoch);
  }

  /** Starts loading the next batch in the background; a later load() with the same args returns it. */
  prefetch(indices: number[], epoch: number): void {
    const key = batchKey(indices, epoch);
    if (this.prefetched.has(key)) return;
    const batch = this.assemble(indices, epoch);
    batch.catch(() => undefined); // the error surfaces from the load() that takes this batch
    this.prefetched.set(key, batch);
    while (this.prefetched.size > MAX_PREFETCHED) this.prefetched.delete(this.prefetched.keys().next().value as string);
  }

  private async assemble(indices: number[], epoch: number): Promise<Batch> {
    const { size } = this.opts;
    const n = indices.length;
    const stride = size * size * 3;
    const x = new Float32Array(n * stride);
    const y = new Int32Array(n);
    for (let k = 0; k < n; k++) y[k] = this.item(indices[k]).label;
    await Promise.all(indices.map(async (index, k) => this.writeSample(index, epoch, x, k * stride)));
    return { x, y, n };
  }

  private async writeSample(index: number, epoch: number, x: Float32Array, offset: number): Promise<void> {
    const px = await this.pixels(index);
    const { size, seed, flip, minScale } = this.opts;
    const plan = this.opts.train
      ? trainingPlan(augmentationFor(seed, epoch, index, px.width, px.height, { minScale, flip }), size)
      : validationPlan(px.width, px.height, size);
    normalizeInto(resizeCropRgb(px.data, px.width, plan), this.norm, x, offset);
  }

  /** Decoded pixels of one item; concurrent requests share one decode, results stay cached while the budget lasts. */
  private pixels(index: number): Promise<Pixels> {
    const known = this.decoded.get(index);
    if (known) return known;
    const pending = decodeRgb(this.path(index));
    this.decoded.set(index, pending);
    pending.then(
      (px) => {
        if (this.cachedBytes + px.data.length <= this.cacheLimit) this.cachedBytes += px.data.length;
        else this.decoded.delete(index);
      },
      () => this.decoded.delete(index),
    );
    return pending;
  }

  private item(index: number): Item {
    const item = Number.isInteger(index) ? this.items[index] : undefined;
    if (!item) throw new Error(`sample index ${index} is out of range: this loader has ${this.items.length} items`);
    return item;
  }

  private path(index: number): string {
    return join(this.root, this.item(index).file);
  }
}

function batchKey(indices: number[], epoch: number): string {
  return `${epoch}:${indices.join(',')}`;
}

function checkOptions(o: LoaderOptions): void {
  if (!Number.isInteger(o.size) || o.size < 1) throw new Error(`loader size must be a positive integer, got ${o.size}`);
  if (o.mean.length !== 3 || o.std.length !== 3)
    throw new Error(`loader mean and std need 3 values (RGB), got ${o.mean.length} and ${o.std.length}`);
  if (o.std.some((s) => !(s > 0))) throw new Error(`loader std values must be > 0, got [${o.std.join(', ')}]`);
  if (!(o.minScale > 0 && o.minScale <= 1)) throw new Error(`loader minScale must be in (0, 1], got ${o.minScale}`);
}
