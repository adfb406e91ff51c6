/** Schedules and discriminative LRs against the reference's fastai test vectors. */
import {
  combinedCos,
  combineScheds,
  evenMults,
  parseLrSpec,
  resolveLrs,
  schedCos,
  schedExp,
  schedLin,
  schedNo,
  schedPoly,
} from '../shared/schedule';

/** Relative closeness, as fastai's test_close on values printed to ~5 significant digits. */
function expectClose(actual: number[], expected: number[], rtol = 1e-4, atol = 0): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    const tol = atol + rtol * Math.abs(expected[i]);
    if (!(Math.abs(a - expected[i]) <= tol)) throw new Error(`index ${i}: got ${a}, expected ${expected[i]} (rtol ${rtol})`);
  });
}

const P5 = [0, 0.25, 0.5, 0.75, 1];

describe('shape functions at pos 0, .25, .5, .75, 1', () => {
  test('SchedCos(0, 2) is a half-cosine', () => {
    expectClose(P5.map(schedCos(0, 2)), [0, 0.29289, 1, 1.70711, 2], 0, 1e-5);
    expect(schedCos(0, 2)(0)).toBe(0);
  });
  test('SchedLin, SchedNo, SchedExp, SchedPoly', () => {
    expectClose(P5.map(schedLin(0, 2)), [0, 0.5, 1, 1.5, 2], 1e-12);
    expect(P5.map(schedNo(0.7, 2))).toEqual([0.7, 0.7, 0.7, 0.7, 0.7]);
    expectClose(P5.map(schedExp(1, 16)), [1, 2, 4, 8, 16], 1e-12);
    expectClose(P5.map(schedPoly(0, 2, 2)), [0, 0.125, 0.5, 1.125, 2], 1e-12);
    expect(() => schedExp(0, 1)).toThrow(/positive/);
  });
});

describe('combineScheds / combinedCos', () => {
  test('combined_cos(0.25, 0.5, 1, 0) at pos 0, .1, .25, .5, 1', () => {
    expectClose([0, 0.1, 0.25, 0.5, 1].map(combinedCos(0.25, 0.5, 1, 0)), [0.5, 0.67275, 1, 0.75, 0], 0, 1e-5);
  });
  test('segments are picked by their start and given local progress', () => {
    const f = combineScheds([0.3, 0.7], [schedLin(0, 1), schedLin(10, 20)]);
    expect(f(0)).toBe(0);
    expect(f(0.15)).toBeCloseTo(0.5, 12);
    expect(f(0.3)).toBeCloseTo(10, 12); // exactly at an edge: the later segment starts
    expect(f(0.65)).toBeCloseTo(15, 12);
    expect(f(1)).toBeCloseTo(20, 12);
  });
  test('pct 0 and 1 (zero-width segments) stay finite', () => {
    expect(combinedCos(0, 1, 2, 3)(0)).toBe(2);
    expect(combinedCos(1, 1, 2, 3)(1)).toBe(2);
    expect(combinedCos(1, 1, 2, 3)(0.5)).toBeCloseTo(1.5, 12);
  });
  test('bad pcts are refused', () => {
    expect(() => combineScheds([0.5, 0.6], [schedNo(1), schedNo(2)])).toThrow(/sum to 1/);
    expect(() => combineScheds([1], [schedNo(1), schedNo(2)])).toThrow(/one pct per schedule/);
    expect(() => combineScheds([1.5, -0.5], [schedNo(1), schedNo(2)])).toThrow(/>= 0/);
  });
});

describe('evenMults and slice handling (fastai set_hyper)', () => {
  test('even_mults is geometric from start to stop', () => {
    expectClose(evenMults(1e-6, 1e-4, 3), [1e-6, 1e-5, 1e-4], 1e-12);
    expectClose(evenMults(1e-5, 1e-3, 3), [1e-5, 1e-4, 1e-3], 1e-12);
    expectClose(evenMults(1, 8, 4), [1, 2, 4, 8], 1e-12);
    expect(evenMults(1e-6, 1e-4, 1)).toEqual([1e-4]);
  });
  test('slice(start, stop) -> even_mults over the groups', () => {
    expectClose(resolveLrs({ start: 1e-6, stop: 1e-4 }, 3), [1e-6, 1e-5, 1e-4], 1e-12);
    expect(resolveLrs({ start: 1e-6, stop: 1e-4 }, 1)).toEqual([1e-4]);
  });
  test('slice(stop) -> stop/10 for body groups, stop for the head', () => {
    expect(resolveLrs({ stop: 2e-3 }, 3)).toEqual([2e-4, 2e-4, 2e-3]);
    expect(resolveLrs({ stop: 2e-3 }, 2)).toEqual([2e-4, 2e-3]);
    expect(resolveLrs({ stop: 2e-3 }, 1)).toEqual([2e-3]);
    expect(resolveLrs({ start: 0, stop: 1e-3 }, 2)).toEqual([1e-4, 1e-3]); // start 0 is falsy in python too
  });
  test('scalars and 1-element lists broadcast; other lists must match the group count', () => {
    expect(resolveLrs(3e-3, 3)).toEqual([3e-3, 3e-3, 3e-3]);
    expect(resolveLrs([3e-3], 2)).toEqual([3e-3, 3e-3]);
    expect(resolveLrs([1, 2, 3], 3)).toEqual([1, 2, 3]);
    expect(() => resolveLrs([1, 2], 3)).toThrow(/2 learning rates but there are 3 parameter groups/);
    expect(() => resolveLrs(NaN, 3)).toThrow(/finite/);
    expect(() => resolveLrs(1e-3, 0)).toThrow(/at least 1 parameter group/);
  });
  test('parseLrSpec reads a number or START,STOP', () => {
    expect(parseLrSpec('1e-3')).toBe(1e-3);
    expect(parseLrSpec('1e-5, 1e-3')).toEqual({ start: 1e-5, stop: 1e-3 });
    expect(() => parseLrSpec('abc')).toThrow(/--lr-max: expected a number or START,STOP/);
    expect(() => parseLrSpec('1,2,3', '--lr')).toThrow(/--lr:/);
    expect(() => parseLrSpec('1,')).toThrow(/START,STOP/);
  });
});
