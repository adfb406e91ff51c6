/**
 * Loads the optional oneDNN addon (worker/kernels/native/, built by `npm install` where oneDNN's
 * headers are installed: `apt-get install -y libdnnl-dev`) and gives its kernels access to the wasm
 * backend's heap. Absent or broken, it reports why and the wasm backend keeps ringtune's wasm
 * kernels; RINGTUNE_NO_ONEDNN=1 turns it off on purpose.
 */
import * as tf from '@tensorflow/tfjs';
import { loadAddon } from '../addon';

/** The addon's functions (see native/onednn.cc for their contracts). */
export interface OnednnNative {
  conv(heap: ArrayBuffer, desc: Float64Array, offsets: Float64Array): void;
  matmul(heap: ArrayBuffer, desc: Float64Array, offsets: Float64Array): void;
  norm(heap: ArrayBuffer, desc: Float64Array, offsets: Float64Array): void;
  binary(heap: ArrayBuffer, desc: Float64Array, offsets: Float64Array): void;
  maxPoolGrad(heap: ArrayBuffer, desc: Float64Array, offsets: Float64Array): void;
  /** FlatAdam's fused pass (native/adam.h); desc: [off, len, then AdamCoefficients in declaration order]. */
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, desc: Float64Array): void;
  /** e.g. "oneDNN 2.6.3 (AVX2, 1 thread)". */
  describe(): string;
  cachedPrimitives(): number;
}

let loaded: { native: OnednnNative | null; reason: string } | null = null;

/** The addon, or null with the reason it cannot be used here. */
export function onednnNative(): { native: OnednnNative | null; reason: string } {
  if (loaded) return loaded;
  if (process.env.RINGTUNE_NO_ONEDNN === '1') return (loaded = { native: null, reason: 'RINGTUNE_NO_ONEDNN=1' });
  const found = loadAddon<OnednnNative>(
    'kernels',
    'ringtune_onednn',
    'oneDNN not found, install libdnnl-dev for ~3x (then npm run build:native)',
  );
  return (loaded = found.native ? { native: found.native, reason: found.native.describe() } : found);
}

/** What the native kernels use of tfjs's wasm backend (BackendWasm in @tensorflow/tfjs-backend-wasm). */
export interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

/**
 * The heap and the byte offsets of `tensors` in it, read now.
 *
 * Note [wasm heap]
 * ~~~~~~~~~~~~~~~~
 * The native kernels read and write tensors in place in the wasm backend's heap. Growing wasm
 * memory (any allocation may) replaces its ArrayBuffer, so a kernel allocates all its outputs
 * first and only then takes the buffer and the offsets; the native side keeps no pointer into the
 * heap past the call.
 */
export function heapOperands(backend: WasmHeapBackend, tensors: tf.TensorInfo[]): { heap: ArrayBuffer; offsets: Float64Array } {
  const offsets = new Float64Array(tensors.length);
  tensors.forEach((t, i) => {
    const data = backend.dataIdMap.get(t.dataId);
    if (data == null) throw new Error(`oneDNN kernel: tensor ${i} (shape [${t.shape}]) is not in the wasm backend`);
    offsets[i] = data.memoryOffset;
  });
  return { heap: backend.wasm.HEAPU8.buffer as ArrayBuffer, offsets };
}

/** tfjs's fusable activations the native kernels run, by the codes native/op.h expects. */
export const activationCodes: Record<string, number> = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3, sigmoid: 4, elu: 5 };

/** Arguments tfjs hands a kernel function. */
export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: WasmHeapBackend;
  attrs: Record<string, unknown>;
}

/** True when every given tensor is a non-empty float32 tensor (what the native kernels take). */
export function nativeOperands(...ts: (tf.TensorInfo | undefined)[]): boolean {
  return ts.every((t) => t == null || (t.dtype === 'float32' && t.shape.every((d) => d > 0)));
}
