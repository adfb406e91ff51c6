/**
 * Conv2D gradients for the wasm backend, all running on XNNPACK's fast forward convolution
 * (wasm's matmul with transposeA is 12x slower, and its own Conv2DBackpropInput is a slow loop).
 *
 * Filter gradient as a forward convolution: with channels and batch swapped, x^T [Cin, H, W, B]
 * convolved with dy^T [outH, outW, B, Cout] (stride = the forward dilation, dilation = the forward
 * stride) is exactly dW laid out [Cin, kh, kw, Cout].
 *
 * Input gradient: for stride s > 1 with a k > 1 filter, one stride-1 convolution of dy with the
 * s*s sub-pixel filters side by side, then depthToSpace (no zeros multiplied); for 1x1 filters a
 * 1x1 convolution then zero-insertion; otherwise a forward convolution of the zero-inserted dy
 * with the spatially flipped, in/out-swapped filter.
 */
import * as tf from '@tensorflow/tfjs';
import { ConvAttrs, ConvGeometry, convGeometry, toNhwcShape, transposedPads } from './geometry';
import { dilateAndPad, filterGradOperands } from './patches';
import { wasmKernel } from './config';
import { pixelShuffleCrop, remapFilter } from './layout';

function toNhwc(t: tf.Tensor4D, dataFormat: string | undefined): tf.Tensor4D {
  return dataFormat === 'NCHW' ? tf.transpose(t, [0, 2, 3, 1]) : t;
}

/** dW [kh, kw, Cin, Cout] of conv2d(x, W) given dy. */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], attrs: ConvAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const xs = toNhwc(x, attrs.dataFormat);
    const dys = toNhwc(dy, attrs.dataFormat);
    const g = convGeometry(xs.shape, filterShape, attrs, false);
    const { input, pad } = filterGradOperands(xs, g);
    const xT = tf.transpose(input, [3, 1, 2, 0]) as tf.Tensor4D;
    const dyT = tf.transpose(dys, [1, 2, 0, 3]) as tf.Tensor4D;
    const dwT = tf.conv2d(xT, dyT, [g.dh, g.dw], pad, 'NHWC', [g.sh, g.sw]);
    return tf.transpose(dwT, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** Sub-pixel input gradient for stride s in both axes, dilation 1. */
function subPixelInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, g: ConvGeometry, s: number): tf.Tensor4D {
  const th = Math.ceil(g.kh / s);
  const tw = Math.ceil(g.kw / s);
  const cols = s * s * g.inC;
  // G[u, v, co, (a*s + b)*Cin + ci] = W[(th-1-u)*s + a, (tw-1-v)*s + b, ci, co]; taps past the filter stay 0.
  const sub = remapFilter(filter, [th, tw, g.outC, cols], (i, j, ci, co) => {
    const u = th - 1 - Math.floor(i / s);
    const v = tw - 1 - Math.floor(j / s);
    return ((u * tw + v) * g.outC + co) * cols + ((i % s) * s + (j % s)) * g.inC + ci;
  });
  const qh = Math.ceil((g.inH + g.top) / s);
  const qw = Math.ceil((g.inW + g.left) / s);
  let dyc = dy;
  if (qh < g.outH || qw < g.outW) dyc = tf.slice(dy, [0, 0, 0, 0], [-1, Math.min(qh, g.outH), Math.min(qw, g.outW), -1]);
  const z = tf.conv2d(
    dyc,
    sub,
    1,
    [
      [0, 0],
      [th - 1, Math.max(0, qh - g.outH)],
      [tw - 1, Math.max(0, qw - g.outW)],
      [0, 0],
    ],
    'NHWC',
  );
  return pixelShuffleCrop(z, s, g.top, g.left, g.inH, g.inW);
}

/** W [kh, kw, Cin, Cout] flipped in space with in/out swapped: [kh, kw, Cout, Cin]. */
function flipSwap(filter: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, ci, co] = filter.shape;
  return remapFilter(filter, [kh, kw, co, ci], (i, j, a, b) => (((kh - 1 - i) * kw + (kw - 1 - j)) * co + b) * ci + a);
}

/** dx of conv2d(x: inputShape, W) given dy. */
export function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: number[], attrs: ConvAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const dys = toNhwc(dy, attrs.dataFormat);
    const g = convGeometry(toNhwcShape(inputShape, attrs.dataFormat), filter.shape, attrs, false);
    const strided = g.sh > 1 || g.sw > 1;
    let dx: tf.Tensor4D;
    if (g.kh === 1 && g.kw === 1) {
      const back = tf.conv2d(dys, tf.transpose(filter, [0, 1, 3, 2]) as tf.Tensor4D, 1, 'valid');
      const { t, pad } = dilateAndPad(back, g.sh, g.sw, transposedPads(g));
      dx = pad.some((p) => p[0] > 0 || p[1] > 0) ? tf.pad(t, pad) : t;
    } else if (strided && g.sh === g.sw && g.dh === 1 && g.dw === 1) {
      dx = subPixelInputGrad(dys, filter, g, g.sh);
    } else {
      const flipped = flipSwap(filter);
      const { t, pad } = dilateAndPad(dys, g.sh, g.sw, transposedPads(g));
      dx = tf.conv2d(t, flipped, 1, pad, 'NHWC', [g.dh, g.dw]);
    }
    return attrs.dataFormat === 'NCHW' ? tf.transpose(dx, [0, 3, 1, 2]) : dx;
  });
}

/** Kernel config for `Conv2DBackpropFilter` on wasm. */
export const conv2dBackpropFilterConfig = wasmKernel('Conv2DBackpropFilter', ({ x, dy }, attrs) =>
  conv2dFilterGrad(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape as number[], attrs as unknown as ConvAttrs),
);

/** Kernel config for `Conv2DBackpropInput` on wasm (replaces wasm's slow direct loop). */
export const conv2dBackpropInputConfig = wasmKernel('Conv2DBackpropInput', ({ dy, filter }, attrs) =>
  conv2dInputGrad(dy as tf.Tensor4D, filter as tf.Tensor4D, attrs.inputShape as number[], attrs as unknown as ConvAttrs),
);
