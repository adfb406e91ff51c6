/** Gradient buckets: pure tiling of the flat buffer. */
import { bucketize } from '../worker/buckets';

describe('bucketize', () => {
  test('buckets tile the buffer in variable order and close once they reach the cap', () => {
    const sizes = [10, 5, 30, 1, 1, 8];
    const b = bucketize(sizes, 12);
    expect(b).toEqual([
      { first: 0, last: 1, start: 0, end: 15 },
      { first: 2, last: 2, start: 15, end: 45 }, // larger than the cap: alone
      { first: 3, last: 5, start: 45, end: 55 }, // the remainder
    ]);
  });

  test('a cap above the total gives one bucket; an empty list gives none; a bad cap is refused', () => {
    expect(bucketize([3, 4], 1e9)).toEqual([{ first: 0, last: 1, start: 0, end: 7 }]);
    expect(bucketize([], 5)).toEqual([]);
    expect(() => bucketize([1], 0)).toThrow(/at least one float/);
  });

  test('every variable lands in exactly one bucket for random sizes and caps', () => {
    for (let trial = 0; trial < 50; trial++) {
      const sizes = Array.from({ length: 1 + (trial % 17) }, (_, i) => 1 + ((i * 7919 + trial * 31) % 1000));
      const cap = 1 + ((trial * 104729) % 3000);
      const b = bucketize(sizes, cap);
      let at = 0;
      let next = 0;
      for (const x of b) {
        expect(x.first).toBe(next);
        expect(x.start).toBe(at);
        expect(x.end - x.start).toBe(sizes.slice(x.first, x.last + 1).reduce((a, s) => a + s, 0));
        if (x !== b[b.length - 1]) expect(x.end - x.start).toBeGreaterThanOrEqual(cap);
        at = x.end;
        next = x.last + 1;
      }
      expect(next).toBe(sizes.length);
    }
  });
});
