/**
 * WebAssembly SIMD kernels for the fp16 wire format (Note [fp16 frame] in reduce-fp16.ts). They
 * compute exactly what the JS loops in reduce-fp16.ts compute (tested bit for bit), 8 floats per
 * iteration, for scale exponents in [-112, 112], where 2^e and 2^-e are float32 normals. Wasm sees
 * only its own memory, so data is staged through it as in reduce-add.ts: decode in 64 KiB blocks;
 * encode copies the whole chunk in (its scale depends on all of it), taking the max |x| of each
 * block while it is hot, then encodes it in one go. The memory grows to the largest chunk seen.
 *
 * Encode, per lane, on a = |x| as float32 bits (lo/hi bound the x * 2^e that are fp16 normals):
 *   a < lo:  fp16 subnormal (or zero) = bits(|x| * 2^e + 0.5) - bits(0.5): adding 0.5 makes the
 *            float32 ulp 2^-24, the fp16 subnormal step, so the hardware add rounds to nearest-even;
 *   a < hi:  (a + bias + lsb) >> 13, bias rebiasing the exponent with the scale folded in;
 *   else:    inf (overflow or inf) or quiet NaN with the top payload bits;
 * then the sign, and a narrowing pack of 8 lanes to 16 bits.
 * Decode, per lane, on m = h & 0x7fff: subnormal m * 2^-24 (exact int-to-float), normal m << 13
 * rebiased by 112 exponents, inf/NaN rebiased to exponent 255; then the sign, times 2^-e.
 */
import { leb, section, sleb } from './wasm-asm';

/** Floats per staged block: 64 KiB of float32 in, 32 KiB of fp16 out (or the reverse for decode). */
const BLOCK = 16 * 1024;
const IN = 0;
const OUT = BLOCK * 4;
/** Scale exponents the kernels handle; others take the JS path. */
export const SIMD_MAX_ABS_EXP = 112;

// Instructions (SIMD ones are 0xfd + LEB128 opcode).
const simd = (op: number): number[] => [0xfd, ...leb(op)];
const get = (i: number): number[] => [0x20, i];
const set = (i: number): number[] => [0x21, i];
const tee = (i: number): number[] => [0x22, i];
const i32 = (v: number): number[] => [0x41, ...sleb(v | 0)];
const load = (offset: number): number[] => [...simd(0x00), 4, ...leb(offset)];
const store = (offset: number): number[] => [...simd(0x0b), 4, ...leb(offset)];
const splat = (v: number): number[] => [...i32(v), ...simd(0x11)];
const [and, or, bitselect] = [simd(0x4e), simd(0x50), simd(0x52)];
const [ltS, gtS] = [simd(0x39), simd(0x3b)];
const [shl, shrU, add, sub] = [simd(0xab), simd(0xad), simd(0xae), simd(0xb1)];
const [fadd, fmul, fromU32] = [simd(0xe4), simd(0xe6), simd(0xfb)];
const [narrowU, maxS] = [simd(0x86), simd(0xb8)];
const shuffle = (lanes: number[]): number[] => [...simd(0x0d), ...lanes];
const [extendLowU, extendHighU] = [simd(0xa9), simd(0xaa)];
const f32Splat = (v: number[]): number[] => [...v, ...simd(0x13)];
const f32Const = (v: number): number[] => {
  const b = new Uint8Array(Float32Array.of(v).buffer);
  return [0x43, ...b];
};

// encode(src, dst, srcEnd, lo, hi, bias, scale: f32); locals 7 x, 8 a, 9 scale splat.
const ENC_X = 7;
const ENC_A = 8;
const ENC_SCALE = 9;
/** fp16 bits (in i32 lanes) of the 4 floats at src + offset. */
// prettier-ignore
const encode4 = (offset: number): number[] => [
  ...get(0), ...load(offset), ...tee(ENC_X), ...splat(0x7fffffff), ...and, ...set(ENC_A),
  // subnormal candidate: bits(a * scale + 0.5) - bits(0.5)
  ...get(ENC_A), ...get(ENC_SCALE), ...fmul, ...f32Splat(f32Const(0.5)), ...fadd, ...splat(0x3f000000), ...sub,
  // normal candidate: (a + bias + ((a >> 13) & 1)) >> 13
  ...get(ENC_A), ...get(5), ...simd(0x11), ...add, ...get(ENC_A), ...i32(13), ...shrU, ...splat(1), ...and, ...add, ...i32(13), ...shrU,
  // inf/overflow, or NaN: 0x7e00 | ((a >> 13) & 0x3ff)
  ...get(ENC_A), ...i32(13), ...shrU, ...splat(0x3ff), ...and, ...splat(0x7e00), ...or,
  ...splat(0x7c00), ...get(ENC_A), ...splat(0x7f800000), ...gtS, ...bitselect,
  ...get(ENC_A), ...get(4), ...simd(0x11), ...ltS, ...bitselect,
  ...get(ENC_A), ...get(3), ...simd(0x11), ...ltS, ...bitselect,
  ...get(ENC_X), ...i32(16), ...shrU, ...splat(0x8000), ...and, ...or,
];
// prettier-ignore
const encodeBody = [
  1, 3, 0x7b, // locals: x, a, scale splat (v128)
  ...get(6), ...simd(0x13), ...set(ENC_SCALE),
  0x02, 0x40, ...get(0), ...get(2), 0x4f, 0x0d, 0, // block; if src >= end break
  0x03, 0x40,
  ...get(1), ...encode4(0), ...encode4(16), ...narrowU, ...store(0),
  ...get(0), ...i32(32), 0x6a, ...set(0), ...get(1), ...i32(16), 0x6a, ...set(1),
  ...get(0), ...get(2), 0x49, 0x0d, 0, // if src < end continue
  0x0b, 0x0b, 0x0b,
];

// decode(src, dst, dstEnd, inv: f32) and decodeAdd (same); locals 4 m, 5 x, 6 h8, 7 inv splat.
const DEC_M = 4;
const DEC_X = 5;
const DEC_H = 6;
const DEC_INV = 7;
/** Decodes 4 fp16 lanes of h8 (`extend` picks which), scales them, adds dst when accumulating, stores at dst + offset. */
// prettier-ignore
const decode4 = (offset: number, extend: number[], accumulate: boolean): number[] => [
  ...get(1), // store address
  ...get(DEC_H), ...extend, ...set(DEC_X),
  ...get(DEC_X), ...splat(0x7fff), ...and, ...set(DEC_M),
  // subnormal: m * 2^-24; inf/NaN: (m << 13) + (224 << 23); normal: (m << 13) + (112 << 23)
  ...get(DEC_M), ...fromU32, ...f32Splat(f32Const(2 ** -24)), ...fmul,
  ...get(DEC_M), ...i32(13), ...shl, ...splat(224 << 23), ...add,
  ...get(DEC_M), ...i32(13), ...shl, ...splat(112 << 23), ...add,
  ...get(DEC_M), ...splat(0x7bff), ...gtS, ...bitselect,
  ...get(DEC_M), ...splat(0x400), ...ltS, ...bitselect,
  ...get(DEC_X), ...i32(16), ...shl, ...splat(0x80000000), ...and, ...or,
  ...get(DEC_INV), ...fmul,
  ...(accumulate ? [...get(1), ...load(offset), ...fadd] : []),
  ...store(offset),
];
// prettier-ignore
const decodeBody = (accumulate: boolean): number[] => [
  1, 4, 0x7b, // locals: m, x, h8, inv splat (v128)
  ...get(3), ...simd(0x13), ...set(DEC_INV),
  0x02, 0x40, ...get(1), ...get(2), 0x4f, 0x0d, 0,
  0x03, 0x40,
  ...get(0), ...load(0), ...set(DEC_H),
  ...decode4(0, extendLowU, accumulate), ...decode4(16, extendHighU, accumulate),
  ...get(0), ...i32(16), 0x6a, ...set(0), ...get(1), ...i32(32), 0x6a, ...set(1),
  ...get(1), ...get(2), 0x49, 0x0d, 0,
  0x0b, 0x0b, 0x0b,
];

// maxAbs(src, end) -> i32: the largest finite |x| as float32 bits (non-negative floats order like their bits); locals 2 acc, 3 a.
// prettier-ignore
const maxAbsBody = [
  1, 2, 0x7b, // locals: acc, a (v128)
  0x02, 0x40, ...get(0), ...get(1), 0x4f, 0x0d, 0,
  0x03, 0x40,
  ...get(0), ...load(0), ...splat(0x7fffffff), ...and, ...set(3),
  ...get(2), ...get(3), ...get(3), ...splat(0x7f800000), ...ltS, ...and, ...maxS, ...set(2),
  ...get(0), ...i32(16), 0x6a, ...set(0),
  ...get(0), ...get(1), 0x49, 0x0d, 0,
  0x0b, 0x0b,
  // horizontal max: fold the upper 8 bytes onto the lower, then the upper 4 of those
  ...get(2), ...get(2), ...get(2), ...shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]), ...maxS, ...set(2),
  ...get(2), ...get(2), ...get(2), ...shuffle([4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15]), ...maxS,
  ...simd(0x1b), 0, // i32x4.extract_lane 0
  0x0b,
];

function fp16Module(): Uint8Array<ArrayBuffer> {
  const [I, F] = [0x7f, 0x7d];
  const fn = (body: number[]): number[] => [...leb(body.length), ...body];
  const name = (s: string): number[] => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  // prettier-ignore
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [3, 0x60, 7, I, I, I, I, I, I, F, 0, 0x60, 4, I, I, I, F, 0, 0x60, 2, I, I, 1, I]),
    ...section(3, [4, 0, 1, 1, 2]),
    ...section(5, [1, 0, 2]),
    ...section(7, [5, ...name('encode'), 0, 0, ...name('decode'), 0, 1, ...name('decodeAdd'), 0, 2, ...name('maxAbs'), 0, 3, ...name('mem'), 2, 0]),
    ...section(10, [4, ...fn(encodeBody), ...fn(decodeBody(false)), ...fn(decodeBody(true)), ...fn(maxAbsBody)]),
  ]);
}

interface Kernels {
  encode: (src: number, dst: number, end: number, lo: number, hi: number, bias: number, scale: number) => void;
  decode: (src: number, dst: number, end: number, inv: number) => void;
  decodeAdd: (src: number, dst: number, end: number, inv: number) => void;
  maxAbs: (src: number, end: number) => number;
  mem: WebAssembly.Memory;
  bytes: Uint8Array;
}

let kernels: Kernels | null | undefined;

/** The kernels, or null where this runtime has no WebAssembly SIMD. */
function load16(): Kernels | null {
  if (kernels !== undefined) return kernels;
  try {
    const x = new WebAssembly.Instance(new WebAssembly.Module(fp16Module())).exports;
    const mem = x.mem as WebAssembly.Memory;
    kernels = {
      encode: x.encode as Kernels['encode'],
      decode: x.decode as Kernels['decode'],
      decodeAdd: x.decodeAdd as Kernels['decodeAdd'],
      maxAbs: x.maxAbs as Kernels['maxAbs'],
      mem,
      bytes: new Uint8Array(mem.buffer),
    };
  } catch {
    kernels = null;
  }
  return kernels;
}

/** Grows the wasm memory to at least `bytes` (growing detaches the old buffer, so the view is renewed); false if it cannot. */
function reserve(k: Kernels, bytes: number): boolean {
  const have = k.mem.buffer.byteLength;
  if (have >= bytes) return true;
  try {
    k.mem.grow(Math.ceil((bytes - have) / 65536));
  } catch {
    return false; // past wasm's 4 GiB: the JS path encodes this chunk
  }
  k.bytes = new Uint8Array(k.mem.buffer);
  return true;
}

/** True when the SIMD kernels are available here. */
export function hasFp16Simd(): boolean {
  return load16() !== null;
}

/** Floats held in wasm memory by the last stageEncode. */
let staged = 0;

/**
 * Copies the first multiple of 8 floats of a chunk into wasm memory for encodeStaged, scanning
 * each block while it is hot; returns their largest finite |x| as float32 bits, or -1 (nothing
 * staged) without SIMD. The whole chunk stays staged because its scale depends on all of it.
 */
export function stageEncode(bits: Int32Array): number {
  const k = load16();
  staged = 0;
  const n = bits.length & ~7;
  if (!k || !reserve(k, n * 6)) return -1;
  const src = new Uint8Array(bits.buffer, bits.byteOffset, n * 4);
  let max = 0;
  for (let off = 0; off < n; off += BLOCK) {
    const m = Math.min(BLOCK, n - off);
    k.bytes.set(src.subarray(off * 4, (off + m) * 4), off * 4);
    max = Math.max(max, k.maxAbs(off * 4, (off + m) * 4));
  }
  staged = n;
  return max;
}

/** h[i] = fp16 bits of staged float i * 2^e; returns how many it wrote (0 when e is outside the kernels' range). */
export function encodeStaged(h: Uint16Array, e: number): number {
  const k = load16();
  const n = staged;
  if (!k || Math.abs(e) > SIMD_MAX_ABS_EXP) return 0;
  const [lo, hi, bias] = [(113 - e) << 23, (143 - e) << 23, ((e - 112) << 23) + 0xfff];
  k.encode(0, n * 4, n * 4, lo, hi, bias, 2 ** e);
  new Uint8Array(h.buffer, h.byteOffset, n * 2).set(k.bytes.subarray(n * 4, n * 6));
  return n;
}

/** h[i] = fp16 bits of bits[i] * 2^e for the first multiple of 8 floats; returns how many it did (0 without SIMD). */
export function encodeSimd(h: Uint16Array, bits: Int32Array, e: number): number {
  return stageEncode(bits) < 0 ? 0 : encodeStaged(h, e);
}

/** dst[i] (+)= fp16 halves[i] * 2^-e for the first multiple of 8 floats; returns how many it did (0 without SIMD). */
export function decodeSimd(dst: Float32Array, halves: Uint8Array, e: number, accumulate: boolean): number {
  const k = load16();
  if (!k || Math.abs(e) > SIMD_MAX_ABS_EXP) return 0;
  const n = dst.length & ~7;
  const out = new Uint8Array(dst.buffer, dst.byteOffset, n * 4);
  for (let off = 0; off < n; off += BLOCK) {
    const m = Math.min(BLOCK, n - off);
    k.bytes.set(halves.subarray(off * 2, (off + m) * 2), IN);
    if (accumulate) k.bytes.set(out.subarray(off * 4, (off + m) * 4), OUT);
    (accumulate ? k.decodeAdd : k.decode)(IN, OUT, OUT + m * 4, 2 ** -e);
    out.set(k.bytes.subarray(OUT, OUT + m * 4), off * 4);
  }
  return n;
}
