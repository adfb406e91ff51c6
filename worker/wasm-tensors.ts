/**
 * The host side of a step on the wasm backend, without the copies tfjs's generic path makes:
 * gradients copied straight out of the wasm heap into the flat buffer (not concatenated on the
 * device, read into a fresh array, then copied), and the updated weights copied straight into each
 * variable's own buffer (not sliced, uploaded into a new buffer and assigned). On resnet18, 11.7 M
 * parameters, the generic path's fresh 47 MB arrays cost more than the arithmetic.
 *
 * Note [in-place variables]: tfjs shares a buffer between tensors by reference count (a reshape or
 * an Identity of a variable is the same buffer). A variable is written in place only when the
 * backend counts exactly one owner, so no other tensor sees its values change; otherwise it gets a
 * new tensor as before. The wasm backend's C++ side caches work derived from a tensor's values
 * under its id (XNNPACK's convolutions and matmuls pack their weights once per filter tensor) and
 * drops it when the tensor is disposed; a variable written in place is therefore disposed and
 * registered again there, same id and memory, so nothing stale survives (a new tensor each step
 * had the same effect). Heap views are taken right before the copy with no wasm allocation in
 * between (growth replaces the heap; Note [wasm heap] in kernels/onednn.ts).
 */
import * as tf from '@tensorflow/tfjs';

/** What this module uses of tfjs's wasm backend (BackendWasm). */
interface WasmBackend {
  wasm: {
    HEAPU8: Uint8Array;
    /** The C++ backend's bookkeeping: disposeData runs the callbacks that drop what it cached for the id. */
    tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number; refCount: number } | undefined };
}

/** The wasm backend when it is the current one and has the internals above, else null (callers then take tfjs's generic path). */
export function wasmBackend(): WasmBackend | null {
  if (tf.getBackend() !== 'wasm') return null;
  const b = tf.backend();
  return hasWasmInternals(b) ? b : null;
}

/** Whether `b` has what WasmBackend names: a tfjs release that renames them gets the generic path, not a crash. */
export function hasWasmInternals(b: unknown): b is WasmBackend {
  const w = b as Partial<WasmBackend> | null;
  return (
    w?.wasm?.HEAPU8 instanceof Uint8Array &&
    typeof w.wasm.tfjs?.registerTensor === 'function' &&
    typeof w.wasm.tfjs.disposeData === 'function' &&
    typeof w.dataIdMap?.get === 'function'
  );
}

/** `t`'s float32 buffer in the heap, valid until the next wasm allocation. */
function heapFloats(b: WasmBackend, t: tf.Tensor): Float32Array {
  const data = b.dataIdMap.get(t.dataId);
  if (t.dtype !== 'float32' || data == null)
    throw new Error(`wasm heap: tensor of shape [${t.shape}] is not a float32 tensor of the wasm backend`);
  return new Float32Array(b.wasm.HEAPU8.buffer, data.memoryOffset, t.size);
}

/** Copies `tensors` one after another into `dst` from its start. */
export function copyOut(b: WasmBackend, tensors: tf.Tensor[], dst: Float32Array): void {
  let at = 0;
  for (const t of tensors) {
    dst.set(heapFloats(b, t), at);
    at += t.size;
  }
  if (at !== dst.length) throw new Error(`wasm heap: ${at} gradient values for a bucket of ${dst.length}`);
}

/** Writes `src` into `v`'s own buffer when it is its only owner (Note [in-place variables]); false when it is not. */
export function writeInPlace(b: WasmBackend, v: tf.Variable, src: Float32Array): boolean {
  const data = b.dataIdMap.get(v.dataId);
  if (v.dtype !== 'float32' || data == null || data.refCount !== 1) return false;
  if (src.length !== v.size) throw new Error(`wasm heap: ${src.length} values for variable ${v.name} of ${v.size}`);
  heapFloats(b, v).set(src);
  b.wasm.tfjs.disposeData(data.id);
  b.wasm.tfjs.registerTensor(data.id, v.size, data.memoryOffset);
  return true;
}
