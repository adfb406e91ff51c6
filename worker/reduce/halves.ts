/** Helpers shared by the 16-bit wire formats (bf16, fp16): received frames are raw bytes of any alignment. */

/** View of src's bytes as uint16 when aligned, else an aligned copy. */
export function halves(src: Uint8Array): Uint16Array {
  if (src.byteOffset % 2 === 0) return new Uint16Array(src.buffer, src.byteOffset, src.byteLength >>> 1);
  return new Uint16Array(Uint8Array.prototype.slice.call(src).buffer);
}

/** The int32 bit patterns of a float range (same memory). */
export function bitsOf(x: Float32Array): Int32Array {
  return new Int32Array(x.buffer, x.byteOffset, x.length);
}
