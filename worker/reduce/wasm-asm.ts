/**
 * The byte encodings a hand-assembled WebAssembly module needs (LEB128 numbers, names,
 * sections), shared by the summation (reduce-add.ts) and fp16 (reduce-fp16-simd.ts) kernels.
 */

/** Unsigned LEB128. */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}

/** A name: its length, then its bytes. */
export function str(s: string): number[] {
  return [s.length, ...Buffer.from(s, 'latin1')];
}

/** A module section: id, byte length, contents. */
export function section(id: number, bytes: number[]): number[] {
  return [id, ...leb(bytes.length), ...bytes];
}
