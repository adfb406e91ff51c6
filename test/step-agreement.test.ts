/**
 * The judges of a whole training step (scripts/step-agreement.ts, Note [step agreement]): an
 * optimizer computed in float32 throughout passes the Adam check and a wrong one fails it, and a
 * running mean that is rounding noise around 0 passes at its activations' scale.
 */
import { ADAM_DEFAULTS, type Segment } from '../shared/optim';
import { normError, TOL } from '../scripts/grad-agreement';
import { ADAM_REL, adamAgreement, adamReference, runningMeanScale, scaledError, ulp32 } from '../scripts/step-agreement';
import { Rng } from '../shared/rng';

const fr = Math.fround;

/** Adam's first step with every operation rounded to float32, as a GPU computes it. */
function float32Adam(p0: Float32Array, g: Float32Array, segments: Segment[], lr: number, mom: number, wd: number): Float32Array {
  const { sqrMom, eps } = ADAM_DEFAULTS;
  const p = Float32Array.from(p0);
  for (const s of segments)
    for (let i = s.offset; i < s.offset + s.length; i++) {
      const m = fr(fr(1 - mom) * g[i]);
      const v = fr(fr(fr(1 - sqrMom) * g[i]) * g[i]);
      const step = fr(fr(fr(-lr) / fr(1 - mom)) * m);
      const denom = fr(fr(Math.sqrt(fr(v * fr(1 / (1 - sqrMom))))) + fr(eps));
      p[i] = fr(fr(p[i] * (s.decay ? fr(1 - lr * wd) : 1)) + fr(step / denom));
    }
  return p;
}

const segments: Segment[] = [
  { offset: 0, length: 600, group: 0, decay: true },
  { offset: 600, length: 50, group: 0, decay: false },
];

function operands(): { p0: Float32Array; g: Float32Array } {
  const rng = new Rng(31);
  const p0 = Float32Array.from({ length: 650 }, (_, i) => (i < 600 ? rng.uniform(-2, 2) : 1));
  // Gradients from 1e-9 (below eps: the step is not lr x sign(g) there) to 1.
  const g = Float32Array.from({ length: 650 }, () => (rng.next() < 0.5 ? -1 : 1) * 10 ** rng.uniform(-9, 0));
  return { p0, g };
}

function judge(got: Float32Array, want: Float32Array, p0: Float32Array) {
  const split = (a: Float32Array) => segments.map((s) => a.subarray(s.offset, s.offset + s.length));
  return adamAgreement(split(got), split(want), split(p0), ['kernel', 'gamma']);
}

const hypers = [{ lr: 1e-3, mom: 0.9, wd: 0.01 }];

test('ulp32: the float32 spacing at a value', () => {
  expect([ulp32(1), ulp32(1.99), ulp32(0.75), ulp32(-3), ulp32(0)]).toEqual([2 ** -23, 2 ** -23, 2 ** -24, 2 ** -22, 2 ** -149]);
});

test('an Adam step computed in float32 throughout is within float32 rounding of cpu Adam', () => {
  const { p0, g } = operands();
  const want = adamReference(p0, g, segments, hypers);
  const verdicts = judge(float32Adam(p0, g, segments, 1e-3, 0.9, 0.01), want, p0);
  expect(verdicts.map((v) => v.ok)).toEqual([true, true]);
  expect(Math.max(...verdicts.map((v) => v.excess))).toBeLessThan(ADAM_REL / 4);
});

test('a wrong optimizer fails: learning rate 0.1 % off, weight decay where there is none, debiasing missing', () => {
  const { p0, g } = operands();
  const want = adamReference(p0, g, segments, hypers);
  const lrOff = float32Adam(p0, g, segments, 1.001e-3, 0.9, 0.01);
  expect(judge(lrOff, want, p0).map((v) => v.ok)).toEqual([false, false]);
  const decayed = float32Adam(
    p0,
    g,
    segments.map((s) => ({ ...s, decay: true })),
    1e-3,
    0.9,
    0.01,
  );
  expect(judge(decayed, want, p0).map((v) => v.ok)).toEqual([true, false]);
  // No first-moment debiasing: a step of 0.1 lr instead of lr.
  const undebiased = float32Adam(p0, g, segments, 1e-4, 0.9, 0.1);
  expect(judge(undebiased, want, p0).map((v) => v.ok)).toEqual([false, false]);
});

test("a gradient below its rounding noise flips the cpu's step, not the optimizer check on the GPU's own gradient", () => {
  const { p0, g } = operands();
  const gpuGrad = Float32Array.from(g);
  gpuGrad[610] = -gpuGrad[610]; // a BatchNorm beta whose |g| is rounding noise: the sign differs
  const gpu = float32Adam(p0, gpuGrad, segments, 1e-3, 0.9, 0.01);
  const cpu = adamReference(p0, g, segments, hypers);
  const beta = (a: Float32Array) => a.subarray(600, 650);
  expect(normError(beta(gpu), beta(cpu))).toBeGreaterThan(1e-4); // the old judge: weights against cpu's weights
  expect(judge(gpu, adamReference(p0, gpuGrad, segments, hypers), p0).map((v) => v.ok)).toEqual([true, true]);
});

test('running means: rounding noise around a zero mean passes at the activation scale, a wrong mean does not', () => {
  // Two channels, momentum 0.9: batch variances 4 and 1e-3, running variances from 1.
  const varBefore = Float32Array.of(1, 1);
  const varAfter = Float32Array.of(0.9 + 0.1 * 4, 0.9 + 0.1 * 1e-3);
  const scale = runningMeanScale(varBefore, varAfter, 0.9, 1e-5);
  expect(scale[0]).toBeCloseTo(0.1 * Math.sqrt(4 + 1e-5), 6);
  expect(scale[1]).toBeCloseTo(0.1 * Math.sqrt(1e-3 + 1e-5), 5);
  // Both true means 0 (a convolution of BatchNorm outputs): float32 against float64 sums.
  const want = Float32Array.of(2.4e-8, -1.1e-8);
  const noise = Float32Array.of(3e-9, -2e-9);
  expect(normError(noise, want)).toBeGreaterThan(1e-4);
  expect(scaledError(noise, want, scale)).toBeLessThan(TOL / 10);
  // A mean off by 1 % of the second channel's spread (sqrt(1e-3) ~ 0.03).
  const wrong = Float32Array.of(2.4e-8, -1.1e-8 + 0.1 * 3e-4);
  expect(scaledError(wrong, want, scale)).toBeGreaterThan(TOL * 10);
});
