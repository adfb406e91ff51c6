/**
 * One whole training step of a built-in net (forward, loss, gradients of every trainable group,
 * all-reduce over a one-rank ring, fastai Adam) on webgpu against the same step on the cpu
 * backend, same seed, weights and batch. Run as a child process (Dawn's instance lives as long as
 * its process): `node dist/test/helpers/webgpu-step.js <arch> <size> <batch>` prints one JSON line.
 *
 * Judged by Note [step agreement] (scripts/step-agreement.ts): gradients by Note [gradient
 * agreement]; the updated trainable weights against cpu's Adam applied to this backend's own
 * gradient (GpuAdam within float32 rounding); BatchNorm running means against their activations'
 * scale, running variances by norm error. The cpu run on rounding-perturbed inputs and weights,
 * which the sensitivities need, only runs when a gradient or statistic is off by more than TOL.
 */
import * as tf from '@tensorflow/tfjs';
import { releaseBackend, selectBackend } from '../../worker/backend';
import { buildNet, type Net } from '../../worker/models';
import { Rng } from '../../shared/rng';
import { REPLICA_HYPERS, replicaStepper } from '../../scripts/bench-gpu-steps';
import { useFastCpuReference } from '../../scripts/cpu-reference';
import { gradientAgreement, normError, roundingPerturbation, TOL } from '../../scripts/grad-agreement';
import { adamAgreement, adamReference, runningMeanScale, scaledError } from '../../scripts/step-agreement';
import { paramSegments } from '../../worker/replica';
import { trainableParams } from '../../worker/models';
import { weightKind } from '../../worker/models/init';

interface StepOutcome {
  loss: number;
  gradient: Float32Array;
  /** Every weight in model order, before the step and after it. */
  before: Float32Array;
  weights: Float32Array;
}

const MARK = 'WEBGPU_STEP ';

async function build(arch: string, size: number): Promise<Net> {
  return buildNet({ arch, nClasses: 10, size, seed: 5, head: { linFtrs: [32], ps: 0, firstBn: true } });
}

/** Splits a flat buffer into per-variable pieces of the given sizes. */
function pieces(flat: Float32Array, sizes: number[]): Float32Array[] {
  let at = 0;
  return sizes.map((n) => flat.subarray(at, (at += n)));
}

async function oneStep(net: Net, batch: number, perturb: Rng | null): Promise<StepOutcome> {
  if (perturb) {
    for (const p of net.params) {
      const v = p.variable.read();
      p.variable.write(
        tf.tensor(
          roundingPerturbation((await v.data()) as Float32Array, () => perturb.next()),
          v.shape,
        ),
      );
    }
  }
  const stepper = await replicaStepper(net, batch, perturb ? (x) => roundingPerturbation(x, () => perturb.next()) : undefined);
  try {
    const before = await stepper.replica.allWeights();
    const loss = await stepper.step();
    return { loss, gradient: Float32Array.from(stepper.replica.lastGradient), before, weights: await stepper.replica.allWeights() };
  } finally {
    await stepper.dispose();
  }
}

/** Where each weight of `net` sits in model.weights: the trainable ones in gradient order, with their optimizer layout, and the BatchNorm statistics. */
function weightLayout(net: Net) {
  const weights = net.model.weights;
  const at = new Map(weights.map((w, i) => [w.name, i]));
  const params = trainableParams(net, 0);
  const bn = net.model.layers
    .filter((l) => l.getClassName() === 'BatchNormalization')
    .map((l) => {
      const stat = (kind: string) => at.get(l.nonTrainableWeights.find((w) => weightKind(w) === kind)!.name)!;
      const config = l.getConfig();
      return {
        mean: stat('moving_mean'),
        variance: stat('moving_variance'),
        momentum: config.momentum as number,
        eps: config.epsilon as number,
      };
    });
  const trainable = params.map((p) => at.get(p.variable.name)!);
  const stats = bn.flatMap((b) => [b.mean, b.variance]);
  const unjudged = weights.filter((_, i) => !trainable.includes(i) && !stats.includes(i)).map((w) => w.name);
  if (unjudged.length) throw new Error(`webgpu-step: no judge for weights ${unjudged.join(', ')}`);
  return {
    names: weights.map((w) => w.name),
    sizes: weights.map((w) => w.read().size),
    segments: paramSegments(params),
    trainable,
    bn,
    stats,
  };
}

/** The updated trainable weights against cpu's Adam on `got`'s own gradient (Note [step agreement]). */
function judgeOptimizer(layout: ReturnType<typeof weightLayout>, got: StepOutcome, nGroups: number) {
  const { segments, trainable, names, sizes } = layout;
  const before = pieces(got.before, sizes);
  const flatBefore = new Float32Array(got.gradient.length);
  trainable.forEach((w, j) => flatBefore.set(before[w], segments[j].offset));
  const want = adamReference(flatBefore, got.gradient, segments, Array(nGroups).fill(REPLICA_HYPERS));
  const after = pieces(got.weights, sizes);
  const variables = adamAgreement(
    trainable.map((w) => after[w]),
    pieces(
      want,
      segments.map((s) => s.length),
    ),
    trainable.map((w) => before[w]),
    trainable.map((w) => names[w]),
  );
  const worst = variables.reduce((a, v) => (!(v.excess <= a.excess) ? v : a));
  return { worst, failures: variables.filter((v) => !v.ok) };
}

async function main(): Promise<void> {
  const [arch, sizeText, batchText] = process.argv.slice(2);
  const size = Number(sizeText);
  const batch = Number(batchText);
  const t0 = performance.now();
  await selectBackend('cpu');
  const restoreCpu = useFastCpuReference();
  const reference = await build(arch, size);
  const layout = weightLayout(reference);
  const names = reference.params.map((p) => p.variable.name);
  const sizes = reference.params.map((p) => p.variable.read().size);
  const want = await oneStep(reference, batch, null);
  const cpuMs = performance.now() - t0;
  restoreCpu();
  await selectBackend('webgpu');
  const got = await oneStep(await build(arch, size), batch, null);
  const gpuMs = performance.now() - t0 - cpuMs;
  releaseBackend();
  const wantGrads = pieces(want.gradient, sizes);
  const gotGrads = pieces(got.gradient, sizes);
  const stats = (o: StepOutcome) => {
    const all = pieces(o.weights, layout.sizes);
    return layout.stats.map((w) => all[w]);
  };
  // A running mean's error in units of its channel's spread (cpu's batch variance); a running variance's by norm.
  const wantBefore = pieces(want.before, layout.sizes);
  const wantAfter = pieces(want.weights, layout.sizes);
  const scales = layout.bn.map((b) => runningMeanScale(wantBefore[b.variance], wantAfter[b.variance], b.momentum, b.eps));
  const statError = (a: ArrayLike<number>, b: ArrayLike<number>, i: number) =>
    i % 2 === 0 ? scaledError(a, b, scales[i / 2]) : normError(a, b);
  let perturbed = { gradient: wantGrads, stats: stats(want) };
  let sensitivityMs = 0;
  const off = (a: Float32Array[], b: Float32Array[], error: typeof statError = normError) => a.some((g, i) => !(error(g, b[i], i) <= TOL));
  if (off(gotGrads, wantGrads) || off(stats(got), stats(want), statError)) {
    const t1 = performance.now();
    await selectBackend('cpu');
    const undo = useFastCpuReference();
    const p = await oneStep(await build(arch, size), batch, new Rng(4242));
    perturbed = { gradient: pieces(p.gradient, sizes), stats: stats(p) };
    undo();
    sensitivityMs = performance.now() - t1;
  }
  const { variables, ...agreement } = gradientAgreement(gotGrads, wantGrads, perturbed.gradient, names);
  const statNames = layout.stats.map((w) => layout.names[w]);
  const { variables: statVariables, ...bnStats } = gradientAgreement(stats(got), stats(want), perturbed.stats, statNames, statError);
  const result = {
    net: `${arch} ${size}px b${batch}`,
    loss: { cpu: want.loss, webgpu: got.loss },
    agreement,
    failures: variables.filter((v) => !v.ok),
    adam: judgeOptimizer(layout, got, reference.nGroups),
    bnStats,
    bnFailures: statVariables.filter((v) => !v.ok),
    ms: { cpu: Math.round(cpuMs), webgpu: Math.round(gpuMs), sensitivity: Math.round(sensitivityMs) },
  };
  console.log(MARK + JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log(MARK + JSON.stringify({ error: (e as Error).stack }));
    releaseBackend();
    process.exit(1);
  },
);
