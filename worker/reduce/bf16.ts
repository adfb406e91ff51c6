/**
 * bfloat16 wire format for the ring (RingOptions.wire = 'bf16'): half the bytes of fp32 with fp32's
 * exponent range, so gradients need no loss scaling. Values are rounded to nearest-even when
 * encoded; all arithmetic stays fp32. Received frames are raw bytes of any alignment.
 */

import { addInto } from './add';
import { bitsOf, halves } from './halves';

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** bf16 bits of one float, rounded to nearest-even (NaN stays a quiet NaN). */
export function bf16Bits(x: number): number {
  f32[0] = x;
  return roundBits(i32[0]);
}

/** bf16 bits of the float whose bits are `i` (int32), rounded to nearest-even; NaN stays quiet NaN. */
function roundBits(i: number): number {
  // `| 0` keeps the add in int32 (wrapping), which V8 compiles without an overflow check.
  return (i & 0x7fffffff) > 0x7f800000 ? (i >>> 16) | 0x0040 : (((i + 0x7fff + ((i >>> 16) & 1)) | 0) >>> 16) & 0xffff;
}

/** Encodes floats as bf16 into a fresh buffer (safe to hand to ZeroMQ: nothing else writes it). */
export function encodeBf16(src: Float32Array): Buffer {
  const out = Buffer.allocUnsafeSlow(src.length * 2);
  const h = new Uint16Array(out.buffer, out.byteOffset, src.length);
  const bits = bitsOf(src);
  for (let i = 0; i < src.length; i++) h[i] = roundBits(bits[i]);
  return out;
}

/** Rounds floats to the nearest bf16 value in place (what a bf16 round trip would give). */
export function roundToBf16(x: Float32Array): void {
  const bits = bitsOf(x);
  for (let i = 0; i < x.length; i++) bits[i] = roundBits(bits[i]) << 16;
}

function checkLengths(dst: Float32Array, src: Uint8Array): void {
  if (src.byteLength !== dst.length * 2) throw new Error(`ring: cannot use ${src.byteLength} bf16 bytes for a ${dst.length}-float chunk`);
}

let decoded = new Float32Array(0);

/** dst[i] += bf16 src[i]: decode into a scratch block, then the fp32 add kernel. */
export function addBf16Into(dst: Float32Array, src: Uint8Array): void {
  checkLengths(dst, src);
  if (decoded.length < dst.length) decoded = new Float32Array(dst.length);
  const tmp = decoded.subarray(0, dst.length);
  copyBf16Into(tmp, src);
  addInto(dst, new Uint8Array(tmp.buffer, 0, tmp.byteLength));
}

/** dst[i] = bf16 src[i]. */
export function copyBf16Into(dst: Float32Array, src: Uint8Array): void {
  checkLengths(dst, src);
  const h = halves(src);
  const bits = bitsOf(dst);
  for (let i = 0; i < dst.length; i++) bits[i] = h[i] << 16;
}
