/** fine_tune / fit_one_cycle plans and per-iteration hyper-parameters against the reference. */
import { fineTunePlan, fitOneCyclePlan, hypersAt, Phase, phaseIters } from '../shared/plan';

function expectClose(actual: number[], expected: number[], rtol: number): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]) <= rtol * Math.abs(expected[i]))) throw new Error(`index ${i}: got ${a}, expected ${expected[i]}`);
  });
}

/** Each expected value matches to within half a unit of its last printed digit. */
function expectPrinted(actual: number[], printed: string[]): void {
  expect(actual).toHaveLength(printed.length);
  actual.forEach((a, i) => {
    const [mant, exp = '0'] = printed[i].split('e');
    const decimals = (mant.split('.')[1] ?? '').length;
    const tol = 0.5 * Math.pow(10, Number(exp) - decimals);
    if (!(Math.abs(a - Number(printed[i])) <= tol)) throw new Error(`index ${i}: got ${a}, expected ${printed[i]} (+-${tol})`);
  });
}

function run(phase: Phase, n: number) {
  return Array.from({ length: phaseIters(phase, n) }, (_, i) => hypersAt(phase, i, n));
}

describe('fit_one_cycle', () => {
  test('the reference 1cycle LR list: 2 epochs x 10 batches, lr_max 1e-3', () => {
    const [phase] = fitOneCyclePlan({ epochs: 2, groups: 1, lrMax: 1e-3 });
    const lrs = run(phase, 10).map((h) => h.lr[0]);
    const printed =
      '4e-5 1.3167e-4 3.7167e-4 6.6833e-4 9.0833e-4 1e-3 9.8907e-4 9.5677e-4 9.0451e-4 8.3457e-4 ' +
      '7.5e-4 6.5451e-4 5.5227e-4 4.4774e-4 3.455e-4 2.5001e-4 1.6544e-4 9.55e-5 4.324e-5 1.094e-5';
    expectPrinted(lrs, printed.split(' '));
    expect(lrs[0]).toBeCloseTo(1e-3 / 25, 15);
    expect(lrs[5]).toBeCloseTo(1e-3, 15);
  });
  test('fastai defaults: lr 1e-3, div 25, div_final 1e5, pct 0.25, moms .95/.85/.95, nothing frozen', () => {
    expect(fitOneCyclePlan({ epochs: 3, groups: 2 })).toEqual([
      {
        name: 'train',
        epochs: 3,
        freezeTo: 0,
        lrMax: [1e-3, 1e-3],
        div: 25,
        divFinal: 1e5,
        pctStart: 0.25,
        moms: [0.95, 0.85, 0.95],
      },
    ]);
  });
  test('momentum runs 0.95 -> 0.85 at pct_start -> back towards 0.95', () => {
    const [phase] = fitOneCyclePlan({ epochs: 2, groups: 1 });
    const moms = run(phase, 4).map((h) => h.mom); // pos = i/8
    expect(moms[0]).toBe(0.95);
    expect(moms[2]).toBeCloseTo(0.85, 12); // pos 0.25
    expect(moms[5]).toBeCloseTo(0.9, 12); // pos 0.625, half-way down the second cosine
    expect(moms[7]).toBeLessThan(0.95);
  });
  test('every group follows the same shape scaled by its own peak (slice(1e-6, 1e-4), 3 groups)', () => {
    const [phase] = fitOneCyclePlan({ epochs: 1, groups: 3, lrMax: { start: 1e-6, stop: 1e-4 }, pctStart: 0.3, div: 5, divFinal: 100 });
    expectClose(phase.lrMax, [1e-6, 1e-5, 1e-4], 1e-12);
    for (const h of run(phase, 7)) expectClose([h.lr[0] * 100, h.lr[1] * 10], [h.lr[2], h.lr[2]], 1e-12);
    expectClose(hypersAt(phase, 0, 10).lr, [2e-7, 2e-6, 2e-5], 1e-12);
    expectClose(hypersAt(phase, 3, 10).lr, [1e-6, 1e-5, 1e-4], 1e-12);
    // last iteration, pos 0.9: p = 6/7 into cos(1e-4 -> 1e-6)
    expect(hypersAt(phase, 9, 10).lr[2]).toBeCloseTo(1e-4 + ((1e-6 - 1e-4) * (1 + Math.cos(Math.PI / 7))) / 2, 15);
  });
  test('bad options and iterations are refused with the option named', () => {
    expect(() => fitOneCyclePlan({ epochs: 1, groups: 3, lrMax: [1, 2] })).toThrow(/2 learning rates but there are 3/);
    expect(() => fitOneCyclePlan({ epochs: -1, groups: 1 })).toThrow(/epochs/);
    expect(() => fitOneCyclePlan({ epochs: 1, groups: 1, pctStart: 1.5 })).toThrow(/pctStart/);
    expect(() => fitOneCyclePlan({ epochs: 1, groups: 1, moms: [0.9, 1.2, 0.9] })).toThrow(/moms/);
    expect(() => fitOneCyclePlan({ epochs: 1, groups: 2, freezeTo: 2 })).toThrow(/freezeTo/);
    const [phase] = fitOneCyclePlan({ epochs: 1, groups: 1 });
    expect(() => hypersAt(phase, 10, 10)).toThrow(/iteration 10 is outside phase 'train' \(0..9\)/);
    expect(() => hypersAt(phase, 0, 0)).toThrow(/batches per epoch/);
  });
});

describe('fine_tune', () => {
  test('fine_tune(1) with defaults and 3 groups: the two fit_one_cycle calls', () => {
    const [frozen, unfrozen] = fineTunePlan({ epochs: 1, groups: 3 });
    expect(frozen).toMatchObject({
      name: 'frozen',
      epochs: 1,
      freezeTo: 2,
      div: 25,
      divFinal: 1e5,
      pctStart: 0.99,
      moms: [0.95, 0.85, 0.95],
    });
    expectClose(frozen.lrMax, [2e-4, 2e-4, 2e-3], 1e-12); // slice(base_lr)
    expect(unfrozen).toMatchObject({ name: 'unfrozen', epochs: 1, freezeTo: 0, div: 5, divFinal: 1e5, pctStart: 0.3 });
    expectClose(unfrozen.lrMax, [1e-5, 1e-4, 1e-3], 1e-12); // base_lr halved, slice(base_lr/100, base_lr)
    expectClose(hypersAt(frozen, 0, 10).lr, [8e-6, 8e-6, 8e-5], 1e-12); // /25
    expectClose(hypersAt(unfrozen, 0, 10).lr, [2e-6, 2e-5, 2e-4], 1e-12); // /5
    expectClose(hypersAt(unfrozen, 3, 10).lr, [1e-5, 1e-4, 1e-3], 1e-12); // peak at pos 0.3
  });
  test('pct 0.99 quirk: with < 100 frozen iterations the frozen phase is a pure warm-up that never reaches base_lr', () => {
    const [frozen] = fineTunePlan({ epochs: 1, groups: 2 });
    const head = run(frozen, 92).map((h) => h.lr[1]);
    for (let i = 1; i < head.length; i++) expect(head[i]).toBeGreaterThan(head[i - 1]);
    const pLast = 91 / 92 / 0.99;
    expect(head[91]).toBeCloseTo(8e-5 + ((2e-3 - 8e-5) * (1 + Math.cos(Math.PI * (1 - pLast)))) / 2, 15);
    expect(head[91]).toBeLessThan(2e-3);
    expect(head[91]).toBeGreaterThan(0.999 * 2e-3);
    // With 200 iterations the last two enter the decay (pos 0.995 -> half-way from 2e-3 to 2e-8).
    const long = run(frozen, 200).map((h) => h.lr[1]);
    expect(long[199]).toBeCloseTo((2e-3 + 2e-8) / 2, 12);
  });
  test('div applies to the unfrozen phase only; divFinal and moms to both', () => {
    const [frozen, unfrozen] = fineTunePlan({
      epochs: 2,
      groups: 3,
      baseLr: 3e-3,
      lrMult: 10,
      div: 8,
      divFinal: 1e3,
      moms: [0.9, 0.8, 0.9],
      pctStart: 0.5,
      freezeEpochs: 2,
    });
    expect(frozen).toMatchObject({ epochs: 2, div: 25, divFinal: 1e3, pctStart: 0.99, moms: [0.9, 0.8, 0.9] });
    expect(unfrozen).toMatchObject({ epochs: 2, div: 8, divFinal: 1e3, pctStart: 0.5, moms: [0.9, 0.8, 0.9] });
    expectClose(frozen.lrMax, [3e-4, 3e-4, 3e-3], 1e-12);
    expectClose(unfrozen.lrMax, [1.5e-4, 1.5e-4 * Math.sqrt(10), 1.5e-3], 1e-12);
    expect(hypersAt(frozen, 0, 5).mom).toBe(0.9);
  });
  test('freezeEpochs 0 drops the frozen phase; one group cannot be frozen', () => {
    const plan = fineTunePlan({ epochs: 3, groups: 2, freezeEpochs: 0 });
    expect(plan.map((p) => p.name)).toEqual(['unfrozen']);
    expect(() => fineTunePlan({ epochs: 1, groups: 1 })).toThrow(/needs >= 2 groups/);
    expect(() => fineTunePlan({ epochs: 1, groups: 2, baseLr: -1 })).toThrow(/baseLr/);
    expect(() => fineTunePlan({ epochs: 1, groups: 2, freezeEpochs: 1.5 })).toThrow(/freezeEpochs/);
  });
});
