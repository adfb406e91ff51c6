/**
 * Deterministic weight init from shared/rng: every process building the same spec with the same
 * seed gets bitwise identical weights. Each weight draws from its own stream
 * mixSeed(seed, layerIndex, weightIndex), so values never depend on what was built before.
 * Body: torchvision defaults (kaiming normal, fan_out, ReLU gain; BN 1/0).
 * Head: fastai (kaiming normal, fan_in, gain sqrt 2; BN weight 1, bias 1e-3).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, mixSeed } from '../../shared/rng';

/** The weight's own name inside its layer ('kernel', 'gamma', 'moving_mean', ...). */
export function weightKind(w: tf.LayerVariable): string {
  const parts = w.originalName.split('/');
  return parts[parts.length - 1].replace(/_\d+$/, '');
}

// Module-level copies: a global lookup per element is very slow inside jest's vm sandbox.
const { log, sqrt, cos, sin, PI } = Math;

/** N(0, std^2) values from Box-Muller, using both outputs of each pair of uniforms from `rng`. */
function normal(n: number, std: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = std * sqrt(-2 * log(1 - rng.next()));
    const a = 2 * PI * rng.next();
    out[i] = r * cos(a);
    if (i + 1 < n) out[i + 1] = r * sin(a);
  }
  return out;
}

function uniform(n: number, bound: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

/** Initial values of one weight of one layer. */
export function initialValues(layer: tf.layers.Layer, w: tf.LayerVariable, head: boolean, rng: Rng): Float32Array {
  const shape = w.shape as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  const kind = weightKind(w);
  const cls = layer.getClassName();
  switch (kind) {
    case 'gamma':
    case 'moving_variance':
      return new Float32Array(n).fill(1);
    case 'beta':
      return new Float32Array(n).fill(head ? 1e-3 : 0);
    case 'moving_mean':
    case 'bias':
      return new Float32Array(n);
  }
  if (cls === 'Conv2D' && kind === 'kernel') {
    const [kh, kw, , cout] = shape;
    return normal(n, Math.sqrt(2 / (kh * kw * cout)), rng);
  }
  if (cls === 'DepthwiseConv2D' && kind === 'depthwise_kernel') {
    // PyTorch's fan_out for a grouped conv weight [cin*mult, 1, kh, kw] is cin*mult*kh*kw.
    return normal(n, Math.sqrt(2 / n), rng);
  }
  if (cls === 'Dense' && kind === 'kernel') {
    const fanIn = shape[0];
    return head ? normal(n, Math.sqrt(2 / fanIn), rng) : uniform(n, Math.sqrt(1 / fanIn), rng);
  }
  throw new Error(`no init rule for weight '${w.originalName}' of ${cls} layer '${layer.name}'`);
}

/** Writes seeded initial values into every weight of the chosen layers of `model`. */
export function initLayers(model: tf.LayersModel, chosen: Set<tf.layers.Layer>, head: Set<tf.layers.Layer>, seed: number): void {
  model.layers.forEach((layer, li) => {
    if (!chosen.has(layer)) return;
    layer.weights.forEach((w, wi) => {
      const values = initialValues(layer, w, head.has(layer), new Rng(mixSeed(seed, li, wi)));
      const t = tf.tensor(values, w.shape as number[], 'float32');
      w.write(t);
      t.dispose();
    });
  });
}
