/**
 * Training-mode BatchNorm and the ReLU gradients as single oneDNN passes over the wasm heap (Note
 * [wasm heap] in onednn.ts). tfjs spells a training BatchNorm as moments + FusedBatchNorm, about
 * twenty full passes forward and backward; oneDNN's batch normalization does it in four.
 *
 * The kernels: RingtuneBatchNorm (x, scale, offset -> y, batch mean, biased batch variance) and its
 * gradient RingtuneBatchNormGrad, and RingtuneReluGrad (dy where 0 < x, and x <= clip for ReLU6).
 * The gradient configs here are registered for every backend and use the fused kernel only where
 * the active backend has it, tfjs's formula otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOperands, KernelArgs, nativeOperands, OnednnNative } from './onednn';
import { replaceGradient } from './config';

export const BATCH_NORM = 'RingtuneBatchNorm';
const BATCH_NORM_GRAD = 'RingtuneBatchNormGrad';
const RELU_GRAD = 'RingtuneReluGrad';

enum Kind {
  Forward = 0,
  Backward = 1,
  ReluBackward = 2,
  Inference = 3,
}

/** [N, C, H, W] of a channels-last tensor of rank 2 to 4 as native/bnorm.cc reads it. */
function normDims(shape: number[]): number[] {
  const c = shape[shape.length - 1];
  const [n, h, w] = [shape[0], shape.length > 2 ? shape[1] : 1, shape.length > 3 ? shape[2] : 1];
  return [n, c, h, w];
}

/** One native/bnorm.cc pass of `kind`: new outputs of `outShapes` after `inputs` in the operand list. */
function runNorm(
  native: OnednnNative,
  kind: Kind,
  args: KernelArgs,
  inputs: tf.TensorInfo[],
  outShapes: number[][],
  dimsOf: number[],
  eps: number,
) {
  const outs = outShapes.map((s) => args.backend.makeOutput(s, 'float32'));
  const { heap, offsets } = heapOperands(args.backend, [...inputs, ...outs]);
  native.norm(heap, Float64Array.from([kind, ...dimsOf, eps]), offsets);
  return outs;
}

function normKernels(native: OnednnNative): tf.KernelConfig[] {
  const forward = (args: KernelArgs) => {
    const { x, scale, offset } = args.inputs as Record<string, tf.TensorInfo>;
    const c = x.shape[x.shape.length - 1];
    return runNorm(native, Kind.Forward, args, [x, scale, offset], [x.shape, [c], [c]], normDims(x.shape), args.attrs.epsilon as number);
  };
  const backward = (args: KernelArgs) => {
    const { x, scale, offset, mean, variance, dy } = args.inputs as Record<string, tf.TensorInfo>;
    const c = x.shape[x.shape.length - 1];
    const inputs = [x, scale, offset, mean, variance, dy];
    return runNorm(native, Kind.Backward, args, inputs, [x.shape, [c], [c]], normDims(x.shape), args.attrs.epsilon as number);
  };
  const reluGrad = (args: KernelArgs) => {
    const { dy, x } = args.inputs as Record<string, tf.TensorInfo>;
    return runNorm(
      native,
      Kind.ReluBackward,
      args,
      [dy, x],
      [x.shape],
      [x.shape.reduce((p, d) => p * d, 1), 1, 1, 1],
      args.attrs.clip as number,
    )[0];
  };
  return [
    { kernelName: BATCH_NORM, backendName: 'wasm', kernelFunc: forward as unknown as tf.KernelFunc },
    { kernelName: BATCH_NORM_GRAD, backendName: 'wasm', kernelFunc: backward as unknown as tf.KernelFunc },
    { kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGrad as unknown as tf.KernelFunc },
  ];
}

/**
 * tfjs's FusedBatchNorm (BatchNorm at inference, with the moving statistics) as one oneDNN pass:
 * the wasm kernel made it the slowest op of a validation batch. Per-channel statistics, scale and
 * offset only; anything else goes to `fallback`.
 */
export function inferenceNormKernel(native: OnednnNative, fallback: (args: KernelArgs) => tf.TensorInfo) {
  return (args: KernelArgs): tf.TensorInfo => {
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo>;
    const c = x.shape[x.shape.length - 1];
    const stats = [mean, variance, scale, offset];
    const perChannel = stats.every((t) => t != null && t.shape.length === 1 && t.shape[0] === c);
    if (!perChannel || x.shape.length < 2 || x.shape.length > 4 || !nativeOperands(x, ...stats)) return fallback(args);
    const eps = args.attrs.varianceEpsilon as number;
    return runNorm(native, Kind.Inference, args, [x, ...stats], [x.shape], normDims(x.shape), eps)[0];
  };
}

/** True when `t` holds a nonzero value (the engine passes zeros for outputs that do not reach the loss). */
function nonzero(t: tf.Tensor | null): t is tf.Tensor {
  return t != null && (t.dataSync() as Float32Array).some((v) => v !== 0);
}

/** Gradient of RingtuneBatchNorm; the statistics' own gradients (nonzero only when the loss reads them) are added with tf ops. */
const batchNormGrad: tf.GradConfig = {
  kernelName: BATCH_NORM,
  inputsToSave: ['x', 'scale', 'offset'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy, dMean, dVariance] = dys as tf.Tensor[];
    const [x, scale, offset, mean, variance] = saved;
    const epsilon = (attrs as { epsilon: number }).epsilon;
    // The thunks run in their own tidy scopes; the shared results belong to the enclosing one.
    const [dx, dScale, dOffset] = tf
      .engine()
      .runKernel(BATCH_NORM_GRAD, { x, scale, offset, mean, variance, dy }, { epsilon }) as tf.Tensor[];
    const n = x.size / mean.size;
    const viaMean = (g: tf.Tensor) => (nonzero(dMean) ? tf.add(g, tf.div(dMean, n)) : g);
    const viaVariance = (g: tf.Tensor) => (nonzero(dVariance) ? tf.add(g, tf.mul(tf.sub(x, mean), tf.mul(dVariance, 2 / n))) : g);
    return { x: () => viaVariance(viaMean(dx)), scale: () => dScale, offset: () => dOffset };
  },
};

function reluGrad(kernelName: 'Relu' | 'Relu6', clip: number): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dys, saved) => {
      const dy = dys as tf.Tensor;
      const [x] = saved;
      if (tf.getKernel(RELU_GRAD, tf.getBackend()) != null)
        return { x: () => tf.engine().runKernel(RELU_GRAD, { dy, x }, { clip }) as tf.Tensor };
      // tfjs's own gradients.
      const mask = clip > 0 ? tf.mul(tf.lessEqual(x, clip), tf.step(x)) : tf.step(x);
      return { x: () => tf.mul(dy, tf.cast(mask, 'float32')) };
    },
  };
}

let gradientsRegistered = false;

/** The BatchNorm and ReLU-gradient kernels oneDNN runs on wasm (their gradients are registered on first use). */
export function onednnNormKernels(native: OnednnNative): tf.KernelConfig[] {
  if (!gradientsRegistered) {
    tf.registerGradient(batchNormGrad);
    replaceGradient(reluGrad('Relu', 0));
    replaceGradient(reluGrad('Relu6', 6));
    gradientsRegistered = true;
  }
  return normKernels(native);
}

/** Names of the kernels above, to unregister them when oneDNN is turned off. */
export const onednnNormKernelNames = [BATCH_NORM, BATCH_NORM_GRAD, RELU_GRAD];
