/**
 * The summation at the heart of the reduce-scatter: dst[i] += src[i], where src is the raw bytes
 * of a received frame (any alignment). Two implementations with bitwise identical results (an
 * IEEE binary32 add, whether done by wasm f32x4.add or by a JS double add rounded on store, is
 * correctly rounded both ways): a wasm SIMD kernel and a plain JS loop.
 *
 * Wasm sees only its own memory. A buffer from `summableFloats` lives in one (after a 64 KiB
 * scratch block), so its sums are in place: each 64 KiB block of src is copied into the scratch
 * and added straight into dst. Any other dst is staged through a small memory: copy both operands
 * in, add, copy the sum out (three copies instead of one). Measured (2-core machine, GB/s of src):
 * 1 MiB chunk in cache, `npm run bench:allreduce -- --add`: staged ~8.5, JS loop ~2.2; 512 KiB
 * chunks across a 100 MiB buffer (dst from memory, as in a ring step): in place 8.3-8.9, staged
 * 4.5-6.0. So wasm is the default wherever WebAssembly SIMD validates.
 */
import { leb, section, str } from './wasm-asm';

/** Floats per block staged through wasm memory: 64 KiB, two blocks stay in L2. */
const BLOCK_FLOATS = 16 * 1024;
const BLOCK_BYTES = BLOCK_FLOATS * 4;
const PAGE_BYTES = 65536;
/** wasm32 addresses 4 GiB; bigger buffers stay plain arrays (and take the staged path). */
const MAX_PAGES = 65536;

/**
 * Hand-assembled module: imports memory env.mem; add(dst, src, nbytes): f32x4 dst += src;
 * scale(ptr, nbytes, s): two floats at a time, x = f32(f64(x) * s), JS's own rounding steps.
 */
function wasmAddModule(): Uint8Array<ArrayBuffer> {
  // prettier-ignore
  const body = [
    0x00, // no locals; params: 0 dst, 1 src, 2 nbytes (becomes end)
    0x20, 2, 0x20, 0, 0x6a, 0x21, 2, // end = dst + nbytes
    0x02, 0x40, 0x20, 0, 0x20, 2, 0x4f, 0x0d, 0, // block; if dst >= end break
    0x03, 0x40, // loop
    0x20, 0, 0x20, 0, 0xfd, 0x00, 0x04, 0x00, 0x20, 1, 0xfd, 0x00, 0x04, 0x00, // dst; load dst; load src
    0xfd, 0xe4, 0x01, 0xfd, 0x0b, 0x04, 0x00, // f32x4.add; v128.store
    0x20, 0, 0x41, 0x10, 0x6a, 0x21, 0, 0x20, 1, 0x41, 0x10, 0x6a, 0x21, 1, // dst += 16; src += 16
    0x20, 0, 0x20, 2, 0x49, 0x0d, 0, // if dst < end continue
    0x0b, 0x0b, 0x0b,
  ];
  // prettier-ignore
  const scaleBody = [
    0x01, 0x01, 0x7b, // one v128 local (3); params: 0 ptr, 1 nbytes (becomes end), 2 s (f64)
    0x20, 2, 0xfd, 0x14, 0x21, 3, // local 3 = f64x2.splat(s)
    0x20, 1, 0x20, 0, 0x6a, 0x21, 1, // end = ptr + nbytes
    0x02, 0x40, 0x20, 0, 0x20, 1, 0x4f, 0x0d, 0, // block; if ptr >= end break
    0x03, 0x40, // loop
    0x20, 0, 0x20, 0, 0xfd, 0x5d, 0x03, 0x00, // ptr; v128.load64_zero ptr (two floats)
    0xfd, 0x5f, 0x20, 3, 0xfd, 0xf2, 0x01, 0xfd, 0x5e, // f64x2.promote_low_f32x4; f64x2.mul; f32x4.demote_f64x2_zero
    0xfd, 0x5b, 0x03, 0x00, 0x00, // v128.store64_lane 0
    0x20, 0, 0x41, 0x08, 0x6a, 0x21, 0, // ptr += 8
    0x20, 0, 0x20, 1, 0x49, 0x0d, 0, // if ptr < end continue
    0x0b, 0x0b, 0x0b,
  ];
  // prettier-ignore
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [2, 0x60, 3, 0x7f, 0x7f, 0x7f, 0, 0x60, 3, 0x7f, 0x7f, 0x7c, 0]),
    ...section(2, [1, ...str('env'), ...str('mem'), 0x02, 0x00, 0x00]), // memory, min 0 pages
    ...section(3, [2, 0, 1]),
    ...section(7, [2, ...str('add'), 0, 0, ...str('scale'), 0, 1]),
    ...section(10, [2, ...leb(body.length), ...body, ...leb(scaleBody.length), ...scaleBody]),
  ]);
}

/** One instance of the kernel bound to one memory; the first BLOCK_BYTES are its scratch. */
interface WasmAdd {
  add: (dst: number, src: number, nbytes: number) => void;
  scale: (ptr: number, nbytes: number, s: number) => void;
  floats: Float32Array;
  bytes: Uint8Array;
}

let compiled: WebAssembly.Module | null | undefined;
let staged: WasmAdd | null = null;
/** Memories handed out by summableFloats, by their ArrayBuffer (wasm memories never grow here, so it stays attached). */
const inPlace = new WeakMap<ArrayBuffer, WasmAdd>();

/** The compiled kernel, or null where this runtime has no WebAssembly SIMD. */
function wasmModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(wasmAddModule());
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

function instantiate(mod: WebAssembly.Module, pages: number): WasmAdd {
  const mem = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const inst = new WebAssembly.Instance(mod, { env: { mem } });
  return {
    add: inst.exports.add as WasmAdd['add'],
    scale: inst.exports.scale as WasmAdd['scale'],
    floats: new Float32Array(mem.buffer),
    bytes: new Uint8Array(mem.buffer),
  };
}

/** The kernel on its own two-block memory (for any dst), or null without WebAssembly SIMD. */
function stagedKernel(): WasmAdd | null {
  const mod = wasmModule();
  if (mod && !staged) staged = instantiate(mod, (2 * BLOCK_BYTES) / PAGE_BYTES);
  return staged;
}

/** True when the wasm SIMD kernel is available. */
export function hasWasmSimd(): boolean {
  return wasmModule() !== null;
}

/**
 * A zeroed array of `floats` that `addInto` sums in place (it lives in wasm memory), or a plain
 * Float32Array where wasm SIMD is missing or the size exceeds wasm's 4 GiB.
 */
export function summableFloats(floats: number): Float32Array {
  const mod = wasmModule();
  const pages = Math.ceil((BLOCK_BYTES + floats * 4) / PAGE_BYTES);
  if (!mod || pages > MAX_PAGES) return new Float32Array(floats);
  let w: WasmAdd;
  try {
    w = instantiate(mod, pages);
  } catch {
    return new Float32Array(floats); // no address space for another memory: the staged path still works
  }
  inPlace.set(w.bytes.buffer as ArrayBuffer, w);
  return new Float32Array(w.bytes.buffer, BLOCK_BYTES, floats);
}

/** View of src's bytes as float32 when aligned, else an aligned copy. */
function floatsOf(src: Uint8Array): Float32Array {
  if (src.byteOffset % 4 === 0) return new Float32Array(src.buffer, src.byteOffset, src.byteLength / 4);
  return new Float32Array(Uint8Array.prototype.slice.call(src).buffer);
}

/** dst[i] += src[i] with a plain JS loop (the reference and the fallback). */
export function addIntoJs(dst: Float32Array, src: Uint8Array): void {
  checkLengths(dst, src);
  const s = floatsOf(src);
  for (let i = 0; i < dst.length; i++) dst[i] += s[i];
}

/** dst[i] += src[i] via wasm SIMD, 64 KiB blocks at a time; throws if wasm SIMD is unavailable. */
export function addIntoWasm(dst: Float32Array, src: Uint8Array): void {
  checkLengths(dst, src);
  const own = inPlace.get(dst.buffer as ArrayBuffer);
  if (own) return addInPlace(own, dst, src);
  const w = stagedKernel();
  if (!w) throw new Error('ring: WebAssembly SIMD is not available in this runtime');
  const dstBytes = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
  for (let off = 0; off < dst.length; off += BLOCK_FLOATS) {
    const n = Math.min(BLOCK_FLOATS, dst.length - off);
    const simdN = n & ~3;
    w.bytes.set(dstBytes.subarray(off * 4, (off + n) * 4), BLOCK_BYTES);
    w.bytes.set(src.subarray(off * 4, (off + n) * 4), 0);
    w.add(BLOCK_BYTES, 0, simdN * 4);
    for (let i = simdN; i < n; i++) w.floats[BLOCK_FLOATS + i] += w.floats[i];
    dst.set(w.floats.subarray(BLOCK_FLOATS, BLOCK_FLOATS + n), off);
  }
}

/** dst lives in w's memory: only src is copied in (block by block, into the scratch). */
function addInPlace(w: WasmAdd, dst: Float32Array, src: Uint8Array): void {
  for (let off = 0; off < dst.length; off += BLOCK_FLOATS) {
    const n = Math.min(BLOCK_FLOATS, dst.length - off);
    const simdN = n & ~3;
    w.bytes.set(src.subarray(off * 4, (off + n) * 4), 0);
    w.add(dst.byteOffset + off * 4, 0, simdN * 4);
    for (let i = simdN; i < n; i++) dst[off + i] += w.floats[i];
  }
}

/**
 * x[i] *= s, rounded as JS rounds it (the float32 times the double s, rounded to double, then to
 * float32): in wasm when x lives in a summable buffer, else a JS loop. Same bits either way.
 */
export function scaleInPlace(x: Float32Array, s: number): void {
  const own = inPlace.get(x.buffer as ArrayBuffer);
  const pairs = own ? x.length & ~1 : 0;
  if (own) own.scale(x.byteOffset, pairs * 4, s);
  for (let i = pairs; i < x.length; i++) x[i] *= s;
}

/** dst[i] += src[i] in the fastest form available here. */
export function addInto(dst: Float32Array, src: Uint8Array): void {
  if (hasWasmSimd()) addIntoWasm(dst, src);
  else addIntoJs(dst, src);
}

function checkLengths(dst: Float32Array, src: Uint8Array): void {
  if (src.byteLength !== dst.byteLength) {
    throw new Error(`ring: cannot add ${src.byteLength} bytes into a ${dst.byteLength}-byte chunk`);
  }
}
