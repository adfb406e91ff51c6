/** fp16 wire format: the encoding, the per-frame scale, and rings that send fp16 over real ZeroMQ sockets. */
import {
  addFp16Into,
  copyFp16Into,
  decodeFp16Js,
  encodeFp16,
  encodeFp16Js,
  fp16Bits,
  fp16BitsScaled,
  fp16Value,
  roundToFp16Frame,
  scaleExponent,
} from '../worker/reduce/fp16';
import { decodeSimd, encodeSimd, hasFp16Simd, stageEncode } from '../worker/reduce/fp16-simd';
import { Ring } from '../worker/ring/ring';
import { chunksPerSegment, payloadBytesSent, ringSteps } from '../worker/ring/layout';
import { Rng, mixSeed } from '../shared/rng';

/** Nearest fp16 value to the double v, ties to even, computed in exact double arithmetic (the oracle). */
function refFp16(v: number): number {
  const a = Math.abs(v);
  if (!Number.isFinite(v) || a === 0) return v;
  let k = Math.floor(Math.log2(a));
  if (2 ** k > a) k--;
  if (2 ** (k + 1) <= a) k++;
  const ulp = 2 ** (Math.max(k, -14) - 10);
  const q = a / ulp;
  let r = Math.floor(q);
  if (q - r > 0.5 || (q - r === 0.5 && r % 2 === 1)) r++;
  const out = r * ulp;
  return Math.sign(v) * (out > 65504 ? Infinity : out);
}

/** The scale exponent a frame carries (its first 4 bytes). */
const frameExp = (frame: Buffer): number => frame.readInt32LE(0);

function decode(frame: Buffer, n: number): Float32Array {
  const out = new Float32Array(n);
  copyFp16Into(out, frame);
  return out;
}

/** Checks every decoded element against the oracle exactly, and against x within fp16's bound at the frame's scale. */
function expectFp16OfScaled(x: Float32Array): number {
  const frame = encodeFp16(x);
  const e = frameExp(frame);
  const back = decode(frame, x.length);
  for (let i = 0; i < x.length; i++) {
    const want = Math.fround(refFp16(x[i] * 2 ** e) / 2 ** e);
    if (!Object.is(back[i], want)) throw new Error(`element ${i} (${x[i]}, e ${e}): decoded ${back[i]}, oracle ${want}`);
    const bound = Math.max(Math.abs(x[i]) * 2 ** -11, 2 ** -25 / 2 ** e);
    if (Number.isFinite(x[i]) && !(Math.abs(back[i] - x[i]) <= bound))
      throw new Error(`element ${i} (${x[i]}, e ${e}): error ${Math.abs(back[i] - x[i])} > ${bound}`);
  }
  return e;
}

/** Floats of mixed sign and magnitude spread over e^16, times `magnitude`. */
function input(n: number, rank: number, seed: number, magnitude: number): Float32Array {
  const rng = new Rng(mixSeed(seed, rank, n));
  return Float32Array.from({ length: n }, () => rng.normal() * Math.exp(rng.uniform(-8, 8)) * magnitude);
}

describe('fp16 encoding', () => {
  test('rounds to nearest-even, keeps subnormals and specials', () => {
    expect(fp16Bits(1)).toBe(0x3c00);
    expect(fp16Bits(-2)).toBe(0xc000);
    expect(fp16Bits(65504)).toBe(0x7bff);
    expect(fp16Bits(65519)).toBe(0x7bff); // just below the halfway point to 65536
    expect(fp16Bits(65520)).toBe(0x7c00); // halfway: to even, which is infinity
    expect(fp16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway: to even (down)
    expect(fp16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway: to even (up)
    expect(fp16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above halfway: up
    expect(fp16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(fp16Bits(2 ** -25)).toBe(0x0000); // halfway to it: to even (zero)
    expect(fp16Bits(2 ** -25 + 2 ** -40)).toBe(0x0001);
    expect(fp16Bits(3 * 2 ** -25)).toBe(0x0002); // 1.5 ulp: to even (up)
    expect(fp16Bits(-5 * 2 ** -25)).toBe(0x8002); // 2.5 ulp: to even (down)
    expect(fp16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up out of the subnormals
    expect(fp16Bits(2 ** -14)).toBe(0x0400);
    expect(fp16Bits(Infinity)).toBe(0x7c00);
    expect(fp16Bits(-Infinity)).toBe(0xfc00);
    expect(fp16Bits(-0)).toBe(0x8000);
    expect(fp16Bits(0)).toBe(0x0000);
    expect(fp16Bits(NaN) & 0x7e00).toBe(0x7e00);
    expect(fp16Bits(3.4028234663852886e38)).toBe(0x7c00);
  });

  test('scaling is exact: a float32 subnormal scales into range, the scale never turns finite into infinite', () => {
    const bits = (x: number): number => new Int32Array(Float32Array.of(x).buffer)[0];
    expect(fp16BitsScaled(bits(2 ** -140), 140)).toBe(0x3c00);
    expect(fp16BitsScaled(bits(-3 * 2 ** -149), 149)).toBe(0xc200);
    expect(fp16BitsScaled(bits(2 ** 100), -100)).toBe(0x3c00);
    expect(fp16BitsScaled(bits(1), -30)).toBe(0x0000); // 2^-30 is below half the smallest subnormal
    expect(fp16BitsScaled(bits(1), 16)).toBe(0x7c00);
  });

  test('every fp16 value re-encodes to its own bits and every midpoint to the even neighbour, on all three encode paths', () => {
    const bits = (x: number): number => new Int32Array(Float32Array.of(x).buffer)[0];
    const [xs, wants]: number[][] = [[], []];
    const expectBits = (x: number, want: number): void => {
      const [frame, scalar] = [fp16Bits(x), fp16BitsScaled(bits(x), 0)];
      if (frame !== want || scalar !== want)
        throw new Error(`${x}: frame path 0x${frame.toString(16)}, scalar path 0x${scalar.toString(16)}, want 0x${want.toString(16)}`);
      xs.push(x);
      wants.push(want);
    };
    for (let h = 0; h < 0x10000; h++) {
      const v = fp16Value(h);
      if (Number.isNaN(v)) {
        expect((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0).toBe(true);
        continue;
      }
      expectBits(v, h);
      if ((h & 0x7fff) >= 0x7c00) continue;
      const next = (h & 0x7fff) === 0x7bff ? Math.sign(v) * 65536 : fp16Value(h + 1);
      const mid = (v + next) / 2; // exact in float32: 12 significant bits
      expectBits(mid, h & 1 ? h + 1 : h);
    }
    const simd = new Uint16Array(xs.length);
    expect(encodeSimd(simd, new Int32Array(Float32Array.from(xs).buffer), 0)).toBe(xs.length & ~7);
    const firstBad = simd.subarray(0, xs.length & ~7).findIndex((h, i) => h !== wants[i]);
    if (firstBad >= 0) throw new Error(`SIMD: ${xs[firstBad]} -> 0x${simd[firstBad].toString(16)}, want 0x${wants[firstBad].toString(16)}`);
  });
});

describe('fp16 SIMD kernels', () => {
  const sameFloats = (a: Float32Array, b: Float32Array): boolean =>
    a.every((v, i) => Object.is(v, b[i]) || (Number.isNaN(v) && Number.isNaN(b[i])));

  test('encode matches the JS encoder bit for bit on every kind of float32, at every scale they take', () => {
    expect(hasFp16Simd()).toBe(true);
    const rng = new Rng(mixSeed(16, 2));
    const n = 20003;
    for (const e of [0, 1, -1, 14, 23, -30, 60, 112, -112]) {
      const bits = Int32Array.from({ length: n }, (_, i) => {
        const r = (rng.next() * 2 ** 32) | 0;
        // every other value lands near the fp16 range after scaling (subnormals, normals, overflow)
        return i % 2 ? r : (r & 0x807fffff) | (((112 - e + rng.int(45) - 12) & 0xff) << 23);
      });
      bits.set([0x7f800000, -0x800000, 0x7fc00001, 0, -0x80000000, 1, 0x7f7fffff], 100);
      const [simd, js] = [new Uint16Array(n), new Uint16Array(n)];
      expect(encodeSimd(simd, bits, e)).toBe(n - 3);
      encodeFp16Js(js, bits, e);
      const firstBad = simd.subarray(0, n - 3).findIndex((h, i) => h !== js[i]);
      if (firstBad >= 0)
        throw new Error(
          `e ${e}: bits 0x${(bits[firstBad] >>> 0).toString(16)} -> simd 0x${simd[firstBad].toString(16)}, js 0x${js[firstBad].toString(16)}`,
        );
    }
    expect(encodeSimd(new Uint16Array(8), new Int32Array(8), 113)).toBe(0); // 2^e not a float32 normal: JS path
  });

  test('the SIMD scan finds the largest finite magnitude the JS scan finds; frames carry the JS scale', () => {
    const rng = new Rng(mixSeed(16, 4));
    const jsMax = (bits: Int32Array): number => bits.reduce((m, b) => ((b & 0x7fffffff) < 0x7f800000 ? Math.max(m, b & 0x7fffffff) : m), 0);
    const cases: [string, Float32Array][] = [
      [
        'wide magnitudes, 150003 floats (more than the wasm memory starts with)',
        Float32Array.from({ length: 150003 }, () => rng.normal() * 2 ** rng.uniform(-140, 120)),
      ],
      ['largest in the tail', Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, -1e6)],
      ['only inf and NaN in the staged part', Float32Array.of(Infinity, NaN, -Infinity, NaN, Infinity, Infinity, NaN, -NaN, 3e-30)],
      ['float32 subnormals only', Float32Array.from({ length: 77 }, () => rng.normal() * 1e-42)],
      ['short of one SIMD step', Float32Array.of(-2, 1e-3, 7)],
    ];
    for (const [what, x] of cases) {
      const bits = new Int32Array(x.buffer);
      expect([what, stageEncode(bits)]).toEqual([what, jsMax(bits.subarray(0, x.length & ~7))]);
      expect([what, encodeFp16(x).readInt32LE(0)]).toEqual([what, scaleExponent(bits)]);
      expectFp16OfScaled(x);
    }
  });

  test('decode and decode-add match the JS decoder on every fp16 value, at every scale they take', () => {
    const all = new Uint8Array(Uint16Array.from({ length: 0x10000 }, (_, h) => h).buffer);
    const rng = new Rng(mixSeed(16, 3));
    for (const e of [0, 5, -5, 14, 40, -40, 112, -112]) {
      for (const accumulate of [false, true]) {
        const simd = Float32Array.from({ length: 0x10000 }, () => rng.normal());
        const js = simd.slice();
        expect(decodeSimd(simd, all, e, accumulate)).toBe(0x10000);
        decodeFp16Js(js, new Uint16Array(all.buffer), e, accumulate);
        expect(sameFloats(simd, js)).toBe(true);
      }
    }
  });
});

describe('fp16 frame scale', () => {
  const rng = new Rng(mixSeed(16, 1));
  const chunk = (n: number, f: () => number): Float32Array => Float32Array.from({ length: n }, f);

  test.each([
    ['max 1e6', 1e6],
    ['max 1e-6', 1e-6],
    ['max 1e-20', 1e-20],
    ['max 3e38 (float32 max region)', 3e38],
    ['max 1e-40 (float32 subnormals)', 1e-40],
  ])('%s: the largest magnitude lands in [2^14, 2^15), every element within fp16 of its scaled value', (_, top) => {
    const x = chunk(999, () => rng.normal() * top * 0.3);
    x[17] = -top;
    const e = expectFp16OfScaled(x);
    const scaledMax = Math.abs(Math.fround(top)) * 2 ** e;
    expect(scaledMax).toBeGreaterThanOrEqual(2 ** 14);
    expect(scaledMax).toBeLessThan(2 ** 15);
  });

  test("mixed 1e4 and 1e-4: the small values keep fp16 precision at the large ones' scale", () => {
    const x = chunk(1000, () => (rng.uniform(0, 1) < 0.5 ? 1e4 : 1e-4) * (1 + rng.uniform(0, 1)) * (rng.uniform(0, 1) < 0.5 ? -1 : 1));
    expect(expectFp16OfScaled(x)).toBe(0); // max < 2^15 already
    const y = chunk(1000, () => (rng.uniform(0, 1) < 0.5 ? 1e4 : 1e-4) * rng.uniform(0.5, 1));
    expect(expectFp16OfScaled(y)).toBe(1); // max in [2^13, 2^14)
    const back = decode(encodeFp16(y), y.length);
    y.forEach((v, i) => expect(Math.abs(back[i] - v)).toBeLessThanOrEqual(v * 2 ** -11)); // relative: no subnormal loss
  });

  test('all-zero chunk: scale 1, signs of zero kept; empty chunk: just the exponent', () => {
    const z = Float32Array.of(0, -0, 0);
    const frame = encodeFp16(z);
    expect(frameExp(frame)).toBe(0);
    expect(Array.from(decode(frame, 3)).map((v) => Object.is(v, -0))).toEqual([false, true, false]);
    expect(encodeFp16(new Float32Array(0)).byteLength).toBe(4);
  });

  test('inf and NaN survive and do not set the scale', () => {
    const x = Float32Array.of(Infinity, -Infinity, NaN, 1e-3, -2e-3);
    expect(scaleExponent(new Int32Array(x.buffer))).toBe(14 + 9);
    const back = decode(encodeFp16(x), x.length);
    expect(back[0]).toBe(Infinity);
    expect(back[1]).toBe(-Infinity);
    expect(back[2]).toBeNaN();
    expectFp16OfScaled(x.subarray(3));
    expect(frameExp(encodeFp16(Float32Array.of(Infinity, NaN)))).toBe(0);
  });

  test('add decodes then adds in fp32 (unaligned frames too); the owner keeps what the others decode', () => {
    const x = input(1001, 0, 3, 1e-5);
    const frame = encodeFp16(x);
    const back = decode(frame, x.length);
    const acc = new Float32Array(x.length).fill(1e-3);
    const unaligned = Buffer.alloc(frame.byteLength + 1).subarray(1);
    frame.copy(unaligned);
    addFp16Into(acc, unaligned);
    acc.forEach((v, i) => expect(v).toBe(Math.fround(Math.fround(1e-3) + back[i])));
    const owned = x.slice();
    const sent = roundToFp16Frame(owned);
    expect(sent.equals(frame)).toBe(true);
    expect(Buffer.from(owned.buffer).equals(Buffer.from(back.buffer))).toBe(true);
  });

  test('frames no fp16 sender writes are refused', () => {
    const frame = encodeFp16(Float32Array.of(1, 2, 3));
    expect(() => copyFp16Into(new Float32Array(4), frame)).toThrow(/10-byte fp16 frame for a 4-float chunk \(expected 12\)/);
    frame.writeInt32LE(500, 0);
    expect(() => addFp16Into(new Float32Array(3), frame)).toThrow(/scale exponent 500, outside \[-113, 163\]/);
  });
});

describe('ring with fp16 on the wire', () => {
  const magnitudes = [1e-9, 1, 1e9]; // outside fp16's range on both sides: only the scale makes these work
  for (const world of [1, 2, 3, 5]) {
    test(`world ${world}: identical bits on every rank and every run, within fp16 rounding of the float64 sum`, async () => {
      const rings = await Promise.all(
        Array.from({ length: world }, (_, rank) => Ring.bind({ rank, world, wire: 'fp16', chunkBytes: 4000 })),
      );
      try {
        await Promise.all(rings.map((r) => r.connect(rings.map((x) => x.endpoint))));
        for (const [k, n] of [1, 2, 4, 7, 1001, 30011].entries()) {
          const ins = rings.map((_, r) => input(n, r, 7, magnitudes[k % 3]));
          const run = async (tag: number): Promise<Float32Array[]> => {
            const outs = ins.map((x) => x.slice());
            await Promise.all(rings.map((ring, r) => ring.allReduceSum(outs[r], tag)));
            return outs;
          };
          const before = rings.map((r) => r.bytesSent);
          const outs = await run(2 * k);
          for (let r = 1; r < world; r++) expect(Buffer.from(outs[r].buffer).equals(Buffer.from(outs[0].buffer))).toBe(true);
          const frames = world === 1 ? 0 : ringSteps(world) * chunksPerSegment(n, world, 1000);
          rings.forEach((ring, r) => expect(ring.bytesSent - before[r]).toBe(payloadBytesSent(n, world, r, 1000, 2) + 4 * frames));
          const again = await run(2 * k + 1);
          expect(Buffer.from(again[0].buffer).equals(Buffer.from(outs[0].buffer))).toBe(true);

          const mags = Array.from({ length: n }, (_, i) => ins.reduce((s, x) => s + Math.abs(x[i]), 0));
          const top = Math.max(...mags);
          for (let i = 0; i < n; i++) {
            const ref = ins.reduce((s, x) => s + x[i], 0);
            const bound = world * ((2 ** -11 + 2 ** -23) * mags[i] + 2 ** -38 * top);
            if (!(Math.abs(outs[0][i] - ref) <= bound)) throw new Error(`n ${n} element ${i}: ${outs[0][i]} vs ${ref} (bound ${bound})`);
          }
        }
      } finally {
        await Promise.all(rings.map((r) => r.close()));
      }
    });
  }

  test('inf and NaN from one rank reach every rank as inf and NaN; the rest of the chunk is unharmed', async () => {
    const world = 3;
    const rings = await Promise.all(Array.from({ length: world }, (_, rank) => Ring.bind({ rank, world, wire: 'fp16' })));
    try {
      await Promise.all(rings.map((r) => r.connect(rings.map((x) => x.endpoint))));
      const ins = rings.map((_, r) => input(11, r, 9, 1e-3));
      ins[1][2] = Infinity;
      ins[2][5] = NaN;
      const outs = ins.map((x) => x.slice());
      await Promise.all(rings.map((ring, r) => ring.allReduceSum(outs[r], 1)));
      for (const out of outs) {
        expect(out[2]).toBe(Infinity);
        expect(out[5]).toBeNaN();
        for (const i of [0, 1, 3, 4, 6, 7, 8, 9, 10]) {
          const ref = ins.reduce((s, x) => s + x[i], 0);
          expect(Math.abs(out[i] - ref)).toBeLessThanOrEqual(world * 2 ** -10 * ins.reduce((s, x) => s + Math.abs(x[i]), 0));
        }
      }
    } finally {
      await Promise.all(rings.map((r) => r.close()));
    }
  });

  test.each([
    ['f32', 0],
    ['bf16', 1],
  ] as const)('an fp16 rank and an %s rank are refused at connect, naming the peer', async (other, code) => {
    const a = await Ring.bind({ rank: 0, world: 2, wire: 'fp16', timeoutMs: 2000 });
    const b = await Ring.bind({ rank: 1, world: 2, wire: other, timeoutMs: 2000 });
    try {
      const eps = [a.endpoint, b.endpoint];
      const [ra, rb] = await Promise.allSettled([a.connect(eps), b.connect(eps)]);
      expect(String((ra as PromiseRejectedResult).reason)).toMatch(
        new RegExp(`rank 1 .* sent wire dtype \\(0 f32, 1 bf16, 2 fp16\\) ${code}, expected 2`),
      );
      expect(String((rb as PromiseRejectedResult).reason)).toMatch(
        new RegExp(`rank 0 .* sent wire dtype \\(0 f32, 1 bf16, 2 fp16\\) 2, expected ${code}`),
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('an unknown wire dtype is refused at bind, naming the accepted ones', async () => {
    await expect(Ring.bind({ rank: 0, world: 2, wire: 'fp8' as never })).rejects.toThrow(/wire must be one of f32, bf16, fp16, got fp8/);
  });
});
