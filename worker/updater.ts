/**
 * How a step's all-reduced gradient becomes new weights: fastai's Adam on the host (wasm, cpu,
 * tensorflow) or on the GPU (webgpu). Every worker runs the same one on the same summed gradient,
 * so replicas stay bitwise identical either way.
 * Note [flat buffers]: on the host, trainable parameters live twice: in the tfjs variables (for
 * compute) and in one host Float32Array (the master copy FlatAdam updates), both written only
 * here; the update writes each variable from its segment. On webgpu the master copy
 * is GpuAdam's device state (params, m, v): only the gradient is uploaded.
 */
import * as tf from '@tensorflow/tfjs';
import { FlatAdam, type AdamState, type GroupHypers, type Segment } from '../shared/optim';
import { GpuAdam } from './kernels/webgpu-adam';

/** The optimizer of one phase, bound to its variables. */
export interface Updater {
  /** One Adam step on the summed gradient; writes the variables. */
  apply(grads: Float32Array, hypers: GroupHypers[]): void;
  /** Moments and step count (read back from the device on webgpu). */
  state(): Promise<AdamState>;
  load(s: AdamState): void;
  dispose(): void;
}

function assignAll(vars: tf.Variable[], parts: tf.Tensor[]): void {
  tf.tidy(() => parts.forEach((p, i) => vars[i].assign(tf.reshape(p, vars[i].shape))));
}

async function hostUpdater(vars: tf.Variable[], segments: Segment[], size: number): Promise<Updater> {
  const params = new Float32Array(size);
  // data(), not dataSync(): a GPU backend in Node cannot read back synchronously.
  const values = await Promise.all(vars.map((v) => v.data()));
  values.forEach((v, i) => params.set(v as Float32Array, segments[i].offset));
  const adam = new FlatAdam(segments);
  return {
    apply(grads, hypers) {
      adam.step(params, grads, hypers);
      // One tensor per variable from its own copy of the segment: on the host backends a split of
      // one flat tensor (wasm's SplitV) cost 2.8 s of resnet18's 3.9 s step, and a view would alias the master copy.
      tf.tidy(() => vars.forEach((v, i) => v.assign(tf.tensor(params.slice(segments[i].offset, segments[i].offset + v.size), v.shape))));
    },
    state: async () => adam.stateDict(),
    load: (s) => adam.loadStateDict(s),
    dispose: () => undefined,
  };
}

function deviceUpdater(vars: tf.Variable[], segments: Segment[]): Updater {
  const flat = tf.tidy(() => tf.concat(vars.map((v) => tf.reshape(v, [-1]))) as tf.Tensor1D);
  const adam = new GpuAdam(segments, flat);
  flat.dispose();
  return {
    apply(grads, hypers) {
      const parts = adam.step(grads, hypers);
      assignAll(vars, parts);
      tf.dispose(parts);
    },
    state: () => adam.stateDict(),
    load: (s) => adam.loadStateDict(s),
    dispose: () => adam.dispose(),
  };
}

/** The updater for `vars` laid out as `segments` (total `size` floats) on the current backend. */
export async function makeUpdater(vars: tf.Variable[], segments: Segment[], size: number): Promise<Updater> {
  return tf.getBackend() === 'webgpu' ? deviceUpdater(vars, segments) : hostUpdater(vars, segments, size);
}
