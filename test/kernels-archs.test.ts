/**
 * One training step of built-in architectures (small inputs) on wasm, with each kernel set, against
 * the cpu backend.
 * resnet-small and mobilenet_v2 cover every layer kind (BasicBlock, projection shortcut,
 * depthwise conv, ReLU6, fastai head); RINGTUNE_ALL_ARCHS=1 adds resnet18/34/50 (~10 minutes:
 * the cpu backend's gradient kernels are slow).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../worker/backend';
import { architectures, buildNet } from '../worker/models';
import { kernelModes, useKernels } from './helpers/kernel-modes';

/** max |got - want| over max |want|, with the scale floored at `floor` (for structurally ~0 gradients). */
function relError(got: tf.TypedArray, want: tf.TypedArray, floor: number): number {
  let num = 0;
  let den = floor;
  for (let i = 0; i < want.length; i++) {
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / den;
}

describe('built-in architectures train on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  test('the architectures exist', () => {
    expect(architectures().length).toBeGreaterThan(0);
  });

  const archs =
    process.env.RINGTUNE_ALL_ARCHS === '1' ? architectures() : architectures().filter((a) => ['resnet-small', 'mobilenet_v2'].includes(a));

  test.each(archs.map((a) => [a]))('%s: loss and gradients of one step match cpu', async (arch) => {
    await tf.setBackend('cpu');
    const net = await buildNet({ arch, nClasses: 3, size: 32, seed: 5 });
    // Dropout draws different masks on each backend; the comparison needs the same function.
    // BatchNorm over 2 images at 1x1 resolution divides noise by sqrt(1e-5): a larger epsilon keeps the
    // comparison well-conditioned without changing which kernels run.
    for (const layer of net.model.layers) {
      if (layer.getClassName() === 'Dropout') (layer as unknown as { rate: number }).rate = 0;
      if (layer.getClassName() === 'BatchNormalization') (layer as unknown as { epsilon: number }).epsilon = 0.1;
    }
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 31);
    const labels = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3);
    const vars = net.params.map((p) => (p.variable as unknown as { val: tf.Variable }).val);
    const initial = net.model.getWeights().map((w) => w.clone());
    const out: Record<string, { loss: number; grads: tf.TypedArray[] }> = {};
    const modes = kernelModes();
    for (const backend of ['cpu', ...modes]) {
      if (backend === 'cpu') await tf.setBackend('cpu');
      else await useKernels(backend as (typeof modes)[number]);
      net.model.setWeights(initial);
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(labels, net.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        vars,
      );
      out[backend] = { loss: (await value.data())[0], grads: await Promise.all(vars.map((v) => grads[v.name].data())) };
      tf.dispose([value, ...Object.values(grads)]);
    }
    // A BatchNorm beta feeding only convs that the next BatchNorm re-centres has a gradient that is 0
    // up to rounding; errors are measured against 1e-3 of the largest gradient at least.
    const scale = Math.max(...out.cpu.grads.map((g) => Array.from(g, Math.abs).reduce((m, v) => Math.max(m, v), 0)));
    for (const mode of modes) {
      expect([mode, Math.abs(out[mode].loss - out.cpu.loss) / Math.abs(out.cpu.loss) < 1e-4]).toEqual([mode, true]);
      const errors = out[mode].grads.map((g, i) => relError(g, out.cpu.grads[i], 1e-3 * scale));
      const worst = errors.indexOf(Math.max(...errors));
      expect({ mode, worst: vars[worst].name, error: errors[worst] < 1e-3 ? 'ok' : errors[worst] }).toEqual({
        mode,
        worst: vars[worst].name,
        error: 'ok',
      });
    }
    tf.dispose([x, labels, ...initial]);
    net.model.dispose();
  });
});
