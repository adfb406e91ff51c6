/**
 * Gradients of Sum and Mean without a ones tensor. tfjs-core's multiply the reshaped dy by
 * ones(x.shape) (then divide by a scalar for Mean): on webgpu both are uploaded from the CPU on
 * every step, the ones at full activation size (a global average pool of mobilenet_v2 at 224 px,
 * batch 32: 8 MB a step). On webgpu, ringtune's gradients broadcast dy in one kernel
 * (RingtuneBroadcastDiv, divisor as a uniform); on every other backend they are tfjs-core's own.
 */
import * as tf from '@tensorflow/tfjs';
import { elementwise } from './webgpu-reduce';
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

export const broadcastDivKernel: tf.KernelConfig = {
  kernelName: 'RingtuneBroadcastDiv',
  backendName: 'webgpu',
  kernelFunc: broadcastDiv as unknown as tf.KernelFunc,
};

const stock = { sum: undefined as tf.GradConfig | undefined, mean: undefined as tf.GradConfig | undefined };

function reducedGradient(kernelName: 'Sum' | 'Mean', original: () => tf.GradConfig | undefined): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const d = dy as tf.Tensor;
      if (tf.getBackend() !== 'webgpu' || x.rank > 4 || x.rank === 0) return original()!.gradFunc(dy, saved, attrs);
      const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
      const kept = x.shape.map((s, i) => (axes.includes(i) ? 1 : s));
      const divisor = kernelName === 'Mean' ? axes.reduce((p, a) => p * x.shape[a], 1) : 1;
      return {
        x: () => tf.engine().runKernel('RingtuneBroadcastDiv', { dy: tf.reshape(d, kept) }, { shape: x.shape, divisor }) as tf.Tensor,
      };
    },
  };
}

const sumGradient = reducedGradient('Sum', () => stock.sum);
const meanGradient = reducedGradient('Mean', () => stock.mean);

/** Installs the Sum and Mean gradients (on = true) or puts tfjs-core's back. */
export function useBroadcastGradients(on: boolean): void {
  if (!stock.sum) {
    stock.sum = tf.getGradient('Sum');
    stock.mean = tf.getGradient('Mean');
  }
  const want = on ? [sumGradient, meanGradient] : [stock.sum!, stock.mean!];
  for (const g of want) if (tf.getGradient(g.kernelName) !== g) replaceGradient(g);
}
