/**
 * The training losses, per sample (the caller takes the batch mean, fastai's reduction 'mean'):
 * softmax cross-entropy, and fastai's LabelSmoothingCrossEntropy (eps 0.1): eps / c times the
 * sum of -log p over all c classes plus (1 - eps) times -log p of the target.
 */
import * as tf from '@tensorflow/tfjs';
import type { LossKind } from '../shared/config';

/** fastai's LabelSmoothingCrossEntropy default eps. */
export const LABEL_SMOOTHING_EPS = 0.1;

/** Per-sample loss of integer labels under `kind`. */
export function lossPerSample(kind: LossKind, logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const c = logits.shape[1];
    const logp = tf.logSoftmax(logits);
    const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(labels, c)), -1));
    if (kind === 'cross-entropy') return nll as tf.Tensor1D;
    const spread = tf.neg(tf.sum(logp, -1));
    return tf.add(tf.mul(spread, LABEL_SMOOTHING_EPS / c), tf.mul(nll, 1 - LABEL_SMOOTHING_EPS)) as tf.Tensor1D;
  });
}
