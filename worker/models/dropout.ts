/**
 * Seeded dropout masks. tfjs's Dropout draws from Math.random unless the layer has a seed, and
 * with a fixed seed it draws the same mask every step; so the trainer sets a fresh seed (derived
 * from the run seed, step, rank) before each training step. The layers stay standard Dropout,
 * so saved files load in any TensorFlow.js.
 */
import * as tf from '@tensorflow/tfjs';
import { mixSeed } from '../../shared/rng';

/** Sets every Dropout layer's mask seed for the next training-mode call: layer k gets mixSeed(stepSeed, k). */
export function seedDropout(model: tf.LayersModel, stepSeed: number): void {
  model.layers
    .filter((l) => l.getClassName() === 'Dropout')
    .forEach((layer, k) => {
      (layer as unknown as { seed?: number }).seed = mixSeed(stepSeed, k);
    });
}
