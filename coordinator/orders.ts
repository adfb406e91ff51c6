/**
 * The fit loop's messages to the workers and what their replies add up to, as pure functions:
 * each rank's batches of an epoch, a step's orders, a step's report summed over the workers, and
 * an epoch's validation (with the check that the replicas still hold the same weights).
 */
import { epochOrder, shard, batches, remainingAfter, type Stretch } from '../shared/sampler';
import { hypersAtPos, phasePos } from '../shared/plan';
import type { CoordMsg, StepOrder, WorkerMsg } from '../shared/protocol';
import type { Hypers, StepInfo } from './events';
import type { ProgressView } from './progress';
import { WorkerFailure } from './hub';

export type Batch = { indices: number[]; real: number };
type Reply<T extends WorkerMsg['type']> = { msg: Extract<WorkerMsg, { type: T }> };

/** What the loop needs to draw batches. */
export interface Sampling {
  nTrain: number;
  nValid: number;
  bs: number;
  seed: number;
}

/**
 * Every rank's training batches of run epoch `runEpoch` (fastai DistributedDL, drop_last); at least
 * one each. After `settled` stretches at other world sizes, the batches of what they left (Note
 * [resize]), which may be none.
 */
export function epochBatches(s: Sampling, runEpoch: number, world: number, settled: readonly Stretch[] = []): Batch[][] {
  const whole = epochOrder(s.nTrain, s.seed, runEpoch, true);
  const order = settled.length > 0 ? remainingAfter(whole, [...settled], s.bs) : whole;
  const perRank = Array.from({ length: world }, (_, r) => batches(shard(order, r, world), s.bs, true));
  if (perRank[0].length === 0 && settled.length === 0)
    throw new WorkerFailure(
      `the training set has ${s.nTrain} images: fewer than one batch per worker (bs ${s.bs} x ${world} workers); lower --bs`,
      null,
    );
  return perRank;
}

/** A step as ordered: where it stands and its hyper-parameters (the start of its StepInfo). */
export type SentStep = Pick<StepInfo, 'phase' | 'phaseIndex' | 'epoch' | 'iter' | 'batchesPerEpoch' | 'step' | 'lrs' | 'mom'>;

/** The hyper-parameters the phase's 1cycle schedule gives the next step. */
export function scheduled(p: ProgressView): Hypers {
  const pos = p.schedulePos ?? phasePos(p.phase, p.phaseIter, p.batchesPerEpoch);
  const { lr, mom } = hypersAtPos(p.phase, pos);
  return { lrs: lr, mom };
}

/** The step about to be ordered. */
export function sentStep(p: ProgressView, hypers: Hypers): SentStep {
  const { phase, phaseIndex, epoch, phaseIter: iter, batchesPerEpoch, step } = p;
  return { phase, phaseIndex, epoch, iter, batchesPerEpoch, step, ...hypers };
}

/** One rank's orders for batch `j` of its `batches` in run epoch `runEpoch`, with the next batch to prefetch. */
export function stepOrder(s: SentStep, runEpoch: number, rankBatches: Batch[], j: number): StepOrder {
  return {
    type: 'step',
    step: s.step,
    phase: s.phaseIndex,
    phaseName: s.phase.name,
    epoch: runEpoch,
    freezeTo: s.phase.freezeTo,
    lrs: s.lrs,
    mom: s.mom,
    indices: rankBatches[j].indices,
    next: j + 1 < rankBatches.length ? rankBatches[j + 1].indices : null,
  };
}

/** A step's replies summed over the workers (the smoothed loss is the loop's to add); `wallMs` since the last report. */
export function stepReport(s: SentStep, done: Reply<'stepDone'>[], wallMs: number): Omit<StepInfo, 'smoothLoss'> {
  let samples = 0;
  let lossSum = 0;
  for (const { msg } of done) {
    if (msg.step !== s.step)
      throw new WorkerFailure(`worker answered step ${msg.step} while the coordinator waited for step ${s.step}`, null);
    samples += msg.n;
    lossSum += msg.loss * msg.n;
  }
  const slowest = done.reduce((a, d) => (d.msg.computeMs + d.msg.allreduceMs > a.msg.computeMs + a.msg.allreduceMs ? d : a));
  return {
    ...s,
    loss: lossSum / samples,
    samples,
    samplesPerSec: samples / (Math.max(1, wallMs) / 1000),
    computeMs: slowest.msg.computeMs,
    allreduceMs: slowest.msg.allreduceMs,
    allreduceWaitMs: slowest.msg.allreduceWaitMs,
    allreduceBytes: done[0].msg.allreduceBytes,
    tensors: Math.max(...done.map((d) => d.msg.tensors)),
    rssBytes: Math.max(...done.map((d) => d.msg.rssBytes)),
    jsHeapBytes: Math.max(...done.map((d) => d.msg.jsHeapBytes)),
  };
}

/** One rank's validation orders for run epoch `runEpoch` (no shuffle, no drop_last). */
export function validateOrder(s: Sampling, runEpoch: number, rank: number, world: number): CoordMsg {
  const order = epochOrder(s.nValid, s.seed, runEpoch, false);
  return { type: 'validate', epoch: runEpoch, batches: batches(shard(order, rank, world), s.bs, false) };
}

/** The validation replies summed: loss, accuracy, samples, and each rank's weight hash (they must agree). */
export function validation(
  s: Sampling,
  runEpoch: number,
  done: Reply<'validDone'>[],
): { validLoss: number; accuracy: number; errorRate: number; validSamples: number; rankHashes: string[] } {
  const hashes = new Set(done.map((d) => d.msg.weightsHash));
  if (hashes.size > 1) {
    const list = done.map((d, r) => `rank ${r}: ${d.msg.weightsHash}`).join(', ');
    throw new WorkerFailure(`replicas diverged after epoch ${runEpoch}: weight hashes differ (${list})`, null);
  }
  let n = 0;
  let lossSum = 0;
  let correct = 0;
  for (const { msg } of done) {
    n += msg.n;
    lossSum += msg.lossSum;
    correct += msg.correct;
  }
  if (n !== s.nValid) throw new WorkerFailure(`validation counted ${n} samples, expected ${s.nValid}`, null);
  const accuracy = correct / n;
  return { validLoss: lossSum / n, accuracy, errorRate: 1 - accuracy, validSamples: n, rankHashes: done.map((d) => d.msg.weightsHash) };
}
