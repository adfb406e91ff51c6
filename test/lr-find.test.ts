/** lr_find's sweep, stop rule and suggestions against the reference and hand-computed curves. */
import {
  gradient,
  LrFindStopper,
  lrFindLr,
  lrFindSettings,
  minimum,
  slide,
  steep,
  suggestionWindow,
  suggestLrs,
  valley,
  pointAt,
} from '../shared/lr-find';

describe('sweep', () => {
  test('defaults 1e-7 .. 10 over 100 iterations; epochs = numIt // N + 1; numIt < 6 raised to 6', () => {
    const s = lrFindSettings({}, 92);
    expect(s).toEqual({ startLr: 1e-7, endLr: 10, numIt: 100, stopDiv: true, epochs: 2 });
    expect(lrFindSettings({ numIt: 3 }, 2)).toMatchObject({ numIt: 6, epochs: 4 });
    expect(lrFindLr(s, 0)).toBe(1e-7);
    expect(lrFindLr(s, 50)).toBeCloseTo(1e-3, 15);
    expect(lrFindLr(s, 99)).toBeCloseTo(8.318, 3); // the last recorded LR with defaults
    expect(() => lrFindSettings({ startLr: 1, endLr: 0.1 }, 10)).toThrow(/start LR < end LR/);
    expect(() => lrFindSettings({}, 0)).toThrow(/batches per epoch/);
  });
  test('stops when the smooth loss exceeds 4x the best, or after numIt batches', () => {
    const div = new LrFindStopper(lrFindSettings({}, 10));
    expect([1, 0.9, 0.8, 3.2, 3.3].map((l) => div.afterBatch(l))).toEqual([false, false, false, false, true]);
    expect(div.best).toBe(0.8);
    const n = new LrFindStopper(lrFindSettings({ numIt: 7, stopDiv: false }, 10));
    expect([1, 9, 99, 999, 1, 1, 1].map((l) => n.afterBatch(l))).toEqual([false, false, false, false, false, false, true]);
  });
});

describe('suggestions', () => {
  test('minimum: LR of the lowest loss / 10', () => {
    expect(minimum([1, 2, 3, 4], [3, 1, 2, 0.5])).toEqual({ lr: 0.4, point: [4, 0.5] });
  });
  test('steep: steepest fall per unit of log LR', () => {
    const e = Math.E;
    expect(steep([1, e, e * e, e * e * e], [5, 4, 1, 0.5])).toEqual({ lr: e, point: [e, 4] }); // slopes -1, -3, -0.5
  });
  test('valley: half-way into the longest decreasing run', () => {
    const lrs = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((x) => x * 1e-3);
    // run 5 -> 4 -> 3 -> 2 -> 1 -> 0.5 ends at index 6, lds 6, start 0: idx = 0 + 2 + 1
    expect(valley(lrs, [5, 5.1, 4, 3, 2, 1, 0.5, 2, 6]).lr).toBeCloseTo(4e-3, 15);
    // a run from index 0: start = -1 (fastai quirk), sections 5/3 -> idx 0
    expect(valley(lrs.slice(0, 7), [3, 2.5, 2, 1.5, 1, 1.2, 4]).lr).toBeCloseTo(1e-3, 15);
    // a two-point run from 0 gives idx -1: python then takes the LAST point
    expect(valley([1, 2, 3], [2, 1, 5]).lr).toBe(3);
  });
  test('gradient is numpy.gradient', () => {
    expect(gradient([1, 2, 4, 7])).toEqual([1, 1.5, 2.5, 3]);
  });
  test('slide: the window walks left until the slopes at its ends agree within thresh', () => {
    const lrs = Array.from({ length: 40 }, (_, i) => 1e-6 * Math.pow(10, i / 8));
    const losses = lrs.map((_, i) => (i < 20 ? 2 - 0.001 * i : 1.98 - 0.05 * (i - 20) + 0.004 * (i - 20) ** 2));
    // flat slope -0.001 on the left meets slope 0.008(r-20) - 0.05 at r = 26, l = 11; last candidate l = 12
    expect(slide(lrs, losses).lr).toBe(lrs[12]);
    const line = lrs.map((_, i) => 3 - 0.01 * i);
    expect(slide(lrs, line).lr).toBe(lrs[40 - 16]); // slopes already agree: the first window's left end
  });
  test('the window drops the first numIt//10 and last 5 points and stops at the first NaN', () => {
    const lrs = Array.from({ length: 30 }, (_, i) => i);
    const losses = lrs.map((i) => (i === 20 ? NaN : 30 - i));
    expect(suggestionWindow(lrs, losses, 30)).toEqual({ lrs: lrs.slice(3, 20), losses: losses.slice(3, 20) });
    expect(
      suggestionWindow(
        lrs,
        lrs.map((i) => 30 - i),
        30,
      ).lrs,
    ).toEqual(lrs.slice(3, 25));
    expect(() => suggestionWindow([1, 2, 3], [1, 2, 3], 100)).toThrow(/too few usable points/);
  });
  test('suggestLrs on a synthetic lr_find curve lands inside the swept range, valley before the blow-up', () => {
    const s = lrFindSettings({}, 50);
    const lrs = Array.from({ length: 100 }, (_, i) => lrFindLr(s, i));
    const losses = lrs.map((lr) => 2.3 - 1.5 / (1 + Math.exp(-(Math.log10(lr) + 3.5) * 2)) + (lr > 0.3 ? (lr - 0.3) * 3 : 0));
    const sug = suggestLrs(lrs, losses, 100);
    for (const k of ['valley', 'steep', 'minimum', 'slide'] as const) {
      expect(sug[k].lr).toBeGreaterThanOrEqual(1e-8);
      expect(sug[k].lr).toBeLessThanOrEqual(10);
    }
    expect(sug.valley.lr).toBeGreaterThan(1e-5);
    expect(sug.valley.lr).toBeLessThan(sug.minimum.lr * 10);
    // Every marker sits on the curve at the LR it names (minimum's too: a tenth of the lowest loss's LR).
    for (const k of ['valley', 'steep', 'minimum', 'slide'] as const) {
      expect(sug[k].point[0]).toBe(sug[k].lr);
      expect(sug[k].point).toEqual(pointAt(lrs.slice(10, 95), losses.slice(10, 95), sug[k].lr));
    }
    expect(Math.abs(Math.log10(sug.steep.lr) + 3.5)).toBeLessThanOrEqual(0.1); // the curve falls fastest at 10^-3.5
  });
});

describe('pointAt', () => {
  test('interpolates the loss linearly in log LR, and holds the end values outside the curve', () => {
    const lrs = [1, 10, 100];
    const losses = [3, 2, 1];
    expect(pointAt(lrs, losses, Math.sqrt(10))[1]).toBeCloseTo(2.5, 12); // half-way in log LR between 1 and 10
    expect(pointAt(lrs, losses, 10)).toEqual([10, 2]);
    expect(pointAt(lrs, losses, 0.5)).toEqual([0.5, 3]);
    expect(pointAt(lrs, losses, 1000)).toEqual([1000, 1]);
  });
});
