/**
 * DepthwiseConv2dNative gradients for the wasm backend (missing there, tfjs #8474).
 * Filter gradient as one depthwise forward convolution: the batch moves into the channels
 * ([1, H, W, C*B]) and dy becomes the filter ([outH, outW, C*B, M]); a sum over B finishes it.
 * Input gradient: depthwise forward convolution of the stride-dilated dy with the spatially
 * flipped filter, once per channel multiplier.
 */
import * as tf from '@tensorflow/tfjs';
import { ConvAttrs, convGeometry, transposedPads } from './geometry';
import { dilateAndPad, filterGradOperands } from './patches';
import { wasmKernel } from './config';
import { remapFilter } from './layout';

function requireNhwc(attrs: ConvAttrs, kernel: string): void {
  if (attrs.dataFormat === 'NCHW')
    throw new Error(`${kernel} on wasm: dataFormat NCHW is not supported (tfjs depthwise ops are NHWC only)`);
}

/** dW [kh, kw, C, M] of depthwiseConv2d(x, W) given dy [B, outH, outW, C*M]. */
export function depthwiseFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], attrs: ConvAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const g = convGeometry(x.shape, filterShape, attrs, true);
    const [kh, kw, c, m] = filterShape;
    const { input, pad } = filterGradOperands(x, g);
    const [b, h, w] = input.shape;
    // Channel (c, b) of one image [1, H, W, C*B], filtered by dy's (c, b, m) planes as a depthwise filter.
    const xT = tf.reshape(tf.transpose(input, [1, 2, 3, 0]), [1, h, w, c * b]) as tf.Tensor4D;
    const dyT = tf.reshape(tf.transpose(tf.reshape(dy, [b, g.outH, g.outW, c, m]), [1, 2, 3, 0, 4]), [
      g.outH,
      g.outW,
      c * b,
      m,
    ]) as tf.Tensor4D;
    const perImage = tf.depthwiseConv2d(xT, dyT, [g.dh, g.dw], pad, 'NHWC', [g.sh, g.sw]);
    return tf.sum(tf.reshape(perImage, [kh, kw, c, b, m]), 3) as tf.Tensor4D;
  });
}

/** dx of depthwiseConv2d(x: inputShape, W [kh, kw, C, M]) given dy. */
export function depthwiseInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: number[], attrs: ConvAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const g = convGeometry(inputShape, filter.shape, attrs, true);
    const m = filter.shape[3];
    const [kh, kw, c] = filter.shape;
    const flipped = remapFilter(filter, filter.shape, (i, j, a, b) => (((kh - 1 - i) * kw + (kw - 1 - j)) * c + a) * m + b);
    const pads = transposedPads(g);
    let dx: tf.Tensor4D | null = null;
    for (let k = 0; k < m; k++) {
      // Output channel c*M+k of the forward pass came from input channel c through filter[..., c, k].
      const dyK = m === 1 ? dy : (tf.stridedSlice(dy, [0, 0, 0, k], dy.shape, [1, 1, 1, m]) as tf.Tensor4D);
      const fK = m === 1 ? flipped : tf.slice(flipped, [0, 0, 0, k], [-1, -1, -1, 1]);
      const { t, pad } = dilateAndPad(dyK, g.sh, g.sw, pads);
      const part = tf.depthwiseConv2d(t, fK, 1, pad, 'NHWC', [g.dh, g.dw]);
      dx = dx == null ? part : (tf.add(dx, part) as tf.Tensor4D);
    }
    return dx as tf.Tensor4D;
  });
}

/** Kernel config for `DepthwiseConv2dNativeBackpropFilter` on wasm. */
export const depthwiseBackpropFilterConfig = wasmKernel('DepthwiseConv2dNativeBackpropFilter', ({ x, dy }, attrs) => {
  requireNhwc(attrs as unknown as ConvAttrs, 'DepthwiseConv2dNativeBackpropFilter');
  return depthwiseFilterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape as number[], attrs as unknown as ConvAttrs);
});

/** Kernel config for `DepthwiseConv2dNativeBackpropInput` on wasm. */
export const depthwiseBackpropInputConfig = wasmKernel('DepthwiseConv2dNativeBackpropInput', ({ dy, filter }, attrs) => {
  requireNhwc(attrs as unknown as ConvAttrs, 'DepthwiseConv2dNativeBackpropInput');
  return depthwiseInputGrad(dy as tf.Tensor4D, filter as tf.Tensor4D, attrs.inputShape as number[], attrs as unknown as ConvAttrs);
});
