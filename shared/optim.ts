/**
 * fastai's Adam on one flat Float32Array holding every trainable parameter, as the chain of
 * steppers fastai builds it from: weightDecay (decoupled), averageGrad (dampened), averageSqrGrad,
 * step count, adamStep (debiased with the CURRENT momentum, which the 1cycle schedule changes every
 * batch). Each stepper is a plain loop over one segment [off, off + len) of the flat arrays.
 * FlatAdam runs them fused into one pass (`adamLoop`, 2-3x faster: one trip through memory),
 * rounding every intermediate to float32 where a stepper would store it, so the result is
 * bitwise the same as running the four steppers in turn.
 */

/** A run of the flat buffer belonging to one parameter group. */
export interface Segment {
  offset: number;
  length: number;
  group: number;
  /** false for BatchNorm params and biases (fastai wd_bn_bias=False). */
  decay: boolean;
}

/** Per-group hyper-parameters of one step (fastai Adam defaults: sqrMom 0.99, eps 1e-5, wd 0.01). */
export interface GroupHypers {
  lr: number;
  mom: number;
  sqrMom?: number;
  eps?: number;
  wd?: number;
}

/** Adam's defaults in fastai (note eps 1e-5 and sqrMom 0.99, not PyTorch's 1e-8 / 0.999). */
export const ADAM_DEFAULTS = { sqrMom: 0.99, eps: 1e-5, wd: 0.01 } as const;

/** Decoupled weight decay: p <- p * (1 - lr * wd). */
export function weightDecay(p: Float32Array, off: number, len: number, lr: number, wd: number): void {
  const f = 1 - lr * wd;
  for (let i = off, end = off + len; i < end; i++) p[i] *= f;
}

/** Dampened gradient average: m <- mom * m + (1 - mom) * g. */
export function averageGrad(m: Float32Array, g: Float32Array, off: number, len: number, mom: number): void {
  const damp = 1 - mom;
  for (let i = off, end = off + len; i < end; i++) m[i] = mom * m[i] + damp * g[i];
}

/** Dampened squared-gradient average: v <- sqrMom * v + (1 - sqrMom) * g^2. */
export function averageSqrGrad(v: Float32Array, g: Float32Array, off: number, len: number, sqrMom: number): void {
  const damp = 1 - sqrMom;
  for (let i = off, end = off + len; i < end; i++) v[i] = sqrMom * v[i] + damp * g[i] * g[i];
}

/** Adam update: p <- p - lr / (1 - mom^step) * m / (sqrt(v / (1 - sqrMom^step)) + eps). */
export function adamStep(
  p: Float32Array,
  m: Float32Array,
  v: Float32Array,
  off: number,
  len: number,
  h: { lr: number; mom: number; sqrMom: number; eps: number },
  step: number,
): void {
  const scale = -h.lr / (1 - Math.pow(h.mom, step));
  const invDebias2 = 1 / (1 - Math.pow(h.sqrMom, step));
  const eps = h.eps;
  for (let i = off, end = off + len; i < end; i++) p[i] += (scale * m[i]) / (Math.sqrt(v[i] * invDebias2) + eps);
}

/**
 * The doubles one segment's fused step uses, computed once here so that every loop over the
 * segment (adamLoop in JS, the oneDNN addon's native one) works from the very same values.
 */
export interface AdamCoefficients {
  /** Decoupled weight decay factor (1 without decay). */
  f: number;
  mom: number;
  damp: number;
  sqrMom: number;
  sqrDamp: number;
  /** -lr / (1 - mom^step). */
  scale: number;
  /** 1 / (1 - sqrMom^step). */
  invDebias2: number;
  eps: number;
}

export function adamCoefficients(
  h: { lr: number; mom: number; sqrMom: number; eps: number; wd: number },
  decay: boolean,
  step: number,
): AdamCoefficients {
  return {
    f: decay && h.wd !== 0 ? 1 - h.lr * h.wd : 1,
    mom: h.mom,
    damp: 1 - h.mom,
    sqrMom: h.sqrMom,
    sqrDamp: 1 - h.sqrMom,
    scale: -h.lr / (1 - Math.pow(h.mom, step)),
    invDebias2: 1 / (1 - Math.pow(h.sqrMom, step)),
    eps: h.eps,
  };
}

/** A fused Adam pass over [off, off + len) of the flat arrays. */
export type AdamLoop = (
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  off: number,
  len: number,
  c: AdamCoefficients,
) => void;

/**
 * The fused pass in JS: doubles throughout, rounded to float32 where a stepper would store. A
 * native loop must do exactly these operations in this order (no fused multiply-add) to stay bitwise equal.
 */
export const adamLoop: AdamLoop = (p, g, m, v, off, len, c) => {
  const { f, mom, damp, sqrMom, sqrDamp, scale, invDebias2, eps } = c;
  const fr = Math.fround;
  for (let i = off, end = off + len; i < end; i++) {
    const gi = g[i];
    const mi = fr(mom * m[i] + damp * gi);
    const vi = fr(sqrMom * v[i] + sqrDamp * gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] = fr(p[i] * f) + (scale * mi) / (Math.sqrt(vi * invDebias2) + eps);
  }
};

/** Adam state as saved in a checkpoint. */
export interface AdamState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/**
 * fastai Adam over the flat buffer described by `segments`. Every segment is updated on each step,
 * so build it from the trainable parameters of the current phase; call clearState() at
 * freeze/unfreeze as fastai does. Segments must not overlap.
 */
export class FlatAdam {
  readonly size: number;
  private m: Float32Array;
  private v: Float32Array;
  private step_ = 0;

  /** `loop` runs each segment's pass: adamLoop, or a native loop bitwise equal to it. */
  constructor(
    readonly segments: Segment[],
    private readonly loop: AdamLoop = adamLoop,
  ) {
    this.size = checkSegments(segments);
    this.m = new Float32Array(this.size);
    this.v = new Float32Array(this.size);
  }

  /** Steps taken since construction or the last clearState(). */
  get stepCount(): number {
    return this.step_;
  }

  /** One Adam step in place on `params`, with `hypers[g]` for parameter group g. */
  step(params: Float32Array, grads: Float32Array, hypers: GroupHypers[]): void {
    if (params.length < this.size || grads.length < this.size) {
      throw new Error(`FlatAdam.step: segments cover ${this.size} values but params has ${params.length} and grads ${grads.length}`);
    }
    const full = hypers.map((h, g) => resolveHypers(h, g));
    for (const s of this.segments) {
      if (!full[s.group]) throw new Error(`FlatAdam.step: no hyper-parameters for group ${s.group} (got ${hypers.length} groups)`);
    }
    const t = this.step_ + 1;
    for (const s of this.segments)
      this.loop(params, grads, this.m, this.v, s.offset, s.length, adamCoefficients(full[s.group], s.decay, t));
    this.step_ = t;
  }

  /** Forgets the moments and the step count (fastai clear_state at freeze/unfreeze). */
  clearState(): void {
    this.m.fill(0);
    this.v.fill(0);
    this.step_ = 0;
  }

  /** A copy of the state, for checkpoints. */
  stateDict(): AdamState {
    return { step: this.step_, m: this.m.slice(), v: this.v.slice() };
  }

  /** Restores a state saved by stateDict() from an optimizer with the same layout. */
  loadStateDict(s: AdamState): void {
    if (s.m.length !== this.size || s.v.length !== this.size) {
      throw new Error(`FlatAdam.loadStateDict: state has ${s.m.length}/${s.v.length} values, optimizer has ${this.size}`);
    }
    if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`FlatAdam.loadStateDict: bad step count ${s.step}`);
    this.m = Float32Array.from(s.m);
    this.v = Float32Array.from(s.v);
    this.step_ = s.step;
  }
}

/** A group's hyper-parameters with fastai's defaults filled in, checked (group g named in errors). */
export function resolveHypers(h: GroupHypers, g: number): Required<GroupHypers> {
  const r = {
    lr: h.lr,
    mom: h.mom,
    sqrMom: h.sqrMom ?? ADAM_DEFAULTS.sqrMom,
    eps: h.eps ?? ADAM_DEFAULTS.eps,
    wd: h.wd ?? ADAM_DEFAULTS.wd,
  };
  for (const [k, x] of Object.entries(r)) {
    if (!Number.isFinite(x)) throw new Error(`FlatAdam.step: group ${g} hyper-parameter ${k} is ${x}`);
  }
  if (!(r.mom >= 0 && r.mom < 1) || !(r.sqrMom >= 0 && r.sqrMom < 1)) {
    throw new Error(`FlatAdam.step: group ${g} needs mom and sqrMom in [0, 1), got ${r.mom} and ${r.sqrMom}`);
  }
  return r;
}

/** Validates the layout (non-negative, whole, non-overlapping) and returns the buffer size it needs. */
function checkSegments(segments: Segment[]): number {
  const sorted = [...segments].sort((a, b) => a.offset - b.offset);
  let end = 0;
  let prevEnd = 0;
  for (const s of sorted) {
    const ok = [s.offset, s.length, s.group].every((x) => Number.isInteger(x) && x >= 0);
    if (!ok) throw new Error(`FlatAdam: bad segment ${JSON.stringify(s)}`);
    if (s.offset < prevEnd) throw new Error(`FlatAdam: segment at offset ${s.offset} overlaps the previous one (ends at ${prevEnd})`);
    prevEnd = s.offset + s.length;
    end = Math.max(end, prevEnd);
  }
  return end;
}
