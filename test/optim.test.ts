/** fastai Adam steppers on 4-element arrays against hand-computed numbers, then FlatAdam as a whole. */
import { adamStep, averageGrad, averageSqrGrad, FlatAdam, Segment, weightDecay } from '../shared/optim';
import { Rng } from '../shared/rng';

const f32 = (xs: number[]) => Float32Array.from(xs);

function expectArrayClose(actual: Float32Array, expected: number[], atol = 1e-7): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]) <= atol + 1e-6 * Math.abs(expected[i])))
      throw new Error(`index ${i}: got ${a}, expected ${expected[i]}`);
  });
}

describe('steppers', () => {
  test('weightDecay: p *= 1 - lr*wd, only inside the segment', () => {
    const p = f32([1, 2, -1, 0.5]);
    weightDecay(p, 1, 2, 0.1, 0.01); // factor 0.999
    expectArrayClose(p, [1, 1.998, -0.999, 0.5]);
  });
  test('averageGrad is dampened: m = mom*m + (1-mom)*g', () => {
    const m = f32([1, 0, -2, 4]);
    averageGrad(m, f32([0.1, -0.2, 0.3, 0]), 0, 4, 0.9);
    expectArrayClose(m, [0.91, -0.02, -1.77, 3.6]);
  });
  test('averageSqrGrad: v = sqrMom*v + (1-sqrMom)*g^2', () => {
    const v = f32([1, 0, 0.5, 2]);
    averageSqrGrad(v, f32([0.1, -0.2, 0.3, 0]), 0, 4, 0.99);
    expectArrayClose(v, [0.9901, 0.0004, 0.4959, 1.98]);
  });
  test('adamStep: p -= lr/(1-mom^t) * m / (sqrt(v/(1-sqrMom^t)) + eps)', () => {
    const p = f32([1, 2, -1, 0.5]);
    // t = 1: debias1 = 0.1, debias2 = 0.01, so the step is lr * m/0.1 / (sqrt(v/0.01) + eps).
    adamStep(p, f32([0.01, -0.02, 0.03, 0]), f32([1e-4, 4e-4, 9e-4, 0]), 0, 4, { lr: 0.1, mom: 0.9, sqrMom: 0.99, eps: 1e-5 }, 1);
    expectArrayClose(p, [1 - 0.01 / 0.10001, 2 + 0.02 / 0.20001, -1 - 0.03 / 0.30001, 0.5]);
  });
});

describe('FlatAdam', () => {
  const seg: Segment[] = [{ offset: 0, length: 4, group: 0, decay: true }];

  test('two steps with a changing momentum (debias uses the current mom)', () => {
    const opt = new FlatAdam(seg);
    const p = f32([1, 2, -1, 0.5]);
    opt.step(p, f32([0.1, -0.2, 0.3, 0]), [{ lr: 0.1, mom: 0.9 }]);
    // wd 0.01: p*0.999, then minus lr*g/(|g|+eps) (the t=1 debiasing makes m/d1 = g, sqrt(v/d2) = |g|)
    expectArrayClose(p, [0.8990099990001, 2.0979950002499876, -1.098996666777774, 0.4995]);
    opt.step(p, f32([-0.05, 0.1, 0.3, 1]), [{ lr: 0.05, mom: 0.8 }]);
    // m = [-0.002, 0.004, 0.084, 0.2], v = [1.24e-4, 4.96e-4, 1.791e-3, 0.01], d1 = 1-0.8^2, d2 = 1-0.99^2
    expectArrayClose(p, [0.902078999068869, 2.0934272748296774, -1.137334761080186, 0.46006542504868586]);
    const s = opt.stateDict();
    expect(s.step).toBe(2);
    expectArrayClose(s.m, [-0.002, 0.004, 0.084, 0.2]);
    expectArrayClose(s.v, [1.24e-4, 4.96e-4, 1.791e-3, 0.01], 1e-9);
  });

  test('no weight decay on decay:false segments (BN params, biases), per-group hypers', () => {
    const opt = new FlatAdam([
      { offset: 0, length: 2, group: 0, decay: false },
      { offset: 2, length: 2, group: 1, decay: true },
    ]);
    const p = f32([1, 2, -1, 0.5]);
    opt.step(p, f32([0.1, -0.2, 0.3, 0]), [
      { lr: 0.1, mom: 0.9 },
      { lr: 0.2, mom: 0.9, wd: 0.1, eps: 1e-3 },
    ]);
    expectArrayClose(p, [1 - (0.1 * 0.1) / 0.10001, 2 + (0.1 * 0.2) / 0.20001, -0.98 - (0.2 * 0.3) / 0.301, 0.49]);
  });

  test('wd 0 disables decay; sqrMom and eps are per group', () => {
    const opt = new FlatAdam(seg);
    const p = f32([1, 1, 1, 1]);
    opt.step(p, f32([1, 1, 1, 1]), [{ lr: 0.5, mom: 0, sqrMom: 0, eps: 0, wd: 0 }]);
    expectArrayClose(p, [0.5, 0.5, 0.5, 0.5]);
  });

  test('values outside every segment are untouched', () => {
    const opt = new FlatAdam([{ offset: 1, length: 2, group: 0, decay: true }]);
    const p = f32([1, 1, 1, 1]);
    opt.step(p, f32([1, 1, 1, 1]), [{ lr: 0.1, mom: 0.9 }]);
    expect(p[0]).toBe(1);
    expect(p[3]).toBe(1);
    expect(p[1]).toBeLessThan(1);
  });

  test('clearState resets moments and step (fastai clear_state at freeze/unfreeze)', () => {
    const g = f32([0.1, -0.2, 0.3, 0]);
    const a = new FlatAdam(seg);
    const pa = f32([1, 2, -1, 0.5]);
    a.step(pa, f32([5, 5, 5, 5]), [{ lr: 0.1, mom: 0.9 }]);
    a.clearState();
    expect(a.stepCount).toBe(0);
    const fresh = pa.slice();
    a.step(pa, g, [{ lr: 0.1, mom: 0.9 }]);
    const b = new FlatAdam(seg);
    b.step(fresh, g, [{ lr: 0.1, mom: 0.9 }]);
    expect(Array.from(pa)).toEqual(Array.from(fresh));
  });

  test('stateDict / loadStateDict round-trip gives identical next steps', () => {
    const a = new FlatAdam(seg);
    const p = f32([1, 2, -1, 0.5]);
    a.step(p, f32([0.1, -0.2, 0.3, 0]), [{ lr: 0.1, mom: 0.9 }]);
    const saved = a.stateDict();
    const b = new FlatAdam(seg);
    b.loadStateDict(saved);
    const p2 = p.slice();
    a.step(p, f32([0.3, 0.1, -0.1, 0.2]), [{ lr: 0.1, mom: 0.85 }]);
    b.step(p2, f32([0.3, 0.1, -0.1, 0.2]), [{ lr: 0.1, mom: 0.85 }]);
    expect(Array.from(p2)).toEqual(Array.from(p));
    expect(() => b.loadStateDict({ step: 1, m: new Float32Array(3), v: new Float32Array(4) })).toThrow(/3\/4 values, optimizer has 4/);
  });

  test('bad layouts and hypers are refused with the culprit named', () => {
    expect(
      () =>
        new FlatAdam([
          { offset: 0, length: 4, group: 0, decay: true },
          { offset: 2, length: 4, group: 0, decay: true },
        ]),
    ).toThrow(/overlaps/);
    expect(() => new FlatAdam([{ offset: -1, length: 4, group: 0, decay: true }])).toThrow(/bad segment/);
    const opt = new FlatAdam([{ offset: 0, length: 4, group: 1, decay: true }]);
    expect(() => opt.step(f32([1, 1, 1, 1]), f32([1, 1, 1, 1]), [{ lr: 0.1, mom: 0.9 }])).toThrow(/no hyper-parameters for group 1/);
    expect(() => opt.step(f32([1, 1]), f32([1, 1]), [{ lr: 0.1, mom: 0.9 }])).toThrow(/cover 4 values/);
    expect(() => new FlatAdam(seg).step(f32([1, 1, 1, 1]), f32([1, 1, 1, 1]), [{ lr: NaN, mom: 0.9 }])).toThrow(
      /group 0 hyper-parameter lr is NaN/,
    );
    expect(() => new FlatAdam(seg).step(f32([1, 1, 1, 1]), f32([1, 1, 1, 1]), [{ lr: 1, mom: 1 }])).toThrow(/mom and sqrMom in \[0, 1\)/);
  });

  test('the fused step is bitwise the chain of steppers, over several segments, groups and steps', () => {
    const rng = new Rng(7);
    const n = 1000;
    const segs: Segment[] = [
      { offset: 0, length: 300, group: 0, decay: true },
      { offset: 300, length: 50, group: 0, decay: false },
      { offset: 400, length: 600, group: 1, decay: true }, // [350, 400) lies outside every segment
    ];
    const p = Float32Array.from({ length: n }, () => rng.normal());
    const ref = p.slice();
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    const opt = new FlatAdam(segs);
    for (let t = 1; t <= 5; t++) {
      const g = Float32Array.from({ length: n }, () => rng.normal() * 0.1);
      const hypers = [
        { lr: 1e-3 * t, mom: 0.95 - 0.02 * t },
        { lr: 1e-2 / t, mom: 0.9, wd: 0.1 },
      ];
      opt.step(p, g, hypers);
      for (const s of segs) {
        const h = { sqrMom: 0.99, eps: 1e-5, wd: 0.01, ...hypers[s.group] };
        if (s.decay) weightDecay(ref, s.offset, s.length, h.lr, h.wd);
        averageGrad(m, g, s.offset, s.length, h.mom);
        averageSqrGrad(v, g, s.offset, s.length, h.sqrMom);
        adamStep(ref, m, v, s.offset, s.length, h, t);
      }
    }
    expect(Buffer.from(p.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
    expect(Buffer.from(opt.stateDict().m.buffer).equals(Buffer.from(m.buffer))).toBe(true);
    expect(Buffer.from(opt.stateDict().v.buffer).equals(Buffer.from(v.buffer))).toBe(true);
  });
});
