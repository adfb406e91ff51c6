/**
 * fastai's create_head: [max, avg] concat pool -> LinBnDrop blocks. With the defaults
 * (lin_ftrs [512], ps 0.5, first_bn) that is BN -> Dropout .25 -> Dense 512 (no bias) -> ReLU ->
 * BN -> Dropout .5 -> Dense n (no bias). A Dense has a bias exactly when no BN precedes it.
 */
import * as tf from '@tensorflow/tfjs';
import { batchNorm } from './builder';
import { HEAD_DEFAULTS } from '../../shared/config';

/** Prefix of every head layer name; init.ts uses it to apply fastai's head init. */
export const HEAD_PREFIX = 'head_';

/** create_head's options (fastai names: lin_ftrs, ps, first_bn). */
export interface HeadOptions {
  /** Hidden layer sizes between the pooled features and the classes. */
  linFtrs?: readonly number[];
  /** Dropout of the last block; earlier blocks get half of it. */
  ps?: number;
  /** BatchNorm before the first Dense. */
  firstBn?: boolean;
}

/** Attaches the head to a feature map; returns the logits and the head's layers in order. */
export function createHead(
  features: tf.SymbolicTensor,
  nClasses: number,
  options: HeadOptions = {},
): { logits: tf.SymbolicTensor; layers: tf.layers.Layer[] } {
  const o = { ...HEAD_DEFAULTS, ...options };
  const layers: tf.layers.Layer[] = [];
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => {
    layers.push(layer);
    return layer.apply(x) as tf.SymbolicTensor;
  };
  const p = HEAD_PREFIX;
  const mx = apply(tf.layers.globalMaxPooling2d({ name: `${p}maxpool` }), features);
  const avg = apply(tf.layers.globalAveragePooling2d({ name: `${p}avgpool` }), features);
  let x = apply(tf.layers.concatenate({ name: `${p}concat`, axis: -1 }), [mx, avg]);
  const sizes = [...o.linFtrs, nClasses];
  const drops = [...o.linFtrs.map(() => o.ps / 2), o.ps];
  sizes.forEach((units, i) => {
    const bn = i > 0 || o.firstBn;
    const last = i === sizes.length - 1;
    if (bn) x = apply(batchNorm(`${p}bn${i + 1}`), x);
    if (drops[i] > 0) x = apply(tf.layers.dropout({ name: `${p}drop${i + 1}`, rate: drops[i] }), x);
    x = apply(tf.layers.dense({ name: `${p}fc${i + 1}`, units, useBias: !bn, kernelInitializer: 'zeros' }), x);
    if (!last) x = apply(tf.layers.activation({ name: `${p}relu${i + 1}`, activation: 'relu' }), x);
  });
  return { logits: x, layers };
}
