/** The reduce-scatter summation and scaling: wasm in place, wasm staged and JS loops agree bit for bit; ring buffers sum in place. */
import { addIntoJs, addIntoWasm, hasWasmSimd, scaleInPlace, summableFloats } from '../worker/reduce/add';
import { Ring } from '../worker/ring/ring';
import { Rng, mixSeed } from '../shared/rng';

function values(n: number, seed: number): Float32Array {
  const rng = new Rng(mixSeed(seed, n));
  return Float32Array.from({ length: n }, () => rng.normal() * Math.exp(rng.uniform(-20, 20)));
}

/** src's bytes at an odd byte offset, as a received frame may be. */
function unalignedBytes(src: Float32Array): Uint8Array {
  const b = Buffer.alloc(src.byteLength + 1).subarray(1);
  b.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  return b;
}

const bits = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

describe('dst += src kernels', () => {
  test('wasm SIMD is available here (Node 20)', () => {
    expect(hasWasmSimd()).toBe(true);
  });

  // Lengths around the 4-float SIMD width and the 16 Ki-float block.
  for (const n of [0, 1, 3, 4, 5, 16383, 16384, 16385, 40001]) {
    test(`${n} floats: in place (wasm memory, at an odd float offset), staged and JS give the same bits`, () => {
      const dst = values(n, 1);
      const src = values(n, 2);
      const js = dst.slice();
      addIntoJs(js, unalignedBytes(src));
      const staged = dst.slice();
      addIntoWasm(staged, unalignedBytes(src));
      const backing = summableFloats(n + 3);
      const inPlace = backing.subarray(1, n + 1);
      inPlace.set(dst);
      backing[0] = backing[n + 1] = backing[n + 2] = 7;
      addIntoWasm(inPlace, unalignedBytes(src));
      expect(bits(staged).equals(bits(js))).toBe(true);
      expect(bits(inPlace).equals(bits(js))).toBe(true);
      expect([backing[0], backing[n + 1], backing[n + 2]]).toEqual([7, 7, 7]); // neighbours untouched
      for (let i = 0; i < Math.min(n, 50); i++) expect(js[i]).toBe(Math.fround(dst[i] + src[i]));
    });
  }

  test('infinities and NaN propagate the same way in every kernel', () => {
    const dst = Float32Array.from([Infinity, -Infinity, NaN, 1, 3.4e38, -0, 0, 1e-45]);
    const src = Float32Array.from([1, Infinity, 1, NaN, 3.4e38, -0, -0, 1e-45]);
    const js = dst.slice();
    addIntoJs(js, unalignedBytes(src));
    const inPlace = summableFloats(dst.length);
    inPlace.set(dst);
    addIntoWasm(inPlace, unalignedBytes(src));
    expect(Array.from(inPlace)).toEqual(Array.from(js));
    expect(Object.is(inPlace[5], -0)).toBe(true);
  });

  test('a summable buffer starts zeroed and each one is separate memory', () => {
    const a = summableFloats(1000);
    const b = summableFloats(1000);
    expect(a.every((x) => x === 0)).toBe(true);
    expect(a.byteOffset).toBeGreaterThan(0); // after the kernel's scratch block: a wasm memory, not a plain array
    a.fill(1);
    expect(b.every((x) => x === 0)).toBe(true);
  });

  test('scaling in wasm memory rounds exactly as the JS loop does (float32 times double, to double, to float32)', () => {
    for (const n of [0, 1, 2, 3, 9999]) {
      const x = values(n, 5);
      if (n > 2) x.set([NaN, Infinity, 1e-45]);
      const js = x.slice();
      const backing = summableFloats(n + 2);
      const inPlace = backing.subarray(1, n + 1);
      inPlace.set(x);
      backing[0] = backing[n + 1] = 7;
      for (const s of [1 / 3, 0.25, 1 / 7, 3.0000001, 1e-30, 1e30]) {
        for (let i = 0; i < js.length; i++) js[i] *= s;
        scaleInPlace(inPlace, s);
      }
      expect(Array.from(inPlace)).toEqual(Array.from(js));
      expect([backing[0], backing[n + 1]]).toEqual([7, 7]);
      const plain = x.slice();
      scaleInPlace(plain, 1 / 3);
      plain.forEach((v, i) => expect(v).toBe(Math.fround(x[i] * (1 / 3))));
    }
  });

  test('mismatched lengths are refused', () => {
    expect(() => addIntoWasm(summableFloats(4), new Uint8Array(12))).toThrow(/cannot add 12 bytes into a 16-byte chunk/);
    expect(() => addIntoJs(new Float32Array(4), new Uint8Array(12))).toThrow(/cannot add 12 bytes/);
  });
});

describe('ring.buffer(): wasm memory summed in place', () => {
  test('bucket views of ring buffers give the same bits as plain arrays, and stay reusable right after return', async () => {
    const world = 3;
    const rings = await Promise.all(
      Array.from({ length: world }, (_, rank) => Ring.bind({ rank, world, chunkBytes: 4 * 1021, timeoutMs: 10000 })),
    );
    try {
      const endpoints = rings.map((r) => r.endpoint);
      await Promise.all(rings.map((r) => r.connect(endpoints)));
      const n = 30011;
      const wasmBufs = rings.map((r) => r.buffer(n));
      const plainBufs = rings.map(() => new Float32Array(n));
      const cuts = [0, 7, 20000, n];
      for (let round = 0; round < 2; round++) {
        for (let r = 0; r < world; r++) {
          const x = values(n, 10 * round + r);
          wasmBufs[r].set(x);
          plainBufs[r].set(x);
        }
        for (let k = 0; k + 1 < cuts.length; k++) {
          const [a, b] = [cuts[k], cuts[k + 1]];
          await Promise.all(rings.map((ring, r) => ring.allReduceSum(wasmBufs[r].subarray(a, b), 100 * round + k, 1 / 3)));
          await Promise.all(rings.map((ring, r) => ring.allReduceSum(plainBufs[r].subarray(a, b), 100 * round + k, 1 / 3)));
        }
        for (let r = 0; r < world; r++) {
          expect(bits(wasmBufs[r]).equals(bits(plainBufs[0]))).toBe(true);
          expect(bits(plainBufs[r]).equals(bits(plainBufs[0]))).toBe(true);
        }
        wasmBufs.forEach((b) => b.fill(NaN)); // nothing may still be in flight from them
      }
    } finally {
      await Promise.all(rings.map((r) => r.close()));
    }
  });
});
