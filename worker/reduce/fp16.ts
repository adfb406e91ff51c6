/**
 * IEEE binary16 wire format for the ring (RingOptions.wire = 'fp16'): half the bytes of fp32 and
 * 3 more mantissa bits than bf16, but a range of only 6e-8..65504, so every frame is scaled.
 *
 * Note [fp16 frame]: a payload is a little-endian int32 scale exponent e followed by one fp16 per
 * float, holding x * 2^e rounded to nearest-even. The sender picks e per frame so that the
 * largest finite |x| of the chunk scales into [2^14, 2^15): a factor of two of headroom below
 * 65504, so no finite value overflows, and the chunk's small values keep as many bits as fp16
 * allows. A chunk with no non-zero finite value sends e = 0. Inf and NaN scale to themselves.
 * Multiplying by a power of two is exact, so decode(encode(x)) is fp16(x * 2^e) / 2^e (rounded to
 * float32, which matters only for results below 2^-126); the receiver decodes to fp32 and all
 * arithmetic stays fp32. The exponent rides in the payload rather than the 40-byte header, so the
 * header layout and ring protocol version stay as they are, and the fp16 data stays 2-byte aligned.
 * The bulk loops run as WebAssembly SIMD (reduce-fp16-simd.ts) where they can, bit for bit the
 * same as the JS loops here.
 */
import { decodeSimd, encodeStaged, stageEncode } from './fp16-simd';
import { bitsOf, halves } from './halves';

/** Bytes of the scale exponent in front of every fp16 payload. */
export const FP16_PREFIX_BYTES = 4;
/** Smallest scale exponent a finite float32 chunk needs (max|x| just under 2^128; 2^14 <= max|x| * 2^e < 2^15). */
export const MIN_SCALE_EXP = -113;
/** Largest scale exponent a finite float32 chunk needs (max|x| = 2^-149, the smallest subnormal). */
export const MAX_SCALE_EXP = 163;
/** floor(log2) the chunk's largest magnitude is scaled to. */
const TARGET_LOG2 = 14;

/** Payload bytes of an fp16 frame of `floats` floats. */
export function fp16PayloadBytes(floats: number): number {
  return FP16_PREFIX_BYTES + 2 * floats;
}

/** The scale exponent for a chunk given as float32 bits (see Note [fp16 frame]). */
export function scaleExponent(bits: Int32Array): number {
  return exponentForMax(maxFiniteBits(bits));
}

/** The largest finite |x| of float32 bits, as bits (non-negative floats order like their bits); 0 if none. */
function maxFiniteBits(bits: Int32Array): number {
  let max = 0;
  for (let i = 0; i < bits.length; i++) {
    const a = bits[i] & 0x7fffffff;
    if (a > max && a < 0x7f800000) max = a;
  }
  return max;
}

/** The scale exponent for a chunk whose largest finite |x| has float32 bits `max`. */
function exponentForMax(max: number): number {
  if (max === 0) return 0;
  const exp = max >>> 23;
  const log2 = exp > 0 ? exp - 127 : 31 - Math.clz32(max) - 149;
  return TARGET_LOG2 - log2;
}

/** fp16 bits of x * 2^e (x given as float32 bits `i`), rounded to nearest-even; NaN stays quiet NaN. */
export function fp16BitsScaled(i: number, e: number): number {
  const sign = (i >>> 16) & 0x8000;
  const a = i & 0x7fffffff;
  if (a >= 0x7f800000) return sign | (a === 0x7f800000 ? 0x7c00 : 0x7e00 | ((a >>> 13) & 0x3ff));
  let exp = a >>> 23;
  let man = a & 0x7fffff;
  if (exp === 0) {
    if (man === 0) return sign;
    const k = Math.clz32(man) - 8; // normalize a float32 subnormal
    man = (man << k) & 0x7fffff;
    exp = 1 - k;
  }
  exp += e; // biased float32 exponent of x * 2^e
  if (exp >= 113) {
    if (exp >= 143) return sign | 0x7c00; // >= 2^16 overflows
    // Rebias to fp16 in float32 position, then round away 13 mantissa bits; a carry may reach inf.
    const t = ((exp - 112) << 23) | man;
    return sign | ((t + 0xfff + ((t >>> 13) & 1)) >>> 13);
  }
  if (exp < 102) return sign; // below 2^-25: rounds to zero
  // fp16 subnormal: round(x * 2^e * 2^24) from the 24-bit significand.
  const m = man | 0x800000;
  const s = 126 - exp;
  return sign | ((m + (1 << (s - 1)) - 1 + ((m >>> s) & 1)) >>> s);
}

/** fp16 bits of one float (scale 1), computed the way frames are encoded. */
export function fp16Bits(x: number): number {
  f32[0] = x;
  encodeFp16Js(h16, i32, 0);
  return h16[0];
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
const h16 = new Uint16Array(1);

/** The value of fp16 bits h. */
export function fp16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man ? NaN : sign * Infinity;
  return sign * (1024 + man) * 2 ** (exp - 25);
}

/** Every fp16 value by its bits: decoding is one lookup and one exact power-of-two multiply. */
const VALUES = Float32Array.from({ length: 0x10000 }, (_, h) => fp16Value(h));

/** Encodes a chunk as an fp16 frame (Note [fp16 frame]) into a fresh buffer, safe to hand to ZeroMQ. */
export function encodeFp16(src: Float32Array): Buffer {
  const out = Buffer.allocUnsafeSlow(fp16PayloadBytes(src.length));
  const bits = bitsOf(src);
  const stagedMax = stageEncode(bits); // -1 without SIMD: then nothing is staged
  const tail = stagedMax < 0 ? 0 : bits.length & ~7;
  const e = exponentForMax(Math.max(stagedMax, maxFiniteBits(bits.subarray(tail))));
  out.writeInt32LE(e, 0);
  const h = new Uint16Array(out.buffer, out.byteOffset + FP16_PREFIX_BYTES, src.length);
  const done = stagedMax < 0 ? 0 : encodeStaged(h, e);
  encodeFp16Js(h.subarray(done), bits.subarray(done), e);
  return out;
}

/**
 * h[i] = fp16 bits of bits[i] * 2^e in JS: the reference the SIMD kernel matches bit for bit, and
 * what runs on its tail and where it cannot. The common case, a float32 normal that scales to an
 * fp16 normal, is one range check and the rebias-and-round of fp16BitsScaled with the scale
 * folded into the bias (about 1.4x faster); the rest, and scales whose range check would leave
 * the float32 normals, take fp16BitsScaled.
 */
export function encodeFp16Js(h: Uint16Array, bits: Int32Array, e: number): void {
  if (e > 112 || e < -112) {
    for (let i = 0; i < bits.length; i++) h[i] = fp16BitsScaled(bits[i], e);
    return;
  }
  const lo = (113 - e) << 23; // |x| * 2^e >= 2^-14
  const hi = (143 - e) << 23; // |x| * 2^e < 2^16
  const bias = ((e - 112) << 23) + 0xfff;
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    const a = b & 0x7fffffff;
    h[i] = a >= lo && a < hi ? ((b >>> 16) & 0x8000) | ((a + bias + ((a >>> 13) & 1)) >>> 13) : fp16BitsScaled(b, e);
  }
}

/** dst[i] = (or += when accumulating) fp16 h[i] * 2^-e in JS (the reference for the SIMD kernel). */
export function decodeFp16Js(dst: Float32Array, h: Uint16Array, e: number, accumulate: boolean): void {
  const inv = 2 ** -e;
  // VALUES[h] * inv is exact in double; the store rounds once, and the add is an fp32 add.
  if (accumulate) for (let i = 0; i < dst.length; i++) dst[i] += Math.fround(VALUES[h[i]] * inv);
  else for (let i = 0; i < dst.length; i++) dst[i] = VALUES[h[i]] * inv;
}

/** Decodes a frame into dst (adding when accumulating); throws on a size or exponent no fp16 sender writes. */
function decodeFrame(dst: Float32Array, src: Uint8Array, accumulate: boolean): void {
  if (src.byteLength !== fp16PayloadBytes(dst.length)) {
    throw new Error(
      `ring: cannot use a ${src.byteLength}-byte fp16 frame for a ${dst.length}-float chunk (expected ${fp16PayloadBytes(dst.length)})`,
    );
  }
  const e = src[0] | (src[1] << 8) | (src[2] << 16) | (src[3] << 24);
  if (e < MIN_SCALE_EXP || e > MAX_SCALE_EXP) {
    throw new Error(`ring: fp16 frame carries scale exponent ${e}, outside [${MIN_SCALE_EXP}, ${MAX_SCALE_EXP}]`);
  }
  const data = src.subarray(FP16_PREFIX_BYTES);
  const done = decodeSimd(dst, data, e, accumulate);
  decodeFp16Js(dst.subarray(done), halves(data.subarray(done * 2)), e, accumulate);
}

/** dst[i] = decoded fp16 frame value i. */
export function copyFp16Into(dst: Float32Array, src: Uint8Array): void {
  decodeFrame(dst, src, false);
}

/** dst[i] += decoded fp16 frame value i, as an fp32 add. */
export function addFp16Into(dst: Float32Array, src: Uint8Array): void {
  decodeFrame(dst, src, true);
}

/** Replaces a chunk by exactly what its fp16 frame decodes to and returns that frame (the owner's side of a reduced chunk). */
export function roundToFp16Frame(x: Float32Array): Buffer {
  const frame = encodeFp16(x);
  copyFp16Into(x, frame);
  return frame;
}
