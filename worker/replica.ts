/**
 * One model replica's training math: forward/backward for the trainable parameters only, one flat
 * gradient buffer all-reduced bucket by bucket, the same fastai Adam update on every worker
 * (updater.ts: on the host, or on the GPU for webgpu; see Note [flat buffers] there).
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'crypto';
import { trainableParams, type Net, type ParamInfo } from './models';
import type { AdamState, Segment } from '../shared/optim';
import { makeUpdater, type Updater } from './updater';
import type { AllReduce } from './allreduce';
import { bucketFloats, bucketize, type Bucket } from './buckets';
import { readAllOwned, readOwned } from './readback';
import { readBuckets } from './bucket-reads';
import { lossPerSample } from './loss';
import type { LossKind } from '../shared/config';

/** Tags of a step's buckets are step * BUCKET_TAGS + bucket, so every bucket's frames are told apart. */
const BUCKET_TAGS = 1024;

/** What one training step reports back. */
export interface StepResult {
  loss: number;
  computeMs: number;
  allreduceMs: number;
  /** Part of allreduceMs spent waiting for slower peers to arrive (skew, not transport). */
  allreduceWaitMs: number;
  allreduceBytes: number;
}

/** A local batch: n images of size x size px, NHWC, and their labels. */
export interface BatchInput {
  x: Float32Array;
  y: Int32Array;
  n: number;
  size: number;
}

/** One training step's input: a local batch and the coordinator's orders for it. */
export interface StepInput extends BatchInput {
  /** Learning rate per parameter group. */
  lrs: number[];
  mom: number;
  /** The step number: tags the step's all-reduces, the same on every rank. */
  tag: number;
}

/** A validation batch: only its first `real` samples count (the rest is sampler padding). */
export interface EvalInput extends BatchInput {
  real: number;
}

/** A checkpoint to resume from: every weight, this rank's BatchNorm statistics, the phase and its optimizer state. */
export interface ReplicaCheckpoint {
  weights: Float32Array;
  bnStats: Float32Array;
  phase: number;
  freezeTo: number;
  adam: AdamState;
}

/** What a replica trains: its net, how it sums gradients with the other workers, and the training settings. */
export interface ReplicaOptions {
  net: Net;
  allreduce: AllReduce;
  world: number;
  /** Weight decay. */
  wd: number;
  /** Gradient bucket size in MiB (--bucket-mb, see buckets.ts); default: one bucket. */
  bucketMb?: number;
  /** The loss trained and validated with (fastai's loss_func serves both); default: cross-entropy. */
  loss?: LossKind;
}

/** NHWC shape of n square images of `size` px in `x`: the loader's are RGB; a benchmark's net may take one channel. */
function imageShape(x: Float32Array, n: number, size: number): [number, number, number, number] {
  return [n, size, size, x.length / (n * size * size)];
}

/**
 * The batch on the device. On webgpu, images and labels travel as one upload (labels as floats,
 * exact below 2^24) and are split there; on the other backends a tensor is just a wrapper.
 */
function batchTensors(x: Float32Array, y: Int32Array, n: number, size: number): { xs: tf.Tensor4D; ys: tf.Tensor1D } {
  const shape = imageShape(x, n, size);
  if (tf.getBackend() !== 'webgpu') return { xs: tf.tensor4d(x, shape), ys: tf.tensor1d(y, 'int32') };
  const packed = new Float32Array(x.length + n);
  packed.set(x);
  packed.set(y, x.length);
  const flat = tf.tensor1d(packed);
  return { xs: tf.reshape(tf.slice(flat, 0, x.length), shape), ys: tf.cast(tf.slice(flat, x.length, n), 'int32') };
}

/** The flat layout of `params` the optimizer updates: consecutive, decayed unless BatchNorm or bias (fastai wd_bn_bias=False). */
export function paramSegments(params: ParamInfo[]): Segment[] {
  let offset = 0;
  return params.map((p) => {
    const length = p.variable.read().size;
    offset += length;
    return { offset: offset - length, length, group: p.group, decay: !(p.norm || p.bias) };
  });
}

export class Replica {
  private active: ParamInfo[] = [];
  private vars: tf.Variable[] = [];
  private grads: Float32Array = new Float32Array(0);
  private buckets: Bucket[] = [];
  private updater: Updater | null = null;
  private phase = -1;
  /** The gradient seed d(loss)/d(loss) = 1, kept on the device so no step uploads it. */
  private one: tf.Scalar | null = null;

  readonly net: Net;
  private allreduce: AllReduce;
  private readonly world: number;
  private readonly wd: number;
  private readonly bucketFloats: number;
  private readonly loss: LossKind;

  constructor({ net, allreduce, world, wd, bucketMb = Infinity, loss = 'cross-entropy' }: ReplicaOptions) {
    this.net = net;
    this.allreduce = allreduce;
    this.world = world;
    this.wd = wd;
    this.bucketFloats = bucketFloats(bucketMb);
    this.loss = loss;
  }

  /** Sums with `a` from now on (the coordinator picked shared memory after the ring was bound). */
  useAllReduce(a: AllReduce): void {
    this.allreduce = a;
    this.grads = a.buffer(this.grads.length);
  }

  /** Enters a phase: picks the trainable variables and clears the optimizer state (fastai freeze_to). */
  async setPhase(phase: number, freezeTo: number, force = false): Promise<void> {
    if (phase === this.phase && !force) return;
    this.phase = phase;
    this.active = trainableParams(this.net, freezeTo);
    this.vars = this.active.map((p) => p.variable.read() as tf.Variable);
    const segments = paramSegments(this.active);
    const offset = segments.reduce((n, seg) => n + seg.length, 0);
    this.grads = this.allreduce.buffer(offset);
    this.buckets = bucketize(
      segments.map((s) => s.length),
      this.bucketFloats,
    );
    if (this.buckets.length > BUCKET_TAGS)
      throw new Error(`${this.buckets.length} gradient buckets: raise --bucket-mb (at most ${BUCKET_TAGS} buckets)`);
    this.updater?.dispose();
    this.updater = await makeUpdater(this.vars, segments, offset);
    this.one ??= tf.keep(tf.scalar(1));
  }

  /** The last step's all-reduced (mean) gradient, flat in trainable order; overwritten by the next step. */
  get lastGradient(): Float32Array {
    return this.grads;
  }

  /** Number of floats all-reduced per step in the current phase. */
  get trainableCount(): number {
    return this.grads.length;
  }

  /** One synchronized step on a local batch. */
  async step({ x, y, n, size, lrs, mom, tag }: StepInput): Promise<StepResult> {
    const t0 = performance.now();
    const { loss, grads } = tf.tidy(() => {
      const { xs, ys } = batchTensors(x, y, n, size);
      const f = () => tf.mean(lossPerSample(this.loss, this.net.model.apply(xs, { training: true }) as tf.Tensor2D, ys)) as tf.Scalar;
      const { value, grads } = tf.engine().gradients(f, this.vars, this.one!, true);
      return { loss: value, grads };
    });
    // Every read-back starts now (Note [read-back ownership]); each bucket's all-reduce starts once
    // it has arrived and the previous one is done.
    const reads = readBuckets(grads, this.buckets);
    const lossValue = readOwned(loss);
    for (const r of [...reads.writes, lossValue]) r.catch(() => undefined); // each is awaited below; a failure must not go unhandled first
    let t1 = 0;
    let waitMs = 0;
    let summed: Promise<void> = this.allreduce.prepare(); // peers may still read the last result from a shared buffer
    summed.catch(() => undefined); // awaited below (through the chain); a failure must not go unhandled first
    try {
      for (let k = 0; k < this.buckets.length; k++) {
        const write = await reads.writes[k];
        if (k === 0) t1 = performance.now();
        const b = this.buckets[k];
        const view = this.grads.subarray(b.start, b.end);
        // The mean, not the sum: fastai's loss is a batch mean.
        summed = summed.then(async () => {
          write(view);
          waitMs += (await this.allreduce.allReduceSum(view, tag * BUCKET_TAGS + k, 1 / this.world)).waitMs;
        });
        summed.catch(() => undefined); // awaited below; this only keeps a failure from going unhandled meanwhile
      }
      await summed;
    } finally {
      await summed.catch(() => undefined); // a failed read leaves earlier buckets' writes queued
      reads.release();
    }
    const t2 = performance.now();
    this.updater!.apply(
      this.grads,
      lrs.map((lr) => ({ lr, mom, wd: this.wd })),
    );
    return {
      loss: (await lossValue)[0],
      computeMs: t1 - t0 + (performance.now() - t2),
      allreduceMs: t2 - t1,
      allreduceWaitMs: waitMs,
      allreduceBytes: this.grads.byteLength,
    };
  }

  /** Averages BatchNorm running statistics over all workers (before validation). */
  async syncBatchNormStats(tag: number): Promise<void> {
    if (this.net.bnStats.length === 0 || this.world === 1) return;
    const buf = await this.bnStats();
    await this.allreduce.allReduceSum(buf, tag, 1 / this.world);
    this.writeFlat(this.net.bnStats, buf, 'BatchNorm statistics');
  }

  /** Loss sum and correct count over the first `real` samples (the rest is sampler padding). */
  async evaluate({ x, y, n, size, real }: EvalInput): Promise<{ lossSum: number; correct: number }> {
    const { losses, preds } = tf.tidy(() => {
      const logits = this.net.model.apply(tf.tensor4d(x, imageShape(x, n, size)), { training: false }) as tf.Tensor2D;
      return { losses: lossPerSample(this.loss, logits, tf.tensor1d(y, 'int32')), preds: tf.argMax(logits, -1) };
    });
    const [l, p] = await readAllOwned([losses, preds]);
    let lossSum = 0;
    let correct = 0;
    for (let i = 0; i < real; i++) {
      lossSum += l[i];
      if (p[i] === y[i]) correct++;
    }
    return { lossSum, correct };
  }

  /** Every weight (trainable and BatchNorm statistics) in model order, as one flat copy. */
  async allWeights(): Promise<Float32Array> {
    return this.flatten(this.net.model.weights);
  }

  /** This replica's BatchNorm running statistics (they differ across ranks until the epoch-end average). */
  async bnStats(): Promise<Float32Array> {
    return this.flatten(this.net.bnStats);
  }

  /** Optimizer state of the current phase. */
  async optimizerState(): Promise<AdamState> {
    return this.updater ? this.updater.state() : { step: 0, m: new Float32Array(0), v: new Float32Array(0) };
  }

  /** Restores a checkpoint: all weights, then this rank's BN statistics, then phase and optimizer state. */
  async restore({ weights, bnStats, phase, freezeTo, adam }: ReplicaCheckpoint): Promise<void> {
    this.writeFlat(this.net.model.weights, weights, 'weights');
    this.writeFlat(this.net.bnStats, bnStats, 'BatchNorm statistics');
    await this.setPhase(phase, freezeTo, true);
    if (adam.m.length > 0) this.updater!.load(adam);
  }

  private async flatten(vars: tf.LayerVariable[]): Promise<Float32Array> {
    if (vars.length === 0) return new Float32Array(0);
    const flat = tf.tidy(() => tf.concat(vars.map((v) => tf.reshape(v.read(), [-1]))));
    return new Float32Array((await readOwned(flat)) as Float32Array);
  }

  private writeFlat(vars: tf.LayerVariable[], flat: Float32Array, what: string): void {
    const sizes = vars.map((v) => v.read().size);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== flat.length)
      throw new Error(`checkpoint ${what} hold ${flat.length} values, this model has ${total}: was it saved from another model?`);
    if (total === 0) return;
    // Each variable from its own copy of its range, as the host updater writes them (wasm's SplitV is slow on big buffers).
    let at = 0;
    tf.tidy(() => vars.forEach((v, i) => v.write(tf.tensor(flat.slice(at, (at += sizes[i])), v.read().shape))));
  }

  /** sha256 of every weight (trainable and BatchNorm statistics), in model order. */
  async weightsHash(): Promise<string> {
    const h = createHash('sha256');
    for (const w of this.net.model.weights) {
      const data = (await w.read().data()) as Float32Array;
      h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    return h.digest('hex').slice(0, 16);
  }
}
