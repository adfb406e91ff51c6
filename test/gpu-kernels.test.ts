/**
 * The filter gradients as matrix products of tfjs ops (webgpu-grads.ts), which make the cpu
 * backend fast enough to be the reference of the webgpu numerics checks (scripts/cpu-reference.ts):
 * checked on the cpu backend (and on wasm) against the cpu backend's own kernels, on a seeded
 * sample of shapes, and inside a whole training step with them standing in for cpu's.
 */
import { relError, sampleCase, type Case } from './helpers/numerics';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../worker/backend';
import { im2colFilterGrad, tapSumDepthwiseFilterGrad } from '../worker/kernels/webgpu-grads';
import { cpuReferenceKernels, useFastCpuReference } from '../scripts/cpu-reference';
import { ConvAttrs } from '../worker/kernels/geometry';
import { Rng } from '../shared/rng';

function attrsOf(c: Case, filterShape: number[]): ConvAttrs & { filterShape: number[] } {
  return { strides: c.s, pad: c.pad as ConvAttrs['pad'], dilations: c.d, dataFormat: 'NHWC', filterShape };
}

/**
 * The cpu kernel's filter gradient. cpu's filter-gradient kernels ignore dilation, so for a
 * dilated filter take the undilated gradient of the spanned window at every d-th tap.
 */
function cpuFilterGrad(kernel: string, x: tf.Tensor4D, dy: tf.Tensor4D, c: Case, last: number): tf.Tensor {
  const keff = (c.k - 1) * c.d + 1;
  const full = tf.engine().runKernel(kernel, { x, dy }, {
    strides: c.s,
    pad: c.pad,
    dilations: 1,
    dataFormat: 'NHWC',
    filterShape: [keff, keff, c.cin, last],
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  return c.d === 1 ? full : tf.stridedSlice(full, [0, 0, 0, 0], [keff, keff, c.cin, last], [c.d, c.d, 1, 1]);
}

const cpuConvFilterGrad = (x: tf.Tensor4D, dy: tf.Tensor4D, c: Case) => cpuFilterGrad('Conv2DBackpropFilter', x, dy, c, c.cout);

function convOperands(c: Case, seed: number): { x: tf.Tensor4D; dy: tf.Tensor4D } {
  const x = tf.randomNormal([c.b, c.h, c.w, c.cin], 0, 1, 'float32', seed) as tf.Tensor4D;
  const out = tf.conv2d(x, tf.zeros([c.k, c.k, c.cin, c.cout]) as tf.Tensor4D, c.s, c.pad as 'same', 'NHWC', c.d);
  return { x, dy: tf.randomNormal(out.shape, 0, 1, 'float32', seed + 1) as tf.Tensor4D };
}

function depthwiseOperands(c: Case, seed: number): { x: tf.Tensor4D; dy: tf.Tensor4D } {
  const x = tf.randomNormal([c.b, c.h, c.w, c.cin], 0, 1, 'float32', seed) as tf.Tensor4D;
  const out = tf.depthwiseConv2d(x, tf.zeros([c.k, c.k, c.cin, c.m]) as tf.Tensor4D, c.s, c.pad as 'same', 'NHWC', c.d);
  return { x, dy: tf.randomNormal(out.shape, 0, 1, 'float32', seed + 1) as tf.Tensor4D };
}

const CASES = 16;

describe.each(['cpu', 'wasm'])('webgpu formulations computed on %s, against the cpu kernels', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend as 'cpu' | 'wasm');
  });

  test('Conv2DBackpropFilter as one im2col matrix product (sampled grid, NHWC)', async () => {
    const rng = new Rng(20240807);
    for (let n = 0; n < CASES; n++) {
      const c = sampleCase(rng, false);
      const fs = [c.k, c.k, c.cin, c.cout];
      await tf.setBackend('cpu');
      const { x, dy } = convOperands(c, 100 + n);
      const want = await cpuConvFilterGrad(x, dy, c).data();
      await tf.setBackend(backend);
      const got = im2colFilterGrad(x, dy, fs, attrsOf(c, fs));
      const err = relError(await got.data(), want);
      if (err >= 1e-5) throw new Error(`case ${n} ${JSON.stringify(c)}: relative error ${err}`);
      tf.dispose([x, dy, got]);
    }
  });

  test('Conv2DBackpropFilter with NCHW operands', async () => {
    const c: Case = { b: 2, h: 9, w: 7, cin: 3, cout: 5, k: 3, s: 2, d: 1, pad: 'same', m: 1 };
    await tf.setBackend('cpu');
    const { x, dy } = convOperands(c, 7);
    const want = await cpuConvFilterGrad(x, dy, c).data();
    await tf.setBackend(backend);
    const nchw = (t: tf.Tensor4D) => tf.transpose(t, [0, 3, 1, 2]) as tf.Tensor4D;
    const got = im2colFilterGrad(nchw(x), nchw(dy), [3, 3, 3, 5], { strides: 2, pad: 'same', dataFormat: 'NCHW' });
    expect(relError(await got.data(), want)).toBeLessThan(1e-5);
  });

  test('DepthwiseConv2dNativeBackpropFilter as tap products summed by one matrix product (sampled grid)', async () => {
    const rng = new Rng(777);
    for (let n = 0; n < CASES; n++) {
      const c = sampleCase(rng, true);
      const fs = [c.k, c.k, c.cin, c.m];
      await tf.setBackend('cpu');
      const { x, dy } = depthwiseOperands(c, 300 + n);
      const stock = cpuFilterGrad('DepthwiseConv2dNativeBackpropFilter', x, dy, c, c.m);
      const want = await stock.data();
      await tf.setBackend(backend);
      const got = tapSumDepthwiseFilterGrad(x, dy, fs, attrsOf(c, fs));
      const err = relError(await got.data(), want);
      if (err >= 1e-5) throw new Error(`case ${n} ${JSON.stringify(c)}: relative error ${err}`);
      tf.dispose([x, dy, stock, got]);
    }
  });
});

/** A small net with every layer kind the project's models train: strided convs, BN, depthwise with a multiplier, residual add, both pools, dense. */
function smallNet(): tf.LayersModel {
  const inp = tf.input({ shape: [12, 12, 3] });
  let seed = 11;
  const init = () => tf.initializers.glorotNormal({ seed: seed++ });
  const conv = (x: tf.SymbolicTensor, f: number, s: number, pad: 'same' | 'valid' = 'same') =>
    tf.layers
      .conv2d({ filters: f, kernelSize: 3, strides: s, padding: pad, useBias: false, kernelInitializer: init() })
      .apply(x) as tf.SymbolicTensor;
  const bnRelu = (x: tf.SymbolicTensor) =>
    tf.layers.reLU({ maxValue: 6 }).apply(tf.layers.batchNormalization({ momentum: 0.9 }).apply(x)) as tf.SymbolicTensor;
  let x = bnRelu(conv(inp, 8, 1));
  x = bnRelu(conv(x, 16, 2));
  const dw = tf.layers
    .depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', useBias: false, depthwiseInitializer: init() })
    .apply(x) as tf.SymbolicTensor;
  const pw = tf.layers
    .conv2d({ filters: 16, kernelSize: 1, useBias: false, kernelInitializer: init() })
    .apply(bnRelu(dw)) as tf.SymbolicTensor;
  x = tf.layers.add().apply([x, bnRelu(pw)]) as tf.SymbolicTensor;
  const dws = tf.layers
    .depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false, depthwiseInitializer: init() })
    .apply(x) as tf.SymbolicTensor;
  const pooled = tf.layers
    .concatenate()
    .apply([
      tf.layers.globalAveragePooling2d({}).apply(dws),
      tf.layers.globalMaxPooling2d({}).apply(dws),
    ] as tf.SymbolicTensor[]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, kernelInitializer: init() }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: inp, outputs: out });
}

async function stepGrads(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): Promise<Float32Array[]> {
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const { grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    vars,
  );
  const out = await Promise.all(vars.map(async (v) => (await grads[v.name].data()) as Float32Array));
  tf.dispose(Object.values(grads));
  return out;
}

test('a whole training step with the fast cpu reference kernels in place of cpu kernels matches stock cpu (<= 1e-4)', async () => {
  await selectBackend('cpu');
  const model = smallNet();
  const x = tf.randomNormal([4, 12, 12, 3], 0, 1, 'float32', 5);
  const y = tf.oneHot(tf.tensor1d([0, 3, 1, 4], 'int32'), 5);
  const want = await stepGrads(model, x, y);
  const stock = tf.getKernel('Conv2DBackpropFilter', 'cpu');
  const calls: Record<string, number> = {};
  const counted = cpuReferenceKernels.map((k) => ({
    ...k,
    kernelFunc: ((args: Parameters<tf.KernelFunc>[0]) => {
      calls[k.kernelName] = (calls[k.kernelName] ?? 0) + 1;
      return k.kernelFunc(args);
    }) as tf.KernelFunc,
  }));
  const restore = useFastCpuReference(counted);
  let got: Float32Array[];
  try {
    got = await stepGrads(model, x, y);
  } finally {
    restore();
  }
  // 2 convolutions + 1 pointwise, 2 depthwise: each filter gradient went through the reference kernel.
  expect(calls).toEqual({ Conv2DBackpropFilter: 3, DepthwiseConv2dNativeBackpropFilter: 2 });
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => expect([i, relError(g, want[i]) <= 1e-4]).toEqual([i, true]));
  expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')).toBe(stock);
});
