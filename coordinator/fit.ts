/**
 * The coordinator's fit loop: phases -> epochs -> steps. It computes the schedule and the shards,
 * orders every step, aggregates what workers report and fires events. It never touches tensors.
 */
import { hypersAt, type Phase } from '../shared/plan';
import { epochOrder, shard, batches } from '../shared/sampler';
import type { StepOrder } from '../shared/protocol';
import { SmoothLoss } from './report';
import { fire, type Callback } from './events';
import { WorkerFailure, type WorkerHub } from './hub';
import type { Position } from './checkpoint';

/** What the loop needs besides the hub. */
export interface FitOptions {
  plan: Phase[];
  nTrain: number;
  nValid: number;
  bs: number;
  seed: number;
  callbacks: Callback[];
  /** Longest wait for any worker reply. */
  timeoutMs: number;
  /** Where to start (a resumed run); the beginning when absent. */
  start?: Position;
  /** Saves a checkpoint of the state at `pos` (every `checkpointEvery` steps and after every epoch). */
  checkpoint?: (pos: Position) => Promise<void>;
  checkpointEvery?: number;
}

const BEGINNING: Position = { phase: 0, epoch: 0, iter: 0, step: 0, runEpoch: 0, smooth: { val: 0, n: 0 } };

/** Runs the plan from `o.start`. Returns the number of optimizer steps taken in total. */
export async function fit(hub: WorkerHub, o: FitOptions): Promise<number> {
  const world = hub.world;
  const start = o.start ?? BEGINNING;
  let step = start.step;
  let runEpoch = start.runEpoch;
  await fire(o.callbacks, 'beforeFit', o.plan);
  for (let pi = start.phase; pi < o.plan.length; pi++) {
    const phase = o.plan[pi];
    const resuming = pi === start.phase;
    const smooth = new SmoothLoss();
    if (resuming) smooth.restore(start.smooth);
    const clock = { last: Date.now() };
    await fire(o.callbacks, 'beforePhase', phase, pi);
    for (let epoch = resuming ? start.epoch : 0; epoch < phase.epochs; epoch++, runEpoch++) {
      const t0 = Date.now();
      const order = epochOrder(o.nTrain, o.seed, runEpoch, true);
      const perRank = Array.from({ length: world }, (_, r) => batches(shard(order, r, world), o.bs, true));
      const n = perRank[0].length;
      if (n === 0)
        throw new WorkerFailure(
          `the training set has ${o.nTrain} images: fewer than one batch per worker (bs ${o.bs} x ${world} workers); lower --bs`,
          null,
        );
      await fire(o.callbacks, 'beforeEpoch', phase, epoch, n);
      // Note [steps in flight]: step j is ordered before step j-1's reports are collected, so a
      // worker always has its next orders queued and never waits on the coordinator's round trip.
      let previous: StepContext | null = null;
      const first = resuming && epoch === start.epoch ? start.iter : 0;
      for (let j = first; j < n; j++) {
        const { lr, mom } = hypersAt(phase, epoch * n + j, n);
        await hub.broadcast((r): StepOrder => ({
          type: 'step',
          step,
          phase: pi,
          phaseName: phase.name,
          epoch: runEpoch,
          freezeTo: phase.freezeTo,
          lrs: lr,
          mom,
          indices: perRank[r][j].indices,
          next: j + 1 < n ? perRank[r][j + 1].indices : null,
        }));
        if (previous) await collectStep(hub, o, previous);
        previous = { phase, pi, epoch, iter: epoch * n + j, n, step, lrs: lr, mom, smooth, clock };
        step++;
        if (o.checkpoint && o.checkpointEvery && step % o.checkpointEvery === 0 && j + 1 < n) {
          await collectStep(hub, o, previous);
          previous = null;
          await o.checkpoint({ phase: pi, epoch, iter: j + 1, step, runEpoch, smooth: smooth.state() });
        }
      }
      if (previous) await collectStep(hub, o, previous);
      await fire(o.callbacks, 'beforeValidate', phase, epoch);
      const valid = await validate(hub, o, runEpoch);
      await fire(o.callbacks, 'afterEpoch', {
        phase,
        phaseIndex: pi,
        epoch,
        trainLoss: smooth.value,
        validLoss: valid.loss,
        accuracy: valid.accuracy,
        errorRate: 1 - valid.accuracy,
        seconds: (Date.now() - t0) / 1000,
        validSamples: valid.n,
        rankHashes: valid.hashes,
      });
      const next = epoch + 1 < phase.epochs ? { phase: pi, epoch: epoch + 1 } : { phase: pi + 1, epoch: 0 };
      await o.checkpoint?.({
        ...next,
        iter: 0,
        step,
        runEpoch: runEpoch + 1,
        smooth: next.phase === pi ? smooth.state() : { val: 0, n: 0 },
      });
    }
    await fire(o.callbacks, 'afterPhase', phase, pi);
  }
  await fire(o.callbacks, 'afterFit');
  return step;
}

interface StepContext {
  phase: Phase;
  pi: number;
  epoch: number;
  iter: number;
  n: number;
  step: number;
  lrs: number[];
  mom: number;
  smooth: SmoothLoss;
  clock: { last: number };
}

async function collectStep(hub: WorkerHub, o: FitOptions, c: StepContext): Promise<void> {
  const done = await hub.gather('stepDone', o.timeoutMs);
  const now = Date.now();
  const wallMs = Math.max(1, now - c.clock.last);
  c.clock.last = now;
  let samples = 0;
  let lossSum = 0;
  for (const { msg } of done) {
    if (msg.step !== c.step)
      throw new WorkerFailure(`worker answered step ${msg.step} while the coordinator waited for step ${c.step}`, null);
    samples += msg.n;
    lossSum += msg.loss * msg.n;
  }
  const loss = lossSum / samples;
  c.smooth.add(loss);
  const slowest = done.reduce((a, d) => (d.msg.computeMs + d.msg.allreduceMs > a.msg.computeMs + a.msg.allreduceMs ? d : a));
  await fire(o.callbacks, 'afterStep', {
    phase: c.phase,
    phaseIndex: c.pi,
    epoch: c.epoch,
    iter: c.iter,
    batchesPerEpoch: c.n,
    step: c.step,
    loss,
    smoothLoss: c.smooth.value,
    lrs: c.lrs,
    mom: c.mom,
    samples,
    samplesPerSec: samples / (wallMs / 1000),
    computeMs: slowest.msg.computeMs,
    allreduceMs: slowest.msg.allreduceMs,
    allreduceWaitMs: slowest.msg.allreduceWaitMs,
    allreduceBytes: done[0].msg.allreduceBytes,
    tensors: Math.max(...done.map((d) => d.msg.tensors)),
    rssBytes: Math.max(...done.map((d) => d.msg.rssBytes)),
  });
}

async function validate(
  hub: WorkerHub,
  o: FitOptions,
  runEpoch: number,
): Promise<{ loss: number; accuracy: number; n: number; hashes: string[] }> {
  const order = epochOrder(o.nValid, o.seed, runEpoch, false);
  await hub.broadcast((r) => ({ type: 'validate', epoch: runEpoch, batches: batches(shard(order, r, hub.world), o.bs, false) }));
  const done = await hub.gather('validDone', o.timeoutMs);
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
  if (n !== o.nValid) throw new WorkerFailure(`validation counted ${n} samples, expected ${o.nValid}`, null);
  return { loss: lossSum / n, accuracy: correct / n, n, hashes: done.map((d) => d.msg.weightsHash) };
}
