/**
 * Note [step agreement]: how a whole training step on one backend is judged against the cpu
 * backend's, part by part, each against what float32 rounding explains.
 *
 * - Gradients: Note [gradient agreement] (grad-agreement.ts), per variable against the problem's
 *   own rounding sensitivity.
 * - Trainable weights after the optimizer: not against cpu's updated weights. Adam's first step
 *   moves a weight by about lr x g / (|g| + eps), about lr x sign(g): where |g| is below its
 *   rounding noise (mobilenet_v2 at 96 px: a BatchNorm beta whose gradient is mostly cancellation)
 *   two correct gradients of opposite sign move it 2 lr apart, a norm error of 0.2 that says
 *   nothing about either side. The gradients are judged already; what the weights add is the
 *   optimizer, so cpu's Adam (FlatAdam) is applied to the backend's own gradient from the same
 *   weights, and the backend's updated weights must match it element by element within
 *   WEIGHT_ULPS float32 ulps of the weight plus ADAM_REL of the update |u|. The weight side: the
 *   decay factor 1 - lr wd reaches the device as a float32 uniform (up to half an ulp of p), the
 *   device rounds p x decay and then p + u, cpu rounds the same two: up to 2.5 ulps, so 4. The
 *   update side: u is ~10 float32 operations on the device (moments, debiasing, square root,
 *   division), each within 2^-24 relative, so within ~6e-7 of |u|; ADAM_REL = 1e-5 leaves 16x.
 *   A wrong learning rate, debiasing or eps is off by 1e-3 of |u| or more, and weight decay where
 *   there is none (or none where there is) by lr wd = 1e-5 of the weight, ~80 ulps.
 * - BatchNorm running means: against the activations' scale, not their own size. A channel whose
 *   true batch mean is 0 (a convolution of BatchNorm outputs) has a running mean that is rounding
 *   noise on both sides (3e-9 against 2.4e-8: float64 sums on cpu, float32 on the device), a norm
 *   error near 1 relative to itself, yet 1e-7 of the channel's spread. So the error is the RMS over
 *   channels of |got - want| / ((1 - momentum) sqrt(var + eps)), var the batch variance and eps the
 *   layer's (the scale it normalises by), and it is judged as a gradient is (within TOL where the
 *   same measure of a rounding-perturbed cpu run is small, within SLACK times it where not).
 * - Running variances (momentum x old + (1 - momentum) x a positive batch variance) are well
 *   conditioned: judged as gradients are, by norm error.
 */
import { FlatAdam, type GroupHypers, type Segment } from '../shared/optim';

export const ADAM_REL = 1e-5;
export const WEIGHT_ULPS = 4;

/** The spacing of float32 values at |x| (the smallest subnormal at 0). */
export function ulp32(x: number): number {
  const a = Math.abs(Math.fround(x));
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** cpu's Adam step (FlatAdam, first step) from `before` with `gradient`: the weights a correct optimizer gives. */
export function adamReference(before: Float32Array, gradient: Float32Array, segments: Segment[], hypers: GroupHypers[]): Float32Array {
  const params = Float32Array.from(before);
  new FlatAdam(segments).step(params, gradient, hypers);
  return params;
}

/** One variable's updated weights against the reference optimizer's. */
export interface AdamAgreement {
  name: string;
  /** Worst over elements of (|got - want| - WEIGHT_ULPS ulp(want)) / |want - before|; <= ADAM_REL is float32 rounding. */
  excess: number;
  ok: boolean;
}

/** Judges `got` (per variable) against `want` = adamReference of `before` (see Note [step agreement]). */
export function adamAgreement(got: Float32Array[], want: Float32Array[], before: Float32Array[], names: string[]): AdamAgreement[] {
  return want.map((w, v) => {
    let excess = 0;
    for (let i = 0; i < w.length; i++) {
      const over = Math.abs(got[v][i] - w[i]) - WEIGHT_ULPS * ulp32(w[i]);
      if (over > 0 || Number.isNaN(over)) excess = Math.max(excess, over / Math.abs(w[i] - before[v][i]) || Infinity);
    }
    return { name: names[v], excess, ok: excess <= ADAM_REL };
  });
}

/** Per channel, the scale a running mean is judged at: (1 - momentum) sqrt(batch variance + eps), the variance recovered from the running one. */
export function runningMeanScale(varBefore: Float32Array, varAfter: Float32Array, momentum: number, eps: number): Float32Array {
  return varAfter.map((after, c) => {
    const batchVar = Math.max(0, (after - momentum * varBefore[c]) / (1 - momentum));
    return (1 - momentum) * Math.sqrt(batchVar + eps);
  });
}

/** RMS over elements of (a - b) / scale. */
export function scaledError(a: ArrayLike<number>, b: ArrayLike<number>, scale: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s += ((a[i] - b[i]) / scale[i]) ** 2;
  return Number.isFinite(s) ? Math.sqrt(s / Math.max(1, b.length)) : Infinity;
}
