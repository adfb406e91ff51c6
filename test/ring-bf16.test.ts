/** bf16 wire format: the encoding itself, and rings that send bf16 over real ZeroMQ sockets. */
import { addBf16Into, bf16Bits, copyBf16Into, encodeBf16, roundToBf16 } from '../worker/reduce/bf16';
import { Ring } from '../worker/ring/ring';
import { payloadBytesSent } from '../worker/ring/layout';
import { Rng, mixSeed } from '../shared/rng';

function input(n: number, rank: number, seed: number): Float32Array {
  const rng = new Rng(mixSeed(seed, rank, n));
  return Float32Array.from({ length: n }, () => rng.normal() * Math.exp(rng.uniform(-8, 8)));
}

describe('bf16 encoding', () => {
  test('rounds to nearest-even and keeps specials', () => {
    expect(bf16Bits(1)).toBe(0x3f80);
    expect(bf16Bits(-2)).toBe(0xc000);
    expect(bf16Bits(1 + 2 ** -8)).toBe(0x3f80); // halfway: to even (down)
    expect(bf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // halfway: to even (up)
    expect(bf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81); // above halfway: up
    expect(bf16Bits(Infinity)).toBe(0x7f80);
    expect(bf16Bits(-0)).toBe(0x8000);
    expect(bf16Bits(3.4028234663852886e38)).toBe(0x7f80); // max float rounds to infinity, as RNE must
    expect(bf16Bits(NaN) & 0x7fc0).toBe(0x7fc0);
  });

  test('encode, copy back and roundToBf16 agree; add adds the decoded values', () => {
    const x = input(1001, 0, 1);
    const wire = encodeBf16(x);
    expect(wire.byteLength).toBe(2002);
    const back = new Float32Array(x.length);
    copyBf16Into(back, wire);
    const rounded = x.slice();
    roundToBf16(rounded);
    expect(Buffer.from(back.buffer).equals(Buffer.from(rounded.buffer))).toBe(true);
    for (let i = 0; i < x.length; i++) expect(Math.abs(back[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -8);
    const acc = new Float32Array(x.length).fill(1);
    const unaligned = Buffer.alloc(wire.byteLength + 1).subarray(1);
    wire.copy(unaligned);
    addBf16Into(acc, unaligned);
    acc.forEach((v, i) => expect(v).toBe(Math.fround(1 + back[i])));
  });
});

describe('ring with bf16 on the wire', () => {
  for (const world of [2, 3, 5]) {
    test(`world ${world}: identical bits on every rank, within bf16 rounding of the float64 sum, half the bytes`, async () => {
      const rings = await Promise.all(
        Array.from({ length: world }, (_, rank) => Ring.bind({ rank, world, wire: 'bf16', chunkBytes: 4000 })),
      );
      try {
        await Promise.all(rings.map((r) => r.connect(rings.map((x) => x.endpoint))));
        for (const n of [1, 4, 7, 30011]) {
          const ins = rings.map((_, r) => input(n, r, 5));
          const outs = ins.map((x) => x.slice());
          const before = rings.map((r) => r.bytesSent);
          await Promise.all(rings.map((ring, r) => ring.allReduceSum(outs[r], n)));
          for (let r = 1; r < world; r++) expect(Buffer.from(outs[r].buffer).equals(Buffer.from(outs[0].buffer))).toBe(true);
          for (let i = 0; i < n; i++) {
            let ref = 0;
            let mag = 0;
            for (const x of ins) ((ref += x[i]), (mag += Math.abs(x[i])));
            if (!(Math.abs(outs[0][i] - ref) <= world * 2 ** -8 * mag)) throw new Error(`element ${i}: ${outs[0][i]} vs ${ref}`);
          }
          rings.forEach((ring, r) => expect(ring.bytesSent - before[r]).toBe(payloadBytesSent(n, world, r, 1000, 2)));
        }
      } finally {
        await Promise.all(rings.map((r) => r.close()));
      }
    });
  }

  test('ranks that disagree on the wire dtype are refused at connect, naming the peer', async () => {
    const a = await Ring.bind({ rank: 0, world: 2, wire: 'bf16', timeoutMs: 2000 });
    const b = await Ring.bind({ rank: 1, world: 2, timeoutMs: 2000 });
    try {
      const eps = [a.endpoint, b.endpoint];
      const [ra, rb] = await Promise.allSettled([a.connect(eps), b.connect(eps)]);
      expect(String((ra as PromiseRejectedResult).reason)).toMatch(/rank 1 .* sent wire dtype \(0 f32, 1 bf16, 2 fp16\) 0, expected 1/);
      expect(String((rb as PromiseRejectedResult).reason)).toMatch(/rank 0 .* sent wire dtype \(0 f32, 1 bf16, 2 fp16\) 1, expected 0/);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
