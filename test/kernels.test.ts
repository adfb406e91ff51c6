/**
 * ringtune's wasm gradient kernels, and oneDNN's where it is installed, against the cpu backend's
 * kernels on a seeded sample of the shape grid (batch 1-8; channels 1, 3, 16, 32; kernels 1, 3, 5, 7; strides 1, 2; dilation 1, 2;
 * same and valid padding). The cpu kernels take no dilation for conv2d, so dilated cases compare
 * against the equivalent undilated convolution with a zero-inserted filter.
 */
import { relError, sampleCase, type Case } from './helpers/numerics';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../worker/backend';
import { Rng } from '../shared/rng';
import { kernelModes, useKernels } from './helpers/kernel-modes';

const TOL = 1e-5;

function run(kernel: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor {
  return tf.engine().runKernel(kernel, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

/** Filter [k, k, a, b] with d-1 zeros between taps: undilated equivalent of a dilated filter. */
function dilateFilter(f: tf.Tensor4D, d: number): tf.Tensor4D {
  if (d === 1) return f;
  const [k, , a, b] = f.shape;
  const spread = tf.pad(tf.reshape(f, [k, 1, k, 1, a, b]), [
    [0, 0],
    [0, d - 1],
    [0, 0],
    [0, d - 1],
    [0, 0],
    [0, 0],
  ]);
  return tf.slice(tf.reshape(spread, [k * d, k * d, a, b]), [0, 0, 0, 0], [(k - 1) * d + 1, (k - 1) * d + 1, -1, -1]) as tf.Tensor4D;
}

const modes = kernelModes();

/** Runs `body` on cpu and on wasm with each kernel set; expects every wasm result within TOL of cpu's. */
async function expectEachMatchesCpu(what: string, body: () => tf.Tensor): Promise<void> {
  await tf.setBackend('cpu');
  const c = body();
  const cpu = (await c.data()) as Float32Array;
  c.dispose();
  for (const mode of modes) {
    await useKernels(mode);
    const w = body();
    const wasm = (await w.data()) as Float32Array;
    w.dispose();
    expect([what, mode, relError(wasm, cpu) <= TOL]).toEqual([what, mode, true]);
  }
}

describe(`wasm gradient kernels (${modes.join(', ')}) match the cpu backend`, () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  const rng = new Rng(20240531);
  const convCases = Array.from({ length: 28 }, () => sampleCase(rng, false));
  test.each(convCases.map((c) => [JSON.stringify(c), c]))('conv2d %s', async (_name, c) => {
    const { b, h, w, cin, cout, k, s, d, pad } = c as Case;
    const x = tf.randomNormal([b, h, w, cin], 0, 1, 'float32', 1) as tf.Tensor4D;
    const f = tf.randomNormal([k, k, cin, cout], 0, 1, 'float32', 2) as tf.Tensor4D;
    const fd = dilateFilter(f, d);
    const y = tf.conv2d(x, fd, s, pad as 'same');
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
    const attrs = { strides: s, pad, dataFormat: 'NHWC', dilations: d };

    await expectEachMatchesCpu('dw', () =>
      tf.getBackend() === 'wasm'
        ? run('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape })
        : tf.tidy(() => {
            const full = run('Conv2DBackpropFilter', { x, dy }, { ...attrs, dilations: 1, filterShape: fd.shape });
            return tf.stridedSlice(full, [0, 0, 0, 0], full.shape, [d, d, 1, 1]);
          }),
    );

    await expectEachMatchesCpu('dx', () =>
      tf.getBackend() === 'wasm'
        ? run('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: x.shape })
        : run('Conv2DBackpropInput', { dy, filter: fd }, { ...attrs, dilations: 1, inputShape: x.shape }),
    );
    tf.dispose([x, f, fd, y, dy]);
  });

  const dwCases = Array.from({ length: 20 }, () => sampleCase(rng, true));
  test.each(dwCases.map((c) => [JSON.stringify(c), c]))('depthwise %s', async (_name, c) => {
    const { b, h, w, cin, k, s, d, pad, m } = c as Case;
    const x = tf.randomNormal([b, h, w, cin], 0, 1, 'float32', 4) as tf.Tensor4D;
    const f = tf.randomNormal([k, k, cin, m], 0, 1, 'float32', 5) as tf.Tensor4D;
    const fd = dilateFilter(f, d);
    const y = tf.depthwiseConv2d(x, fd, s, pad as 'same');
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 6) as tf.Tensor4D;
    const attrs = { strides: s, pad, dilations: d };

    await expectEachMatchesCpu('dw', () =>
      tf.getBackend() === 'wasm'
        ? run('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape })
        : tf.tidy(() => {
            const full = run('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, dilations: 1, filterShape: fd.shape });
            return tf.stridedSlice(full, [0, 0, 0, 0], full.shape, [d, d, 1, 1]);
          }),
    );

    await expectEachMatchesCpu('dx', () =>
      tf.getBackend() === 'wasm'
        ? run('DepthwiseConv2dNativeBackpropInput', { dy, filter: f }, { ...attrs, inputShape: x.shape })
        : run('DepthwiseConv2dNativeBackpropInput', { dy, filter: fd }, { ...attrs, dilations: 1, inputShape: x.shape }),
    );
    tf.dispose([x, f, fd, y, dy]);
  });

  test('conv2d gradients in NCHW layout', async () => {
    const x = tf.randomNormal([2, 3, 9, 8], 0, 1, 'float32', 7) as tf.Tensor4D;
    const dy = tf.randomNormal([2, 4, 5, 4], 0, 1, 'float32', 8) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 9) as tf.Tensor4D;
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW' };
    await expectEachMatchesCpu('dw', () => run('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape }));
    await expectEachMatchesCpu('dx', () => run('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: x.shape }));
    tf.dispose([x, dy, f]);
  });

  test('unsortedSegmentSum, including out-of-range ids', async () => {
    const x = tf.randomNormal([7, 3, 2], 0, 1, 'float32', 10);
    const ids = tf.tensor1d([0, 4, 2, 4, -1, 1, 0], 'int32');
    await expectEachMatchesCpu('out', () => tf.unsortedSegmentSum(x, ids, 5));
    const xi = tf.tensor2d(
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      [3, 2],
      'int32',
    );
    await tf.setBackend('wasm');
    expect(Array.from(await tf.unsortedSegmentSum(xi, tf.tensor1d([1, 1, 0], 'int32'), 2).data())).toEqual([5, 6, 4, 6]);
    tf.dispose([x, ids, xi]);
  });

  test.each(modes)('%s leave no tensors behind', async (mode) => {
    await useKernels(mode);
    const x = tf.randomNormal([2, 8, 8, 3]) as tf.Tensor4D;
    const dy = tf.randomNormal([2, 4, 4, 5]) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, 3, 5]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      run('Conv2DBackpropFilter', { x, dy }, { strides: 2, pad: 'same', filterShape: f.shape }).dispose();
      run('Conv2DBackpropInput', { dy, filter: f }, { strides: 2, pad: 'same', inputShape: x.shape }).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, dy, f]);
  });
});
