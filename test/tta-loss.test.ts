/** fastai's LabelSmoothingCrossEntropy and Learner.tta blend against hand-computed numbers. */
import * as tf from '@tensorflow/tfjs';
import { lossPerSample } from '../worker/loss';
import { blendTta } from '../worker/tta';

describe('lossPerSample', () => {
  // Sample 1: logits [2, 0, -1], target 0. logsumexp = ln(e^2 + 1 + e^-1) = ln 8.756935 = 2.169846,
  //   so -log p = [0.169846, 2.169846, 3.169846], summing to 5.509538.
  //   label smoothing: 0.1 / 3 * 5.509538 + 0.9 * 0.169846 = 0.183651 + 0.152861 = 0.336513.
  // Sample 2: logits [0.5, 1.5, -0.5], target 2. logsumexp = ln(1.648721 + 4.481689 + 0.606531) = 1.907606,
  //   -log p = [1.407606, 0.407606, 2.407606], sum 4.222818; 0.140761 + 2.166845 = 2.307606.
  const logits = () => tf.tensor2d([2, 0, -1, 0.5, 1.5, -0.5], [2, 3]);
  const labels = () => tf.tensor1d([0, 2], 'int32');

  test('cross-entropy is -log p of the target', () => {
    const l = tf.tidy(() => Array.from(lossPerSample('cross-entropy', logits(), labels()).dataSync()));
    expect(l[0]).toBeCloseTo(0.169846, 5);
    expect(l[1]).toBeCloseTo(2.407606, 5);
  });

  test("label smoothing (eps 0.1): eps / c * sum(-log p) + (1 - eps) * -log p[target]; fastai's mean is the mean of these", () => {
    const l = tf.tidy(() => Array.from(lossPerSample('label-smoothing', logits(), labels()).dataSync()));
    expect(l[0]).toBeCloseTo(0.336513, 5);
    expect(l[1]).toBeCloseTo(2.307606, 5);
    expect((l[0] + l[1]) / 2).toBeCloseTo(1.322059, 5);
  });

  test('no tensors are left behind', () => {
    const x = logits();
    const y = labels();
    const before = tf.memory().numTensors;
    lossPerSample('label-smoothing', x, y).dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });
});

describe('blendTta', () => {
  test('the mean of the augmented passes, lerped toward the plain pass by beta', () => {
    // Augmented mean [0.35, 0.65]; lerp(aug, plain, 0.25) = aug + 0.25 * (plain - aug) = [0.4125, 0.5875].
    const plain = Float32Array.from([0.6, 0.4]);
    const aug = [
      [0.2, 0.8],
      [0.4, 0.6],
      [0.3, 0.7],
      [0.5, 0.5],
    ].map((p) => Float32Array.from(p));
    const out = blendTta(plain, aug, 0.25);
    expect(out[0]).toBeCloseTo(0.4125, 6);
    expect(out[1]).toBeCloseTo(0.5875, 6);
    expect(Array.from(blendTta(plain, aug, 1))).toEqual(Array.from(plain));
    expect(() => blendTta(plain, [], 0.25)).toThrow(/at least one augmented pass/);
  });
});
