/**
 * The forward kernels ringtune replaces on wasm where oneDNN is installed (convolutions with tfjs's
 * fused bias and activations, plain and depthwise; matrix products, fused too; elementwise
 * arithmetic and comparisons), the training BatchNorm layer and BatchNorm at inference, the ReLU and max-pool gradients, against the
 * cpu backend, with every kernel set here.
 * Shapes are sampled from the same grid as the gradient kernels' tests.
 */
import * as tf from '@tensorflow/tfjs';
import { relError, sampleCase, type Case } from './helpers/numerics';
import { kernelModes, useKernels } from './helpers/kernel-modes';
import { Rng } from '../shared/rng';

const TOL = 1e-5;
const modes = kernelModes();

/** Runs `body` on cpu and on wasm with each kernel set; expects every output within TOL of cpu's. */
async function expectEachMatchesCpu(what: string, body: () => tf.Tensor | tf.Tensor[], only = modes): Promise<void> {
  const outputs = async () => {
    const out = body();
    const list = Array.isArray(out) ? out : [out];
    const data = await Promise.all(list.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose(list);
    return data;
  };
  await tf.setBackend('cpu');
  const cpu = await outputs();
  for (const mode of only) {
    await useKernels(mode);
    const got = await outputs();
    const errors = got.map((g, i) => relError(g, cpu[i]));
    expect([what, mode, errors.every((e) => e <= TOL) ? 'ok' : errors]).toEqual([what, mode, 'ok']);
  }
}

const ACTIVATIONS = ['linear', 'relu', 'relu6', 'leakyrelu', 'sigmoid', 'elu', 'prelu'] as const;

describe(`forward kernels (${modes.join(', ')}) match the cpu backend`, () => {
  beforeAll(async () => {
    await useKernels(modes[0]);
  });

  const rng = new Rng(20240607);
  const convCases = Array.from({ length: 16 }, () => sampleCase(rng, false));
  test.each(convCases.map((c, i) => [JSON.stringify(c), c, ACTIVATIONS[i % ACTIVATIONS.length]]))(
    'conv2d %s, fused %s',
    async (_name, c, activation) => {
      const { b, h, w, cin, cout, k, s, d, pad } = c as Case;
      const x = tf.randomNormal([b, h, w, cin], 0, 1, 'float32', 1) as tf.Tensor4D;
      const filter = tf.randomNormal([k, k, cin, cout], 0, 1, 'float32', 2) as tf.Tensor4D;
      const bias = tf.randomNormal([cout], 0, 1, 'float32', 3);
      const prelu = tf.randomUniform([cout], 0, 0.5, 'float32', 4);
      const strides = s;
      const dilations = d;
      const p = pad as 'same';
      await expectEachMatchesCpu('plain', () => tf.conv2d(x, filter, strides, p, 'NHWC', dilations));
      await expectEachMatchesCpu('fused', () =>
        tf.fused.conv2d({
          x,
          filter,
          strides,
          pad: p,
          dilations,
          bias,
          activation: activation as tf.fused.Activation,
          leakyreluAlpha: 0.15,
          preluActivationWeights: activation === 'prelu' ? prelu : undefined,
        }),
      );
      tf.dispose([x, filter, bias, prelu]);
    },
  );

  // tfjs's own wasm Conv2D takes NHWC only: the oneDNN kernel is checked there alone.
  test('conv2d in NCHW layout, fused', async () => {
    const x = tf.randomNormal([2, 3, 9, 11], 0, 1, 'float32', 19) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 20) as tf.Tensor4D;
    const bias = tf.randomNormal([4], 0, 1, 'float32', 21);
    await expectEachMatchesCpu(
      'NCHW',
      () => tf.fused.conv2d({ x, filter, strides: 2, pad: 'same', dataFormat: 'NCHW', bias, activation: 'relu' }),
      modes.filter((m) => m === 'oneDNN kernels'),
    );
    tf.dispose([x, filter, bias]);
  });

  const dwCases = Array.from({ length: 12 }, () => sampleCase(rng, true));
  test.each(dwCases.map((c, i) => [JSON.stringify(c), c, ACTIVATIONS[i % ACTIVATIONS.length]]))(
    'depthwise %s, fused %s',
    async (_name, c, activation) => {
      const { b, h, w, cin, k, s, d, pad, m } = c as Case;
      const x = tf.randomNormal([b, h, w, cin], 0, 1, 'float32', 5) as tf.Tensor4D;
      const filter = tf.randomNormal([k, k, cin, m], 0, 1, 'float32', 6) as tf.Tensor4D;
      const bias = tf.randomNormal([cin * m], 0, 1, 'float32', 7);
      const p = pad as 'same';
      await expectEachMatchesCpu('plain', () => tf.depthwiseConv2d(x, filter, s, p, 'NHWC', d));
      const fusedActivation = (activation === 'prelu' ? 'relu' : activation) as tf.fused.Activation;
      await expectEachMatchesCpu('fused', () =>
        tf.fused.depthwiseConv2d({ x, filter, strides: s, pad: p, dilations: d, bias, activation: fusedActivation, leakyreluAlpha: 0.15 }),
      );
      tf.dispose([x, filter, bias]);
    },
  );

  // tfjs's own wasm _FusedMatMul is wrong with a transpose or a batch (off by O(1)): oneDNN's is checked there alone.
  test.each([
    ['2-D', [5, 7], [7, 3], false, false],
    ['2-D, both transposed', [7, 5], [3, 7], true, true],
    ['batched, a transposed', [4, 9, 6], [4, 9, 11], true, false],
    ['b broadcast over the batch, b transposed', [4, 6, 9], [11, 9], false, true],
    ['a broadcast over the batch', [1, 6, 9], [3, 9, 2], false, false],
    ['rank 4', [2, 3, 4, 5], [2, 3, 5, 6], false, false],
    ['odd sizes', [1, 1], [1, 17], false, false],
  ])('matMul %s', async (_name, aShape, bShape, transposeA, transposeB) => {
    const stockFusedWorks = (aShape as number[]).length === 2 && !transposeA && !transposeB;
    const a = tf.randomNormal(aShape as number[], 0, 1, 'float32', 8);
    const b = tf.randomNormal(bShape as number[], 0, 1, 'float32', 9);
    const n = (bShape as number[])[(bShape as number[]).length - (transposeB ? 2 : 1)];
    const bias = tf.randomNormal([n], 0, 1, 'float32', 10);
    await expectEachMatchesCpu('plain', () => tf.matMul(a, b, transposeA as boolean, transposeB as boolean));
    for (const activation of ['linear', 'relu', 'elu', 'sigmoid'] as const)
      await expectEachMatchesCpu(
        `fused ${activation}`,
        () => tf.fused.matMul({ a, b, transposeA: transposeA as boolean, transposeB: transposeB as boolean, bias, activation }),
        stockFusedWorks ? modes : modes.filter((m) => m === 'oneDNN kernels'),
      );
    tf.dispose([a, b, bias]);
  });

  test.each([
    ['rank 4', [3, 5, 4, 6]],
    ['rank 2', [7, 5]],
    ['one channel, odd sizes', [2, 3, 7, 1]],
  ])('training BatchNormalization layer (%s): output, moving statistics and gradients', async (_name, shape) => {
    const s = shape as number[];
    const c = s[s.length - 1];
    const x = tf.randomNormal(s, 1, 2, 'float32', 11);
    const w = tf.randomNormal(s, 0, 1, 'float32', 12);
    const layer = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3 });
    layer.build(s);
    const initial = [tf.randomUniform([c], 0.5, 2, 'float32', 13), tf.randomNormal([c], 0, 1, 'float32', 14), tf.zeros([c]), tf.ones([c])];
    const gamma = (layer.trainableWeights[0] as unknown as { val: tf.Variable }).val;
    const beta = (layer.trainableWeights[1] as unknown as { val: tf.Variable }).val;
    await expectEachMatchesCpu('output, stats, gradients', () => {
      layer.setWeights(initial);
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, w)) as tf.Scalar,
        [gamma, beta],
      );
      const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, w)))(x);
      return [
        value,
        grads[gamma.name],
        grads[beta.name],
        dx,
        ...layer
          .getWeights()
          .slice(2)
          .map((t) => t.clone()),
      ];
    });
    tf.dispose([x, w, ...initial, ...layer.weights.map((v) => v.read())]);
  });

  test.each([
    ['rank 4', [3, 5, 4, 6], [6]],
    ['rank 2', [7, 5], [5]],
    ['one channel, odd sizes', [2, 3, 7, 1], [1]],
    ['statistics of rank 4 (the kernel it replaces takes these)', [2, 3, 4, 5], [1, 1, 1, 5]],
  ])('BatchNorm at inference, moving statistics (%s)', async (_name, shape, statShape) => {
    const s = shape as number[];
    const stat = statShape as number[];
    const x = tf.randomNormal(s, 1, 2, 'float32', 21);
    const mean = tf.randomNormal(stat, 0.5, 1, 'float32', 22);
    const variance = tf.randomUniform(stat, 0.1, 3, 'float32', 23);
    const offset = tf.randomNormal(stat, 0, 1, 'float32', 24);
    const scale = tf.randomUniform(stat, 0.5, 2, 'float32', 25);
    await expectEachMatchesCpu('batchNorm', () => tf.batchNorm(x, mean, variance, offset, scale, 1e-3));
    tf.dispose([x, mean, variance, offset, scale]);
  });

  const binaryOps: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ['add', tf.add],
    ['sub', tf.sub],
    ['mul', tf.mul],
    ['div', (a, b) => tf.div(a, tf.add(b, 0.25))], // never by 0
    ['equal', tf.equal],
    ['notEqual', tf.notEqual],
    ['greater', tf.greater],
    ['greaterEqual', tf.greaterEqual],
    ['less', tf.less],
    ['lessEqual', tf.lessEqual],
  ];
  test.each([
    ['same shapes', [64, 9, 9, 13], [64, 9, 9, 13]],
    ['per channel', [8, 9, 9, 13], [13]],
    ['per channel, broadcast first', [1, 1, 13], [8, 9, 9, 13]],
    ['a global pool gradient', [8, 4, 4, 32], [8, 1, 1, 32]],
    ['a scalar', [5000], []],
    ['a scalar first', [], [3, 2000]],
    ['both broadcast', [8, 1, 300], [1, 7, 1]],
  ])('elementwise ops, %s', async (_name, aShape, bShape) => {
    const a = tf.round(tf.randomNormal(aShape as number[], 0, 3, 'float32', 17)); // rounded: ties for the comparisons
    const b = tf.round(tf.randomNormal(bShape as number[], 0, 3, 'float32', 18));
    for (const [name, f] of binaryOps) await expectEachMatchesCpu(name, () => f(a, b));
    tf.dispose([a, b]);
  });

  test.each([
    ['3x3 stride 2 valid, zero-padded input', [4, 9, 9, 5], 3, 2, 'valid'],
    ['2x2 stride 2 same, odd size', [2, 7, 5, 3], 2, 2, 'same'],
    ['3x3 stride 1 same', [3, 6, 6, 16], 3, 1, 'same'],
  ])('max-pool gradient, ties included: %s', async (_name, shape, k, s, pad) => {
    // ReLU zeros and zero padding make windows of equal maxima.
    const x = tf.pad(tf.relu(tf.round(tf.randomNormal(shape as number[], 0, 2, 'float32', 22))), [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    const p = pad as 'same';
    const y = tf.maxPool(x as tf.Tensor4D, k as number, s as number, p);
    const w = tf.randomNormal(y.shape, 0, 1, 'float32', 23);
    await expectEachMatchesCpu('dx', () =>
      tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, k as number, s as number, p), w)))(x),
    );
    tf.dispose([x, y, w]);
  });

  test.each([
    ['relu', (x: tf.Tensor) => tf.relu(x)],
    ['relu6', (x: tf.Tensor) => tf.relu6(x)],
  ])('%s gradient, at the kinks too', async (_name, f) => {
    const x = tf.concat([tf.tensor1d([0, 6, -0, 5.999, 6.001, -1e-7]), tf.randomNormal([200], 3, 4, 'float32', 15)]);
    const w = tf.randomNormal([206], 0, 1, 'float32', 16);
    await expectEachMatchesCpu('dx', () => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v), w)))(x));
    tf.dispose([x, w]);
  });
});
