/**
 * BatchNorm in training on webgpu as one fused op. tfjs-layers computes it as tf.moments then
 * tf.batchNorm, so its gradient runs through the moments' graph too: about a dozen full-size
 * element-wise passes, a ones tensor uploaded for every Mean gradient, a scalar for every
 * constant. Here the layer's training call (on webgpu, with ringtune's kernels registered) is a
 * custom-gradient op of three kernels:
 *   RingtuneColumnMoments  mean and biased variance per channel (two column sums, webgpu-colsum.ts)
 *   RingtuneBatchNormGrad  dx = k (dy - mean(dy) - xhat mean(dy xhat)), k = gamma / sqrt(var + eps),
 *                          from one column sum of [dy, dy (x - mean)]; dgamma and dbeta from the same sums
 *   RingtuneMovingAverage  the running statistics: old - (old - batch) (1 - momentum), as tfjs-layers
 * The normalisation itself stays tfjs-webgpu's FusedBatchNorm kernel. Other backends, layouts
 * and inference keep tfjs-layers' own path.
 */
import * as tf from '@tensorflow/tfjs';
import { columnSums } from './webgpu-colsum';
import { elementwise, elementwiseKernel } from './webgpu-reduce';
import type { GpuBackend } from './webgpu-program';

type Args = { inputs: Record<string, tf.TensorInfo>; backend: GpuBackend; attrs: Record<string, unknown> };

function lastAxis(x: tf.TensorInfo): { R: number; C: number } {
  const C = x.shape[x.shape.length - 1];
  return { R: x.shape.reduce((a, b) => a * b, 1) / C, C };
}

function moments({ inputs: { x }, backend }: Args): tf.TensorInfo[] {
  const { R, C } = lastAxis(x);
  const base = { R, C, inputs: [x], divisor: R, outShape: [C] };
  const mean = columnSums(backend, {
    ...base,
    key: 'bn_mean',
    names: ['x'],
    value: 'fn value(r : i32, c : i32) -> f32 { return x[r * uniforms.C + c]; }',
  });
  const variance = columnSums(backend, {
    ...base,
    key: 'bn_variance',
    inputs: [x, mean],
    names: ['x', 'mean'],
    value: 'fn value(r : i32, c : i32) -> f32 { let d = x[r * uniforms.C + c] - mean[c]; return d * d; }',
  });
  return [mean, variance];
}

function batchNormGrad({ inputs: { x, dy, mean, variance, gamma }, backend, attrs }: Args): tf.TensorInfo[] {
  const { R, C } = lastAxis(x);
  const eps = attrs.epsilon as number;
  // sums[c] = sum dy, sums[C + c] = sum dy (x - mean)
  const sums = columnSums(backend, {
    R,
    C: 2 * C,
    key: 'bn_grad_sums',
    inputs: [x, dy, mean],
    names: ['x', 'dy', 'mean'],
    value: `fn value(r : i32, col : i32) -> f32 {
      let c = col % uniforms.channels;
      let g = dy[r * uniforms.channels + c];
      if (col < uniforms.channels) { return g; }
      return g * (x[r * uniforms.channels + c] - mean[c]);
    }`,
    ints: { channels: C },
    outShape: [2 * C],
  });
  const invStd = (c: string) => `inverseSqrt(variance[${c}] + uniforms.eps)`;
  const scale = (c: string) => (gamma ? `gamma[${c}] * ${invStd(c)}` : invStd(c));
  const ins = gamma ? [x, dy, mean, variance, sums, gamma] : [x, dy, mean, variance, sums];
  const names = gamma ? ['x', 'dy', 'mean', 'variance', 'sums', 'gamma'] : ['x', 'dy', 'mean', 'variance', 'sums'];
  const dx = elementwise(backend, {
    key: `bn_dx_${gamma != null}`,
    inputs: ins,
    names,
    outShape: x.shape,
    expr: `(${scale('i % uniforms.channels')}) * (dy[i] - sums[i % uniforms.channels] / uniforms.rows
      - (x[i] - mean[i % uniforms.channels]) * ${invStd('i % uniforms.channels')} * ${invStd('i % uniforms.channels')}
        * sums[uniforms.channels + i % uniforms.channels] / uniforms.rows)`,
    ints: { channels: C },
    floats: { eps, rows: R },
  });
  // A bound input the code does not read would be dropped from the pipeline's layout: bind only what each reads.
  const dbeta = elementwise(backend, { key: 'bn_dbeta', inputs: [sums], names: ['sums'], outShape: [C], expr: 'sums[i]' });
  const out = [dx, dbeta];
  if (gamma) {
    const expr = `sums[uniforms.channels + i] * ${invStd('i')}`;
    const names = ['variance', 'sums'];
    out.splice(
      1,
      0,
      elementwise(backend, {
        key: 'bn_dgamma',
        inputs: [variance, sums],
        names,
        outShape: [C],
        expr,
        ints: { channels: C },
        floats: { eps },
      }),
    );
  }
  backend.disposeData(sums.dataId);
  return out;
}

const kernel = (kernelName: string, f: (a: Args) => tf.TensorInfo | tf.TensorInfo[]): tf.KernelConfig => ({
  kernelName,
  backendName: 'webgpu',
  kernelFunc: f as unknown as tf.KernelFunc,
});

/** The kernels of the fused BatchNorm (registered with ringtune's other webgpu kernels). */
export const batchNormKernels: tf.KernelConfig[] = [
  kernel('RingtuneColumnMoments', moments),
  kernel('RingtuneBatchNormGrad', batchNormGrad),
  elementwiseKernel('RingtuneMovingAverage', {
    key: 'moving_average',
    names: ['old', 'value'],
    expr: 'old[i] - (old[i] - value[i]) * uniforms.decay',
    floats: (attrs) => ({ decay: 1 - (attrs.momentum as number) }),
  }),
];
