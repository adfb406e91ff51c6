/** Copies a model file's weights into a body, layer by layer in order, checking every shape. */
import * as tf from '@tensorflow/tfjs';
import { loadModelDir } from './io';

/**
 * Copies the first `bodyLayers.length` weighted layers of the model in `file` into `bodyLayers`
 * (weighted layers, model order). The file may hold just a body or a whole net (head ignored).
 */
export async function copyBodyWeights(file: string, bodyLayers: tf.layers.Layer[]): Promise<void> {
  const src = await loadModelDir(file);
  try {
    const srcLayers = src.layers.filter((l) => l.weights.length > 0);
    bodyLayers.slice(0, srcLayers.length).forEach((dst, i) => {
      const from = srcLayers[i];
      const a = from.weights.map((w) => w.shape);
      const b = dst.weights.map((w) => w.shape);
      if (a.length !== b.length || a.some((s, k) => s.join() !== b[k].join())) {
        throw new Error(
          `pretrained ${file}: layer ${i} '${from.name}' has weight shapes ${fmt(a)}, body layer '${dst.name}' expects ${fmt(b)}`,
        );
      }
    });
    if (srcLayers.length < bodyLayers.length) {
      throw new Error(`pretrained ${file} has ${srcLayers.length} layers with weights; the body needs ${bodyLayers.length}`);
    }
    bodyLayers.forEach((dst, i) => {
      const values = tf.tidy(() => srcLayers[i].weights.map((w) => w.read().clone()));
      dst.setWeights(values);
      tf.dispose(values);
    });
  } finally {
    src.dispose();
  }
}

function fmt(shapes: (number | null)[][]): string {
  return shapes.map((s) => `[${s.join(',')}]`).join(' ');
}
