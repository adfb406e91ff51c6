/**
 * The training steps bench:gpu measures and audits: stock tfjs training (tf.train.adam, every
 * variable updated by its own ops on the device) and ringtune's worker step itself (Replica.step
 * over a one-rank ZeroMQ ring: gradient buckets read back, all-reduced, the fastai Adam update).
 */
import * as tf from '@tensorflow/tfjs';
import { Replica } from '../worker/replica';
import { bucketFloats } from '../worker/buckets';
import { Ring } from '../worker/ring/ring';
import type { Net, ParamInfo } from '../worker/models';
import { weightKind } from '../worker/models/init';
import { Rng } from '../shared/rng';

/** One training step, run to completion (resolves with its loss), and what it holds. */
export interface Stepper {
  step(): Promise<number>;
  dispose(): Promise<void>;
}

/** Default gradient bucket of the CLI (--bucket-mb 25), and in floats. */
export const BUCKET_MB = 25;
export const BUCKET_FLOATS = bucketFloats(BUCKET_MB);

/** A seeded batch for `model`: inputs in [-2, 2) like normalised pixels (what the loader hands the worker), labels cycling over 10 classes. */
export function batchFor(model: tf.LayersModel, batch: number): { x: Float32Array; y: Int32Array; size: number } {
  const [size, , channels] = model.inputs[0].shape.slice(1) as number[];
  const rng = new Rng(7);
  const x = Float32Array.from({ length: batch * size * size * channels }, () => rng.uniform(-2, 2));
  return { x, y: Int32Array.from({ length: batch }, (_, i) => i % 10), size };
}

/** A one-group Net around a plain LayersModel (the benchmark CNN), so Replica can train it. */
export function netOf(model: tf.LayersModel): Net {
  const params: ParamInfo[] = [];
  const bnStats: tf.LayerVariable[] = [];
  for (const layer of model.layers) {
    const norm = layer.getClassName() === 'BatchNormalization';
    for (const variable of layer.trainableWeights)
      params.push({ variable, group: 0, norm, bias: !norm && weightKind(variable) === 'bias' });
    if (norm) bnStats.push(...layer.nonTrainableWeights);
  }
  return { model, params, bnStats, nGroups: 1, stats: { mean: [0, 0, 0], std: [1, 1, 1] } };
}

/** Stock tfjs training: tf.train.adam on the device; the loss is read back. */
export function stockStepper(model: tf.LayersModel, batch: number): Stepper {
  const { x, y, size } = batchFor(model, batch);
  const xs = tf.tensor4d(x, [batch, size, size, 3]);
  const ys = tf.oneHot(tf.tensor1d(y, 'int32'), 10);
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const loss = () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar;
  const opt = tf.train.adam(1e-3);
  return {
    async step() {
      const l = opt.minimize(loss, true, vars)!;
      const [value] = await l.data();
      l.dispose();
      return value;
    },
    async dispose() {
      opt.dispose();
      tf.dispose([xs, ys]);
      model.dispose();
    },
  };
}

/** Hyper-parameters of the replica step (every group): what a check re-applying its optimizer needs. */
export const REPLICA_HYPERS = { lr: 1e-3, mom: 0.9, wd: 0.01 };

/** ringtune's worker step: Replica.step on a one-rank ring (its all-reduce only scales by 1/world); `inputs` may alter the batch. */
export async function replicaStepper(
  net: Net,
  batch: number,
  inputs: (x: Float32Array) => Float32Array = (x) => x,
): Promise<Stepper & { replica: Replica }> {
  const { x: pixels, y, size } = batchFor(net.model, batch);
  const x = inputs(pixels);
  const ring = await Ring.bind({ rank: 0, world: 1 });
  const replica = new Replica({ net, allreduce: ring, world: 1, wd: REPLICA_HYPERS.wd, bucketMb: BUCKET_MB });
  await replica.setPhase(0, 0);
  let tag = 0;
  return {
    replica,
    async step() {
      return (
        await replica.step({ x, y, n: batch, size, lrs: Array(net.nGroups).fill(REPLICA_HYPERS.lr), mom: REPLICA_HYPERS.mom, tag: tag++ })
      ).loss;
    },
    async dispose() {
      await ring.close();
      net.model.dispose();
    },
  };
}
