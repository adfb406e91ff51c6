/**
 * fastai's create_head with its defaults (concat_pool, lin_ftrs [512], ps 0.5, first_bn):
 * [max, avg] pool -> BN -> Dropout .25 -> Dense 512 (no bias) -> ReLU -> BN -> Dropout .5 -> Dense n (no bias).
 */
import * as tf from '@tensorflow/tfjs';
import { batchNorm } from './builder';

/** Prefix of every head layer name; init.ts uses it to apply fastai's head init. */
export const HEAD_PREFIX = 'head_';

/** Attaches the head to a feature map; returns the logits and the head's layers in order. */
export function createHead(features: tf.SymbolicTensor, nClasses: number): { logits: tf.SymbolicTensor; layers: tf.layers.Layer[] } {
  const layers: tf.layers.Layer[] = [];
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => {
    layers.push(layer);
    return layer.apply(x) as tf.SymbolicTensor;
  };
  const p = HEAD_PREFIX;
  const mx = apply(tf.layers.globalMaxPooling2d({ name: `${p}maxpool` }), features);
  const avg = apply(tf.layers.globalAveragePooling2d({ name: `${p}avgpool` }), features);
  let x = apply(tf.layers.concatenate({ name: `${p}concat`, axis: -1 }), [mx, avg]);
  x = apply(batchNorm(`${p}bn1`), x);
  x = apply(tf.layers.dropout({ name: `${p}drop1`, rate: 0.25 }), x);
  x = apply(tf.layers.dense({ name: `${p}fc1`, units: 512, useBias: false, kernelInitializer: 'zeros' }), x);
  x = apply(tf.layers.activation({ name: `${p}relu`, activation: 'relu' }), x);
  x = apply(batchNorm(`${p}bn2`), x);
  x = apply(tf.layers.dropout({ name: `${p}drop2`, rate: 0.5 }), x);
  const logits = apply(tf.layers.dense({ name: `${p}fc2`, units: nClasses, useBias: false, kernelInitializer: 'zeros' }), x);
  return { logits, layers };
}
