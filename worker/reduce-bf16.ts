/**
 * bfloat16 wire format for the ring (RingOptions.wire = 'bf16'): half the bytes of fp32 with fp32's
 * exponent range, so gradients need no loss scaling. Values are rounded to nearest-even when
 * encoded; all arithmetic stays fp32. Received frames are raw bytes of any alignment.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 bits of one float, rounded to nearest-even (NaN stays a quiet NaN). */
export function bf16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0];
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0) return (u >>> 16) | 0x0040;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Encodes floats as bf16 into a fresh buffer (safe to hand to ZeroMQ: nothing else writes it). */
export function encodeBf16(src: Float32Array): Buffer {
  const out = new Uint16Array(src.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const u = bits[i];
    out[i] = (u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0 ? (u >>> 16) | 0x0040 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return Buffer.from(out.buffer, 0, out.byteLength);
}

/** Rounds floats to the nearest bf16 value in place (what a bf16 round trip would give). */
export function roundToBf16(x: Float32Array): void {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) {
    const u = bits[i];
    bits[i] = (u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0 ? u | 0x00400000 : ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
  }
}

/** View of src's bytes as uint16 when aligned, else an aligned copy. */
function halves(src: Uint8Array): Uint16Array {
  if (src.byteOffset % 2 === 0) return new Uint16Array(src.buffer, src.byteOffset, src.byteLength / 2);
  return new Uint16Array(Uint8Array.prototype.slice.call(src).buffer);
}

function checkLengths(dst: Float32Array, src: Uint8Array): void {
  if (src.byteLength !== dst.length * 2) throw new Error(`ring: cannot use ${src.byteLength} bf16 bytes for a ${dst.length}-float chunk`);
}

/** dst[i] += bf16 src[i]. */
export function addBf16Into(dst: Float32Array, src: Uint8Array): void {
  checkLengths(dst, src);
  const h = halves(src);
  const scratch = new Float32Array(1);
  const scratchBits = new Uint32Array(scratch.buffer);
  for (let i = 0; i < dst.length; i++) {
    scratchBits[0] = h[i] << 16;
    dst[i] += scratch[0];
  }
}

/** dst[i] = bf16 src[i]. */
export function copyBf16Into(dst: Float32Array, src: Uint8Array): void {
  checkLengths(dst, src);
  const h = halves(src);
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < dst.length; i++) bits[i] = h[i] << 16;
}
