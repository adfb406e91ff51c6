/**
 * One whole training step of a built-in net (forward, loss, gradients of every trainable group,
 * all-reduce over a one-rank ring, fastai Adam) on webgpu against the same step on the cpu
 * backend, same seed, weights and batch. Run as a child process (Dawn's instance lives as long as
 * its process): `node dist/test/helpers/webgpu-step.js <arch> <size> <batch>` prints one JSON line.
 *
 * Gradients and updated weights (trainable and BatchNorm running statistics) are judged by Note
 * [gradient agreement] (scripts/grad-agreement.ts); the cpu run on rounding-perturbed inputs and
 * weights, which that needs, only runs when some variable is off by more than TOL. A weight is
 * well conditioned almost always (Adam's first step moves it by about lr g / (|g| + eps)); the
 * exception is a running mean of a channel whose true mean is 0 (a convolution of BatchNorm
 * outputs), which is rounding noise on both sides.
 */
import * as tf from '@tensorflow/tfjs';
import { releaseBackend, selectBackend } from '../../worker/backend';
import { buildNet, type Net } from '../../worker/models';
import { Rng } from '../../shared/rng';
import { replicaStepper } from '../../scripts/bench-gpu-steps';
import { useFastCpuReference } from '../../scripts/cpu-reference';
import { gradientAgreement, normError, roundingPerturbation, TOL } from '../../scripts/grad-agreement';

interface StepOutcome {
  loss: number;
  gradient: Float32Array;
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
    const loss = await stepper.step();
    return { loss, gradient: Float32Array.from(stepper.replica.lastGradient), weights: await stepper.replica.allWeights() };
  } finally {
    await stepper.dispose();
  }
}

async function main(): Promise<void> {
  const [arch, sizeText, batchText] = process.argv.slice(2);
  const size = Number(sizeText);
  const batch = Number(batchText);
  const t0 = performance.now();
  await selectBackend('cpu');
  const restoreCpu = useFastCpuReference();
  const reference = await build(arch, size);
  const names = reference.params.map((p) => p.variable.name);
  const sizes = reference.params.map((p) => p.variable.read().size);
  const weightSizes = reference.model.weights.map((w) => w.read().size);
  const weightNames = reference.model.weights.map((w) => w.name);
  const want = await oneStep(reference, batch, null);
  const cpuMs = performance.now() - t0;
  restoreCpu();
  await selectBackend('webgpu');
  const got = await oneStep(await build(arch, size), batch, null);
  const gpuMs = performance.now() - t0 - cpuMs;
  releaseBackend();
  const wantGrads = pieces(want.gradient, sizes);
  const gotGrads = pieces(got.gradient, sizes);
  const wantW = pieces(want.weights, weightSizes);
  const gotW = pieces(got.weights, weightSizes);
  let perturbed = { gradient: wantGrads, weights: wantW };
  let sensitivityMs = 0;
  const off = (a: Float32Array[], b: Float32Array[]) => a.some((g, i) => !(normError(g, b[i]) <= TOL));
  if (off(gotGrads, wantGrads) || off(gotW, wantW)) {
    const t1 = performance.now();
    await selectBackend('cpu');
    const undo = useFastCpuReference();
    const p = await oneStep(await build(arch, size), batch, new Rng(4242));
    perturbed = { gradient: pieces(p.gradient, sizes), weights: pieces(p.weights, weightSizes) };
    undo();
    sensitivityMs = performance.now() - t1;
  }
  const { variables, ...agreement } = gradientAgreement(gotGrads, wantGrads, perturbed.gradient, names);
  const { variables: weightVariables, ...weights } = gradientAgreement(gotW, wantW, perturbed.weights, weightNames);
  const result = {
    net: `${arch} ${size}px b${batch}`,
    loss: { cpu: want.loss, webgpu: got.loss },
    agreement,
    failures: variables.filter((v) => !v.ok),
    weights,
    weightFailures: weightVariables.filter((v) => !v.ok),
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
