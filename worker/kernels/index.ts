/** ringtune's own kernels for the wasm backend: the training kernels wasm lacks or runs slowly, and oneDNN's where it is installed. */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig, conv2dBackpropInputConfig } from './conv2d-grads';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-grads';
import { unsortedSegmentSumConfig } from './segment-sum';
import { fusedBatchNormGradConfig } from './batchnorm-grad';
import { identityConfig, pixelShuffleConfig } from './layout';
import { maxPoolGradConfig } from './maxpool-grad';
import { replaceGradient } from './config';
import { onednnNative } from './onednn';
import { onednnKernelNames, onednnKernels, withSetup } from './onednn-kernels';
import { onednnNormKernelNames, onednnNormKernels } from './onednn-norm';
import { installFusedBatchNormLayer } from './batchnorm-layer';

/** Every kernel ringtune registers for wasm (replacing any stock one of the same name). */
export const wasmKernels: tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  unsortedSegmentSumConfig,
  pixelShuffleConfig,
  identityConfig,
  maxPoolGradConfig,
];

let gradientsRegistered = false;
/** tfjs's own wasm kernels for the names oneDNN takes over, as they were before ringtune registered anything. */
let stock: Map<string, tf.KernelConfig> | null = null;

function stockKernels(): Map<string, tf.KernelConfig> {
  const found = new Map<string, tf.KernelConfig>();
  for (const name of onednnKernelNames) {
    const k = tf.getKernel(name, 'wasm');
    if (k != null) found.set(name, withSetup(k));
  }
  return found;
}

/** Which kernels the wasm backend got: oneDNN's, or ringtune's wasm kernels alone (and why). */
export interface WasmKernelChoice {
  onednn: boolean;
  /** oneDNN's version and ISA, or why it is not used. */
  detail: string;
}

function register(k: tf.KernelConfig): void {
  if (tf.getKernel(k.kernelName, 'wasm') === k) return;
  if (tf.getKernel(k.kernelName, 'wasm') != null) tf.unregisterKernel(k.kernelName, 'wasm');
  tf.registerKernel(k);
}

/**
 * Registers ringtune's wasm kernels (and its leaner BatchNorm gradient), then oneDNN's on top where
 * the addon loads and `useOnednn` allows; switching back restores the wasm kernels. Call after
 * '@tensorflow/tfjs-backend-wasm' is imported.
 */
export function registerWasmKernels(useOnednn = true): WasmKernelChoice {
  if (!gradientsRegistered) {
    replaceGradient(fusedBatchNormGradConfig);
    gradientsRegistered = true;
  }
  stock ??= stockKernels();
  const wasm = new Map(stock);
  for (const k of wasmKernels) wasm.set(k.kernelName, k);
  const { native, reason } = useOnednn ? onednnNative() : { native: null, reason: 'oneDNN kernels turned off' };
  for (const k of wasm.values()) register(k);
  for (const name of onednnNormKernelNames) if (tf.getKernel(name, 'wasm') != null) tf.unregisterKernel(name, 'wasm');
  if (native != null) {
    for (const k of [...onednnKernels(native, (name) => wasm.get(name)), ...onednnNormKernels(native)]) register(k);
    installFusedBatchNormLayer();
  }
  return { onednn: native != null, detail: reason };
}
