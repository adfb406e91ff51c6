/**
 * The host side of a worker step without tfjs's generic copies (worker/wasm-tensors.ts): the
 * updater writes each variable in place on wasm when it is the buffer's only owner, and gradient
 * buckets are copied straight out of the heap. Both must give exactly what the generic path gives
 * (cpu backend here), leave a shared buffer's other owners untouched and keep the tensor count flat.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../worker/backend';
import { makeUpdater } from '../worker/updater';
import { readBuckets } from '../worker/bucket-reads';
import { hasWasmInternals } from '../worker/wasm-tensors';
import { bucketize } from '../worker/buckets';
import { adamLoop, FlatAdam, type Segment } from '../shared/optim';
import { Rng } from '../shared/rng';
import { kernelModes, useKernels } from './helpers/kernel-modes';

const SHAPES = [[3, 3, 2, 4], [4], [5, 7], [1]];
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function layout(): { segments: Segment[]; size: number } {
  let offset = 0;
  const segments = SHAPES.map((s, i) => {
    const length = s.reduce((a, b) => a * b, 1);
    const seg = { offset, length, group: i % 2, decay: s.length > 1 };
    offset += length;
    return seg;
  });
  return { segments, size: offset };
}

function values(seed: number, n: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

/** Three updater steps on `backend`; the variables' values after each, and whether the first variable kept its buffer in each. */
async function update(backend: 'wasm' | 'cpu', shareFirst: boolean) {
  await selectBackend(backend);
  const { segments, size } = layout();
  const init = values(1, size);
  const vars = tf.tidy(() =>
    SHAPES.map((s, i) => tf.variable(tf.tensor(init.slice(segments[i].offset, segments[i].offset + segments[i].length), s))),
  );
  const alias = shareFirst ? tf.reshape(vars[0], [-1]) : null; // a second owner of the first variable's buffer
  const updater = await makeUpdater(vars, segments, size);
  const counts: number[] = [];
  const after: Float32Array[] = [];
  const ids: object[] = [vars[0].dataId];
  for (let t = 1; t <= 3; t++) {
    updater.apply(values(10 + t, size, 0.1), [
      { lr: 1e-2, mom: 0.9 },
      { lr: 3e-2, mom: 0.8, wd: 0.1 },
    ]);
    counts.push(tf.memory().numTensors);
    ids.push(vars[0].dataId);
    after.push(Float32Array.from((await Promise.all(vars.map((v) => v.data()))).flatMap((d) => Array.from(d as Float32Array))));
  }
  const aliasValues = alias ? ((await alias.data()) as Float32Array) : null;
  tf.dispose([...vars, ...(alias ? [alias] : [])]);
  updater.dispose();
  // Per step, whether the first variable still had the buffer it had before that step.
  const kept = ids.slice(1).map((id, t) => id === ids[t]);
  return { after, counts, kept, aliasValues, init };
}

function reference(): Float32Array[] {
  const { segments, size } = layout();
  const p = values(1, size);
  const adam = new FlatAdam(segments, adamLoop);
  const out: Float32Array[] = [];
  for (let t = 1; t <= 3; t++) {
    adam.step(p, values(10 + t, size, 0.1), [
      { lr: 1e-2, mom: 0.9 },
      { lr: 3e-2, mom: 0.8, wd: 0.1 },
    ]);
    out.push(p.slice());
  }
  return out;
}

describe('host updater', () => {
  test('on wasm writes the variables in place, bitwise what the JS FlatAdam computes and what cpu gets', async () => {
    const ref = reference();
    const wasm = await update('wasm', false);
    const cpu = await update('cpu', false);
    for (let t = 0; t < 3; t++) {
      expect(bytes(wasm.after[t]).equals(bytes(ref[t]))).toBe(true);
      expect(bytes(cpu.after[t]).equals(bytes(ref[t]))).toBe(true);
    }
    expect(wasm.kept).toEqual([true, true, true]); // written in place
    expect(cpu.kept).toEqual([false, false, false]); // assigned a new tensor each step
    expect(new Set(wasm.counts).size).toBe(1);
  });

  test('a variable sharing its buffer gets a new one; the other owner keeps the old values', async () => {
    const ref = reference();
    const shared = await update('wasm', true);
    for (let t = 0; t < 3; t++) expect(bytes(shared.after[t]).equals(bytes(ref[t]))).toBe(true);
    expect(shared.kept).toEqual([false, true, true]); // a new buffer once, then it is the only owner of that one
    expect(bytes(shared.aliasValues!).equals(bytes(shared.init.subarray(0, 72)))).toBe(true);
    expect(new Set(shared.counts).size).toBe(1);
  });

  test("tfjs's wasm backend has the internals the heap path uses; a backend without them takes the generic path", async () => {
    await selectBackend('wasm');
    expect(hasWasmInternals(tf.backend())).toBe(true);
    const real = tf.backend() as unknown as { wasm: object; dataIdMap: object };
    expect(hasWasmInternals({ wasm: real.wasm })).toBe(false);
    expect(hasWasmInternals({ wasm: { HEAPU8: new Uint8Array(8), tfjs: {} }, dataIdMap: real.dataIdMap })).toBe(false);
    expect(hasWasmInternals(null)).toBe(false);
    await selectBackend('cpu');
    expect(hasWasmInternals(tf.backend())).toBe(false);
  });
});

describe.each(kernelModes())('a variable written in place, %s', (mode) => {
  test('is what the next convolution and matmul use (no operator cached from its old values survives)', async () => {
    await useKernels(mode);
    const x = tf.tensor4d(values(5, 2 * 6 * 6 * 2), [2, 6, 6, 2]);
    const a = tf.tensor2d(values(6, 3 * 8), [3, 8]);
    const filter = tf.tidy(() => tf.variable(tf.tensor4d(values(7, 3 * 3 * 2 * 4), [3, 3, 2, 4])));
    const weight = tf.tidy(() => tf.variable(tf.tensor2d(values(8, 8 * 5), [8, 5])));
    const vars = [filter, weight];
    const segments: Segment[] = [
      { offset: 0, length: 72, group: 0, decay: true },
      { offset: 72, length: 40, group: 0, decay: true },
    ];
    const run = () => tf.tidy(() => [tf.conv2d(x, filter, 1, 'same'), tf.matMul(a, weight)].map((t) => t.dataSync() as Float32Array));
    const first = run(); // builds the backend's operators from the first values
    const updater = await makeUpdater(vars, segments, 112);
    const ids = vars.map((v) => v.dataId);
    updater.apply(values(9, 112, 0.5), [{ lr: 0.1, mom: 0.9 }]);
    expect(vars.map((v) => v.dataId)).toEqual(ids); // written in place
    const second = run();
    const fresh = tf.tidy(() =>
      [tf.conv2d(x, tf.tensor4d(filter.dataSync(), [3, 3, 2, 4]), 1, 'same'), tf.matMul(a, tf.tensor2d(weight.dataSync(), [8, 5]))].map(
        (t) => t.dataSync() as Float32Array,
      ),
    );
    for (let i = 0; i < 2; i++) {
      expect(bytes(second[i]).equals(bytes(first[i]))).toBe(false);
      expect(bytes(second[i]).equals(bytes(fresh[i]))).toBe(true);
    }
    tf.dispose([x, a, ...vars]);
    updater.dispose();
  });
});

describe('gradient buckets', () => {
  async function gather(backend: 'wasm' | 'cpu'): Promise<{ flat: Float32Array; leftover: number }> {
    await selectBackend(backend);
    const { size } = layout();
    const src = values(3, size);
    const before = tf.memory().numTensors;
    let at = 0;
    const grads = SHAPES.map((s) => {
      const n = s.reduce((a, b) => a * b, 1);
      return tf.tensor(src.slice(at, (at += n)), s);
    });
    const buckets = bucketize(
      SHAPES.map((s) => s.reduce((a, b) => a * b, 1)),
      40,
    );
    expect(buckets.length).toBeGreaterThan(1);
    const flat = new Float32Array(size);
    const reads = readBuckets(grads, buckets);
    for (let k = 0; k < buckets.length; k++) (await reads.writes[k])(flat.subarray(buckets[k].start, buckets[k].end));
    reads.release();
    expect(bytes(flat).equals(bytes(src))).toBe(true);
    return { flat, leftover: tf.memory().numTensors - before };
  }

  test('fill the flat buffer straight from the wasm heap as the generic read-back does, and free every gradient', async () => {
    const wasm = await gather('wasm');
    const cpu = await gather('cpu');
    expect(bytes(wasm.flat).equals(bytes(cpu.flat))).toBe(true);
    expect([wasm.leftover, cpu.leftover]).toEqual([0, 0]);
  });
});
