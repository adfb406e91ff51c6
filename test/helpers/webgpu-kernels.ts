/**
 * Every kernel ringtune registers for webgpu against the cpu backend on the same inputs, run as
 * a child process on a real adapter (`node dist/test/helpers/webgpu-kernels.js` prints one JSON
 * line per case). Each case is a function of tensors run once on cpu (stock kernels: the
 * reference) and once on webgpu (ringtune's kernels): convolutions and both gradients on a seeded
 * sample of the shape grid, depthwise filter gradients, Sum/Mean over leading axes and their
 * gradients, single matrix products, the ReLU6 gradient, the fused training BatchNorm (output,
 * statistics, running statistics, gradients) and Adam over the flat buffer.
 */
import * as tf from '@tensorflow/tfjs';
import { releaseBackend, selectBackend } from '../../worker/backend';
import { fusedBatchNormTraining } from '../../worker/kernels/webgpu-bn-layer';
import { Rng } from '../../shared/rng';
import { normError } from '../../scripts/grad-agreement';
import { sampleCase, SMALL_OUTPUT_CONVS, type Case } from './numerics';
import { FlatAdam, type Segment } from '../../shared/optim';
import { GpuAdam } from '../../worker/kernels/webgpu-adam';

const MARK = 'WEBGPU_KERNEL ';

/** A case: builds its outputs from seeded inputs on whichever backend is active. */
interface KernelCase {
  name: string;
  run(): tf.Tensor[];
}

const normal = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const kernel = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;

function convCase(c: Case, seed: number): KernelCase {
  const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined };
  return {
    name: `conv ${JSON.stringify(c)}`,
    run: () => {
      const x = normal([c.b, c.h, c.w, c.cin], seed);
      const filter = normal([c.k, c.k, c.cin, c.cout], seed + 1);
      const bias = normal([c.cout], seed + 2);
      const activation = ['linear', 'relu', 'relu6'][seed % 3];
      const y = kernel('FusedConv2D', { x, filter, bias }, { ...attrs, activation });
      const plain = kernel('Conv2D', { x, filter }, attrs);
      const dy = normal(y.shape, seed + 3);
      const dw = kernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: filter.shape });
      const dx = kernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: x.shape });
      return [tf.mul(y, 1), plain, dw, dx];
    },
  };
}

function depthwiseCase(c: Case, seed: number): KernelCase {
  return {
    name: `depthwise filter gradient ${JSON.stringify(c)}`,
    run: () => {
      const x = normal([c.b, c.h, c.w, c.cin], seed) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x, tf.zeros([c.k, c.k, c.cin, c.m]) as tf.Tensor4D, c.s, c.pad as 'same', 'NHWC', c.d);
      const dy = normal(y.shape, seed + 1);
      const attrs = { strides: c.s, pad: c.pad, dilations: c.d, filterShape: [c.k, c.k, c.cin, c.m] };
      if (tf.getBackend() !== 'cpu' || c.d === 1) return [kernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs)];
      // cpu's kernel ignores dilation: the undilated gradient of the spanned window, every d-th tap.
      const span = (c.k - 1) * c.d + 1;
      const full = kernel(
        'DepthwiseConv2dNativeBackpropFilter',
        { x, dy },
        { ...attrs, dilations: 1, filterShape: [span, span, c.cin, c.m] },
      );
      return [tf.stridedSlice(full, [0, 0, 0, 0], full.shape, [c.d, c.d, 1, 1])];
    },
  };
}

function reduceCase(shape: number[], axis: number[], keepDims: boolean, seed: number): KernelCase {
  return {
    name: `Sum/Mean of ${JSON.stringify(shape)} over ${JSON.stringify(axis)}${keepDims ? ' keepDims' : ''}, and their gradients`,
    run: () => {
      const x = normal(shape, seed);
      const sum = tf.sum(x, axis, keepDims);
      const mean = tf.mean(x, axis, keepDims);
      const r = normal(sum.shape, seed + 1);
      const grads = tf.grads((a: tf.Tensor) =>
        tf.add(tf.sum(tf.mul(tf.sum(a, axis, keepDims), r)), tf.sum(tf.mul(tf.mean(a, axis, keepDims), r))),
      )([x]);
      return [sum, mean, ...grads];
    },
  };
}

function batchNormCase(shape: number[], seed: number): KernelCase {
  return {
    name: `training BatchNorm of ${JSON.stringify(shape)}: output, statistics, running statistics, gradients`,
    run: () => {
      const C = shape[shape.length - 1];
      const x = tf.add(tf.mul(normal(shape, seed), 3), 0.5);
      const gamma = normal([C], seed + 1);
      const beta = normal([C], seed + 2);
      const r = normal(shape, seed + 3);
      const axes = shape.slice(0, -1).map((_, i) => i);
      // webgpu: ringtune's fused op; cpu: tfjs-layers' formula (moments, then batchNorm).
      const forward = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        if (tf.getBackend() === 'webgpu') return fusedBatchNormTraining(a, g, b, 1e-3);
        const { mean, variance } = tf.moments(a, axes);
        return { y: tf.batchNorm(a, mean, variance, b, g, 1e-3), mean, variance };
      };
      const { y, mean, variance } = forward(x, gamma, beta);
      const old = tf.onesLike(variance);
      const running =
        tf.getBackend() === 'webgpu'
          ? (tf.engine().runKernel('RingtuneMovingAverage', { old, value: variance }, { momentum: 0.9 }) as tf.Tensor)
          : tf.sub(old, tf.mul(tf.sub(old, variance), 1 - 0.9));
      const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(forward(a, g, b).y, r)))([x, gamma, beta]);
      return [y, mean, variance, running, ...grads];
    },
  };
}

function matMulCase(m: number, k: number, n: number, ta: boolean, tb: boolean, seed: number): KernelCase {
  return {
    name: `matMul ${m}x${k} by ${k}x${n}${ta ? ' (a transposed)' : ''}${tb ? ' (b transposed)' : ''}, plain and fused with bias + relu`,
    run: () => {
      const a = normal(ta ? [k, m] : [m, k], seed) as tf.Tensor2D;
      const b = normal(tb ? [n, k] : [k, n], seed + 1) as tf.Tensor2D;
      const bias = normal([n], seed + 2);
      return [tf.matMul(a, b, ta, tb), tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias, activation: 'relu' })];
    },
  };
}

function clipCase(seed: number): KernelCase {
  return {
    name: 'ReLU6 (ClipByValue) gradient, with values exactly on both bounds',
    run: () => {
      const x = tf.concat(
        [tf.mul(normal([4, 5, 6, 7], seed), 4), tf.tensor1d([0, 6, -0.5, 6.5]).reshape([1, 1, 1, 4]).tile([4, 5, 6, 1])],
        3,
      );
      const r = normal(x.shape, seed + 1);
      return tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(a, 0, 6), r)))([x]);
    },
  };
}

/** Three Adam steps over two groups (one without weight decay): GpuAdam on webgpu, FlatAdam on cpu. */
function adamCase(seed: number): KernelCase {
  const segments: Segment[] = [
    { offset: 0, length: 700, group: 0, decay: true },
    { offset: 700, length: 33, group: 0, decay: false },
    { offset: 733, length: 1200, group: 1, decay: true },
  ];
  const hypers = [0.9, 0.85, 0.8].map((mom, t) => [
    { lr: 1e-3 * (t + 1), mom, wd: 0.01 },
    { lr: 3e-3, mom, wd: 0.1 },
  ]);
  return {
    name: 'Adam over the flat buffer (3 steps, 2 groups, with and without weight decay, whole and in chunks)',
    run: () => {
      const rng = new Rng(seed);
      const p0 = Float32Array.from({ length: 1933 }, () => rng.uniform(-1, 1));
      const grads = hypers.map(() => Float32Array.from({ length: 1933 }, () => rng.uniform(-0.1, 0.1)));
      if (tf.getBackend() === 'webgpu') {
        // chunkFloats: the second run keeps its state in 4 chunks, cutting the segments.
        const run = (chunkFloats?: number) => {
          const opt = new GpuAdam(segments, tf.tensor1d(p0), chunkFloats);
          let parts: tf.Tensor[] = [];
          hypers.forEach((h, t) => {
            tf.dispose(parts);
            parts = opt.step(grads[t], h);
          });
          opt.dispose();
          return tf.concat(parts);
        };
        const first = run();
        // Deterministic, chunked or not: a second run gives the same bits (the difference is exactly 0, like cpu's).
        return [first, tf.sub(first, run(500))];
      }
      const opt = new FlatAdam(segments);
      const p = Float32Array.from(p0);
      hypers.forEach((h, t) => opt.step(p, grads[t], h));
      return [tf.tensor1d(p), tf.zeros([p.length])];
    },
  };
}

/** The cases, seeded: the same list in every process. */
export function kernelCases(): KernelCase[] {
  const rng = new Rng(20251204);
  const cases: KernelCase[] = [];
  for (let i = 0; i < 14; i++) cases.push(convCase({ ...sampleCase(rng, false), d: 1 }, 100 + 10 * i));
  // Wider than one 64x64 tile in M and N, and a long K: several workgroups and K splits.
  cases.push(convCase({ b: 4, h: 17, w: 19, cin: 70, cout: 80, k: 3, s: 1, d: 1, pad: 'same', m: 1 }, 300));
  cases.push(convCase({ b: 2, h: 9, w: 9, cin: 130, cout: 66, k: 3, s: 2, d: 1, pad: 'valid', m: 1 }, 310));
  // Few outputs: 32x32 and 16x16 tiles, K splits with a shorter last one.
  SMALL_OUTPUT_CONVS.forEach((c, i) => cases.push(convCase(c, 320 + 10 * i)));
  for (let i = 0; i < 10; i++) cases.push(depthwiseCase(sampleCase(rng, true), 400 + 10 * i));
  cases.push(depthwiseCase({ b: 3, h: 21, w: 18, cin: 96, cout: 1, k: 3, s: 2, d: 1, pad: 'same', m: 1 }, 500));
  cases.push(reduceCase([5, 7, 6, 70], [0, 1, 2], false, 600));
  cases.push(reduceCase([300, 9], [0], true, 610));
  cases.push(reduceCase([4, 6, 5, 3], [1, 2], false, 620)); // not leading axes: tfjs-webgpu's kernel, ringtune's gradient
  cases.push(reduceCase([12], [0], false, 630));
  cases.push(batchNormCase([4, 9, 7, 40], 700));
  cases.push(batchNormCase([16, 70], 710));
  cases.push(adamCase(800));
  cases.push(matMulCase(8, 2560, 70, false, false, 900), matMulCase(33, 70, 65, true, false, 910), matMulCase(5, 300, 9, false, true, 920));
  cases.push(matMulCase(70, 8, 130, true, true, 930));
  cases.push(clipCase(1000));
  return cases;
}

async function runAll(): Promise<{ name: string; errors: number[] }[]> {
  const cases = kernelCases();
  await selectBackend('cpu');
  const want: Float32Array[][] = [];
  for (const c of cases) {
    const outs = tf.tidy(c.run);
    want.push(await Promise.all(outs.map(async (t) => (await t.data()) as Float32Array)));
    tf.dispose(outs);
  }
  await selectBackend('webgpu');
  const results = [];
  for (const [i, c] of cases.entries()) {
    const outs = tf.tidy(c.run);
    const got = await Promise.all(outs.map(async (t) => (await t.data()) as Float32Array));
    tf.dispose(outs);
    results.push({ name: c.name, errors: got.map((g, j) => normError(g, want[i][j])) });
  }
  releaseBackend();
  return results;
}

if (require.main === module) {
  runAll().then(
    (r) => {
      for (const line of r) console.log(MARK + JSON.stringify(line));
      process.exit(0);
    },
    (e) => {
      console.log(MARK + JSON.stringify({ error: (e as Error).stack }));
      process.exit(1);
    },
  );
}
