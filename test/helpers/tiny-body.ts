/** A tiny image body saved as a TF.js model.json (`--arch <file>`): small enough for hundreds of steps on a software GPU. */
import * as tf from '@tensorflow/tfjs';
import { join } from 'path';
import { saveModelDir } from '../../worker/models/io';

/**
 * Three conv3x3/2-BN-ReLU blocks (8, 16, 32 filters) on size x size x 3 inputs: at 8 px the last
 * one sees the whole image, so where a pattern is survives the head's pooling. Returns the model.json path.
 */
export async function writeTinyBody(dir: string, size: number): Promise<string> {
  const input = tf.input({ shape: [size, size, 3] });
  let x = input;
  for (const [i, filters] of [8, 16, 32].entries()) {
    const kernelInitializer = tf.initializers.glorotUniform({ seed: 7 + i }); // the same body on every run
    x = tf.layers
      .conv2d({ filters, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU().apply(tf.layers.batchNormalization().apply(x)) as tf.SymbolicTensor;
  }
  const model = tf.model({ inputs: input, outputs: x });
  await saveModelDir(model, dir);
  model.dispose();
  return join(dir, 'model.json');
}
