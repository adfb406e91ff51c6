/**
 * The summation at the heart of the reduce-scatter: dst[i] += src[i], where src is the raw bytes
 * of a received frame (any alignment). Two implementations with bitwise identical results (an
 * IEEE binary32 add, whether done by wasm f32x4.add or by a JS double add rounded on store, is
 * correctly rounded both ways): a wasm SIMD kernel fed through a small block of wasm memory, and a
 * plain JS loop. Measured (2-core machine, 1 MiB chunks, `npm run bench:allreduce -- --add`):
 * wasm ~8.5 GB/s, JS ~2.2 GB/s, so wasm is the default wherever WebAssembly SIMD validates.
 */

/** Floats per block staged through wasm memory: 64 KiB, two blocks stay in L2. */
const BLOCK_FLOATS = 16 * 1024;

/** Hand-assembled module: memory "mem" (2 pages) and add(dst, src, nbytes): f32x4 dst += src. */
function wasmAddModule(): Uint8Array<ArrayBuffer> {
  const leb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const section = (id: number, bytes: number[]): number[] => [id, ...leb(bytes.length), ...bytes];
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
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7f, 0]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0, 2]),
    ...section(7, [2, 3, 0x61, 0x64, 0x64, 0, 0, 3, 0x6d, 0x65, 0x6d, 2, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

interface WasmAdd {
  add: (dst: number, src: number, nbytes: number) => void;
  floats: Float32Array;
  bytes: Uint8Array;
}

let wasm: WasmAdd | null | undefined;

/** The wasm kernel, or null where this runtime has no WebAssembly SIMD. */
function loadWasm(): WasmAdd | null {
  if (wasm !== undefined) return wasm;
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(wasmAddModule()));
    const mem = inst.exports.mem as WebAssembly.Memory;
    wasm = { add: inst.exports.add as WasmAdd['add'], floats: new Float32Array(mem.buffer), bytes: new Uint8Array(mem.buffer) };
  } catch {
    wasm = null;
  }
  return wasm;
}

/** True when the wasm SIMD kernel is available. */
export function hasWasmSimd(): boolean {
  return loadWasm() !== null;
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
  const w = loadWasm();
  if (!w) throw new Error('ring: WebAssembly SIMD is not available in this runtime');
  const dstBytes = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
  const srcAt = BLOCK_FLOATS * 4;
  for (let off = 0; off < dst.length; off += BLOCK_FLOATS) {
    const n = Math.min(BLOCK_FLOATS, dst.length - off);
    const simdN = n & ~3;
    w.bytes.set(dstBytes.subarray(off * 4, (off + n) * 4), 0);
    w.bytes.set(src.subarray(off * 4, (off + n) * 4), srcAt);
    w.add(0, srcAt, simdN * 4);
    for (let i = simdN; i < n; i++) w.floats[i] += w.floats[BLOCK_FLOATS + i];
    dst.set(w.floats.subarray(0, n), off);
  }
}

/** dst[i] += src[i] in the fastest form available here. */
export function addInto(dst: Float32Array, src: Uint8Array): void {
  if (loadWasm()) addIntoWasm(dst, src);
  else addIntoJs(dst, src);
}

function checkLengths(dst: Float32Array, src: Uint8Array): void {
  if (src.byteLength !== dst.byteLength) {
    throw new Error(`ring: cannot add ${src.byteLength} bytes into a ${dst.byteLength}-byte chunk`);
  }
}
