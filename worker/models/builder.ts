/**
 * Functional-API helpers shared by the built-in bodies. A Builder applies layers and remembers
 * which body "unit" (stem, one residual block, ...) each layer belongs to, so parameter groups
 * can later be cut at unit boundaries. Layers are built with zero initializers: real values are
 * written afterwards from the seeded Rng (see init.ts), never from tfjs's Math.random.
 */
import * as tf from '@tensorflow/tfjs';

/** Activation after a conv+BN pair. */
export type Act = 'relu' | 'relu6' | 'none';

/** BatchNorm with PyTorch's defaults (running = 0.9*running + 0.1*batch, eps 1e-5). */
export function batchNorm(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({
    name,
    axis: -1,
    momentum: 0.9,
    epsilon: 1e-5,
    gammaInitializer: 'ones',
    betaInitializer: 'zeros',
    movingMeanInitializer: 'zeros',
    movingVarianceInitializer: 'ones',
  });
}

/** Records the unit of every layer it applies; units are numbered 0.. in build order. */
export class Builder {
  readonly unitOf = new Map<tf.layers.Layer, number>();
  private unit = -1;

  /** Starts the next unit; layers applied from now on belong to it. */
  startUnit(): void {
    this.unit++;
  }

  /** Number of units started so far. */
  get nUnits(): number {
    return this.unit + 1;
  }

  /** Applies `layer` to `x` and records its unit. */
  apply(layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
    if (this.unit < 0) throw new Error('Builder.apply before startUnit');
    this.unitOf.set(layer, this.unit);
    return layer.apply(x) as tf.SymbolicTensor;
  }

  /** ReLU, ReLU6 or nothing. */
  act(x: tf.SymbolicTensor, act: Act, name: string): tf.SymbolicTensor {
    if (act === 'none') return x;
    const layer = act === 'relu6' ? tf.layers.reLU({ maxValue: 6, name }) : tf.layers.activation({ activation: 'relu', name });
    return this.apply(layer, x);
  }

  /**
   * PyTorch-style padded conv (padding k//2 on every side, bias-free) + BN + activation.
   * Explicit zero padding + 'valid' reproduces PyTorch's alignment for strided convs, which
   * tfjs 'same' padding does not (it pads bottom/right only).
   */
  convBn(
    x: tf.SymbolicTensor,
    o: { name: string; filters: number; kernel: number; stride?: number; act: Act; depthwise?: boolean },
  ): tf.SymbolicTensor {
    const stride = o.stride ?? 1;
    const pad = Math.floor(o.kernel / 2);
    let padding: 'same' | 'valid' = 'same';
    if (pad > 0 && stride > 1) {
      x = this.apply(tf.layers.zeroPadding2d({ padding: pad, name: `${o.name}_pad` }), x);
      padding = 'valid';
    } else if (pad === 0) {
      padding = 'valid';
    }
    const conv = o.depthwise
      ? tf.layers.depthwiseConv2d({
          name: `${o.name}_conv`,
          kernelSize: o.kernel,
          strides: stride,
          padding,
          depthMultiplier: 1,
          useBias: false,
          depthwiseInitializer: 'zeros',
        })
      : tf.layers.conv2d({
          name: `${o.name}_conv`,
          filters: o.filters,
          kernelSize: o.kernel,
          strides: stride,
          padding,
          useBias: false,
          kernelInitializer: 'zeros',
        });
    x = this.apply(conv, x);
    x = this.apply(batchNorm(`${o.name}_bn`), x);
    return this.act(x, o.act, `${o.name}_${o.act}`);
  }
}
