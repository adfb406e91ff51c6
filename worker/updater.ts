/**
 * How a step's all-reduced gradient becomes new weights: fastai's Adam on the host (wasm, cpu,
 * tensorflow) or on the GPU (webgpu). Every worker runs the same one on the same summed gradient,
 * so replicas stay bitwise identical either way.
 * Note [flat buffers]: on the host, trainable parameters live twice: in the tfjs variables (for
 * compute) and in one host Float32Array (the master copy FlatAdam updates), both written only
 * here; the update writes each variable from its segment, on wasm straight into the variable's
 * buffer where it is the only owner (wasm-tensors.ts). FlatAdam's pass runs in the oneDNN addon
 * where it is loaded (bitwise the JS pass). On webgpu the master copy is GpuAdam's device state
 * (params, m, v): only the gradient is uploaded.
 */
import * as tf from '@tensorflow/tfjs';
import { FlatAdam, type AdamState, type GroupHypers, type Segment } from '../shared/optim';
import { GpuAdam } from './kernels/webgpu-adam';
import { nativeAdamLoop } from './kernels/onednn-adam';
import { wasmBackend, writeInPlace } from './wasm-tensors';

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

/**
 * Each variable from its segment of the master copy: in place on wasm where it is the only owner,
 * else as a new tensor from its own copy of the segment (on the host backends a split of one flat
 * tensor, wasm's SplitV, cost 2.8 s of resnet18's 3.9 s step, and a view would alias the master copy).
 */
function writeVariables(vars: tf.Variable[], segments: Segment[], params: Float32Array): void {
  const heap = wasmBackend();
  const segmentOf = (i: number) => params.subarray(segments[i].offset, segments[i].offset + vars[i].size);
  const rest = vars.map((_, i) => i).filter((i) => heap == null || !writeInPlace(heap, vars[i], segmentOf(i)));
  if (rest.length > 0) tf.tidy(() => rest.forEach((i) => vars[i].assign(tf.tensor(segmentOf(i).slice(), vars[i].shape))));
}

async function hostUpdater(vars: tf.Variable[], segments: Segment[], size: number): Promise<Updater> {
  const params = new Float32Array(size);
  // data(), not dataSync(): a GPU backend in Node cannot read back synchronously.
  const values = await Promise.all(vars.map((v) => v.data()));
  values.forEach((v, i) => params.set(v as Float32Array, segments[i].offset));
  const adam = new FlatAdam(segments, nativeAdamLoop() ?? undefined);
  return {
    apply(grads, hypers) {
      adam.step(params, grads, hypers);
      writeVariables(vars, segments, params);
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
