/**
 * FlatAdam's pass in the oneDNN addon (worker/kernels/native/adam.cc) against the JS pass: the
 * weights and moments must be bitwise identical (replicas mix neither, but resume and the
 * cross-worker hash compare them), over segments with and without decay, groups, steps with a
 * changing momentum, and gradients from tiny to huge. Runs where oneDNN is installed.
 */
import { adamLoop, FlatAdam, type GroupHypers, type Segment } from '../shared/optim';
import { Rng } from '../shared/rng';
import { nativeAdamLoop } from '../worker/kernels/onednn-adam';
import { kernelModes } from './helpers/kernel-modes';

const onednn = kernelModes().includes('oneDNN kernels');
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('native FlatAdam pass', () => {
  (onednn ? test : test.skip)('is bitwise the JS pass over several segments, groups and steps', () => {
    const native = nativeAdamLoop();
    if (!native) throw new Error('oneDNN is installed but its addon (with adam) did not load');
    const rng = new Rng(11);
    const n = 20_011; // odd, so the vectorised loop's remainder runs too
    const segs: Segment[] = [
      { offset: 0, length: 7_001, group: 0, decay: true },
      { offset: 7_001, length: 3, group: 0, decay: false },
      { offset: 7_100, length: 12_911, group: 1, decay: true }, // [7004, 7100) lies outside every segment
    ];
    const scales = [1e-30, 1e-6, 1, 1e6];
    const p = Float32Array.from({ length: n }, () => rng.normal());
    const q = p.slice();
    const js = new FlatAdam(segs, adamLoop);
    const nat = new FlatAdam(segs, native);
    for (let t = 1; t <= 6; t++) {
      const g = Float32Array.from({ length: n }, (_, i) => rng.normal() * scales[(i + t) % scales.length]);
      const hypers: GroupHypers[] = [
        { lr: 1e-3 * t, mom: 0.95 - 0.03 * t },
        { lr: 3e-2 / t, mom: 0.9, sqrMom: 0.999, eps: 1e-8, wd: t % 2 === 0 ? 0 : 0.1 },
      ];
      js.step(p, g, hypers);
      nat.step(q, g, hypers);
    }
    expect(bytes(q).equals(bytes(p))).toBe(true);
    expect(bytes(nat.stateDict().m).equals(bytes(js.stateDict().m))).toBe(true);
    expect(bytes(nat.stateDict().v).equals(bytes(js.stateDict().v))).toBe(true);
    expect(q[7_050]).toBe(p[7_050]); // untouched outside the segments, by both
  });

  (onednn ? test : test.skip)('refuses a segment past an array and a wrong descriptor, naming them', () => {
    const native = nativeAdamLoop()!;
    const a = () => new Float32Array(8);
    const c = { f: 1, mom: 0.9, damp: 0.1, sqrMom: 0.99, sqrDamp: 0.01, scale: -1, invDebias2: 100, eps: 1e-5 };
    expect(() => native(a(), new Float32Array(4), a(), a(), 2, 4, c)).toThrow(/segment \[2, 6\) runs past g \(4 floats\)/);
    expect(() => native(a(), a(), a(), a(), 1.5, 4, c)).toThrow(/off and len must be whole/);
  });
});
