/**
 * Gradients that upload nothing on webgpu. tfjs-core's Sum and Mean gradients multiply the
 * reshaped dy by ones(x.shape) (then divide by a scalar for Mean), and ClipByValue's (ReLU6)
 * compares x with two scalars: on webgpu every ones tensor and scalar is uploaded from the CPU on
 * every step, the ones at full activation size (a global average pool of mobilenet_v2 at 224 px,
 * batch 32: 8 MB a step), and ReLU6's takes five kernels. On webgpu ringtune's gradients are one
 * kernel each, constants as uniforms (RingtuneBroadcastDiv, RingtuneClipGrad); on every other
 * backend they are tfjs-core's own.
 */
import * as tf from '@tensorflow/tfjs';
import { elementwise, elementwiseKernel } from './webgpu-reduce';
import type { GpuBackend } from './webgpu-program';
import { replaceGradient } from './config';

const COORDS = ['i32', 'vec2<i32>', 'vec3<i32>', 'vec4<i32>'];

/** out[coords] = dy[coords with dy's size-1 axes at 0] / divisor, for ranks 1-4 (dy has the output's rank). */
function broadcastDiv({
  inputs: { dy },
  backend,
  attrs,
}: {
  inputs: { dy: tf.TensorInfo };
  backend: GpuBackend;
  attrs: Record<string, unknown>;
}) {
  const shape = attrs.shape as number[];
  const rank = shape.length;
  const t = COORDS[rank - 1];
  return elementwise(backend, {
    key: `broadcast_div_${rank}`,
    inputs: [dy],
    names: ['dy'],
    outShape: shape,
    expr: `dy[getIndexFromCoords${rank}D(select(${t}(0), getCoordsFromIndex(i), uniforms.dyShape != ${t}(1)), uniforms.dyShape)] / uniforms.divisor`,
    floats: { divisor: attrs.divisor as number },
  });
}

export const gradientKernels: tf.KernelConfig[] = [
  { kernelName: 'RingtuneBroadcastDiv', backendName: 'webgpu', kernelFunc: broadcastDiv as unknown as tf.KernelFunc },
  // dx = dy where min <= x <= max, else 0 (as tfjs-core's ClipByValue gradient).
  elementwiseKernel('RingtuneClipGrad', {
    key: 'clip_grad',
    names: ['x', 'dy'],
    expr: 'select(0.0, dy[i], x[i] >= uniforms.lo && x[i] <= uniforms.hi)',
    floats: (attrs) => ({ lo: attrs.clipValueMin as number, hi: attrs.clipValueMax as number }),
  }),
];

const stock = new Map<string, tf.GradConfig>();

function reducedGradient(kernelName: 'Sum' | 'Mean'): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const d = dy as tf.Tensor;
      if (tf.getBackend() !== 'webgpu' || x.rank > 4 || x.rank === 0) return stock.get(kernelName)!.gradFunc(dy, saved, attrs);
      const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
      const kept = x.shape.map((s, i) => (axes.includes(i) ? 1 : s));
      const divisor = kernelName === 'Mean' ? axes.reduce((p, a) => p * x.shape[a], 1) : 1;
      return {
        x: () => tf.engine().runKernel('RingtuneBroadcastDiv', { dy: tf.reshape(d, kept) }, { shape: x.shape, divisor }) as tf.Tensor,
      };
    },
  };
}

const clipGradient: tf.GradConfig = {
  kernelName: 'ClipByValue',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    if (tf.getBackend() !== 'webgpu' || x.dtype !== 'float32') return stock.get('ClipByValue')!.gradFunc(dy, saved, attrs);
    return { x: () => tf.engine().runKernel('RingtuneClipGrad', { x, dy: dy as tf.Tensor }, attrs) as tf.Tensor };
  },
};

const ours = [reducedGradient('Sum'), reducedGradient('Mean'), clipGradient];

/** Installs ringtune's Sum, Mean and ClipByValue gradients (on = true) or puts tfjs-core's back. */
export function useDeviceGradients(on: boolean): void {
  if (stock.size === 0) for (const g of ours) stock.set(g.kernelName, tf.getGradient(g.kernelName)!);
  for (const g of on ? ours : [...stock.values()]) if (tf.getGradient(g.kernelName) !== g) replaceGradient(g);
}
