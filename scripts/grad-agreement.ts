/**
 * Note [gradient agreement]: whether gradients computed on one backend agree with the cpu
 * backend's, told apart from float32 rounding.
 *
 * Two float32 implementations of the same step differ by rounding (summation order, fused
 * multiply-adds), and a deep net amplifies that by its condition number. A max-abs/max-abs
 * "relative error" cannot tell that from a wrong kernel: on mobilenet_v2 at 32 px with batch 2
 * (BatchNorm over 2 values in the last stage and in the head), perturbing the cpu backend's own
 * input by one unit in the last place moves its gradients by up to 7e4 relative, the same
 * order as the webgpu-vs-cpu differences (2.6e5) that looked like a GPU bug. Judged this way, at
 * 64 px and batch 8 ringtune's kernels agree with cpu on every variable while stock tfjs-webgpu's
 * are off on 31 of 162 by 25x their sensitivity: there a stock kernel is wrong.
 *
 * So every check measures, per variable, the norm error ||got - want|| / ||want|| AND the
 * problem's own sensitivity: the same norm error of the cpu backend run on inputs and weights
 * perturbed by one float32 rounding (relative 2^-23, random signs). A variable whose
 * sensitivity is at most TOL / SLACK is well conditioned: its error must be within TOL (1e-4:
 * ten times what rounding explains; a wrong kernel, index or race gives errors of 1e-2 and up).
 * An ill-conditioned variable (a gradient that is mostly cancellation, like a bias feeding a
 * BatchNorm, whose true gradient is 0; or most of mobilenet_v2 at random init, where cpu's own
 * gradients move by 1e-3 to 1e-2 under one rounding) must stay within SLACK times its
 * sensitivity. A case in which more than half of the variables are more sensitive than BLIND
 * cannot tell a 10 % error from rounding: it checks nothing and fails.
 *
 * What the sensitivity does not see is a reduction whose result cancels: with inputs in [0, 1)
 * the first convolution's filter gradient sums x * dy over pixels where dy sums to 0, so the
 * mean pixel multiplies a rounding residue, and float32 accumulation on the GPU (cpu's kernels
 * accumulate in float64) moves it by ~1e-2 while rounding the inputs moves it by 3e-5. That
 * errs towards a false alarm, never a silent pass; the checks feed normalised-range inputs, as
 * the loader does.
 */

/** Agreement of one variable's gradient. */
export interface VariableAgreement {
  index: number;
  name: string;
  /** ||got - want|| / ||want||. */
  error: number;
  /** ||perturbed - want|| / ||want||: what one float32 rounding of the inputs does. */
  sensitivity: number;
  conditioned: boolean;
  ok: boolean;
}

/** Agreement of a whole step's gradients. */
export interface Agreement {
  variables: VariableAgreement[];
  /** Worst error among well-conditioned variables. */
  worst: VariableAgreement | null;
  failures: VariableAgreement[];
  /** Share of variables that are well conditioned (sensitivity <= TOL / SLACK). */
  conditionedShare: number;
  /** Share of variables whose sensitivity is at most BLIND, where a wrong result would show. */
  checkableShare: number;
  ok: boolean;
}

export const TOL = 1e-4;
export const SLACK = 10;
export const BLIND = 1e-2;
export const MIN_CHECKABLE = 0.5;

/** ||a - b|| / ||b|| in float64; a NaN anywhere gives Infinity, a zero reference 0 or Infinity. */
export function normError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`normError: length ${a.length} != ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (!Number.isFinite(num) || !Number.isFinite(den)) return Infinity;
  if (den === 0) return num === 0 ? 0 : Infinity;
  return Math.sqrt(num / den);
}

/**
 * Judges `got` against `want` given `perturbed` (want's own rounding sensitivity); see Note
 * [gradient agreement]. `error` measures a variable's distance (normError unless a quantity has
 * its own scale: Note [step agreement]).
 */
export function gradientAgreement(
  got: ArrayLike<number>[],
  want: ArrayLike<number>[],
  perturbed: ArrayLike<number>[],
  names: string[],
  error: (a: ArrayLike<number>, b: ArrayLike<number>, index: number) => number = normError,
): Agreement {
  if (got.length !== want.length || perturbed.length !== want.length)
    throw new Error(`gradientAgreement: ${got.length} / ${want.length} / ${perturbed.length} variables`);
  const variables = want.map((w, index): VariableAgreement => {
    const e = error(got[index], w, index);
    const sensitivity = error(perturbed[index], w, index);
    const conditioned = sensitivity <= TOL / SLACK;
    const ok = conditioned ? e <= TOL : e <= SLACK * sensitivity;
    return { index, name: names[index] ?? `variable ${index}`, error: e, sensitivity, conditioned, ok };
  });
  const conditioned = variables.filter((v) => v.conditioned);
  const worst = conditioned.reduce<VariableAgreement | null>((a, v) => (a == null || !(v.error <= a.error) ? v : a), null);
  const failures = variables.filter((v) => !v.ok);
  const share = (n: number) => (variables.length ? n / variables.length : 0);
  const conditionedShare = share(conditioned.length);
  const checkableShare = share(variables.filter((v) => v.sensitivity <= BLIND).length);
  return { variables, worst, failures, conditionedShare, checkableShare, ok: failures.length === 0 && checkableShare >= MIN_CHECKABLE };
}

/** Relative 2^-23 noise with random signs from a seeded generator: one float32 rounding of every element. */
export function roundingPerturbation(values: Float32Array, next: () => number): Float32Array {
  return values.map((v) => v * (1 + (next() < 0.5 ? -1 : 1) * 2 ** -23));
}

/** One line about an agreement, naming the worst and every failing variable. */
export function describeAgreement(label: string, a: Agreement): string {
  const worst = a.worst ? `worst ${a.worst.error.toExponential(2)} (${a.worst.name})` : 'no well-conditioned variable';
  const share = `${Math.round(100 * a.conditionedShare)}% of ${a.variables.length} variables well conditioned`;
  const fails = a.failures
    .slice(0, 4)
    .map((v) => `${v.name} error ${v.error.toExponential(2)} vs sensitivity ${v.sensitivity.toExponential(2)}`)
    .join('; ');
  const verdict = a.ok
    ? 'ok'
    : a.failures.length
      ? `WRONG: ${a.failures.length} variable(s) off: ${fails}`
      : `ILL-CONDITIONED: over ${100 - MIN_CHECKABLE * 100}% of variables move by more than ${BLIND} under one rounding: this case cannot tell a bug from it`;
  return `${label}: norm error ${worst}, ${share} -> ${verdict}`;
}
