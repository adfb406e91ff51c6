/**
 * The coordinator's fit loop, in fastai's shape: fit -> phases -> epochs -> train (steps), then
 * validate, each level run through withEvents, so callbacks hear before/after (and afterCancel) of
 * every level and cancel one by raising its error. The loop orders the steps, moves the progress
 * and sums what workers report; it never touches tensors. Schedules beyond the plan's own,
 * checkpoints, lr_find and all output are callbacks.
 */
import type { Phase } from '../shared/plan';
import { Events, CancelError, CancelFitError, CancelPhaseError, CancelEpochError, type Callback, type LoopState } from './events';
import { CancelTrainError, CancelStepError, CancelValidError } from './events';
import { epochBatches, scheduled, sentStep, stepOrder, stepReport, validateOrder, validation, type Batch, type Sampling } from './orders';
import { Progress } from './progress';
import type { WorkerHub } from './hub';
import type { Position } from './checkpoint';

/** What the loop needs besides the hub. */
export interface FitOptions extends Sampling {
  plan: Phase[];
  callbacks: Callback[];
  /** Longest wait for any worker reply. */
  timeoutMs: number;
  /** Where to start (a resumed run); the beginning when absent. */
  start?: Position;
}

/** Runs the plan from `o.start`. Returns the number of optimizer steps taken in total. */
export async function fit(hub: WorkerHub, o: FitOptions): Promise<number> {
  const p = new Progress(o.plan, o.start);
  const f: LoopState = { plan: o.plan, progress: p, hypers: { lrs: [], mom: 0 }, stepDone: null, epochDone: null };
  const events = new Events(o.callbacks, f);
  let perRank: Batch[][] = [];
  let lastReport = Date.now();

  async function allPhases(): Promise<void> {
    for (; p.phaseIndex < o.plan.length; p.nextPhase()) {
      lastReport = Date.now();
      await events.withEvents('Phase', allEpochs, CancelPhaseError);
    }
  }

  async function allEpochs(): Promise<void> {
    for (; p.epoch < p.phase.epochs; p.nextEpoch()) {
      perRank = epochBatches(o, p.runEpoch, hub.world, p.settled);
      p.batchesPerEpoch = perRank[0].length;
      f.epochDone = null;
      await events.withEvents('Epoch', () => oneEpoch(Date.now()), CancelEpochError);
    }
  }

  async function oneEpoch(t0: number): Promise<void> {
    await events.withEvents('Train', allSteps, CancelTrainError);
    await events.withEvents('Validate', () => validate(t0), CancelValidError);
  }

  // Note [steps in flight]: step j is ordered before step j-1's reports are collected, so a worker
  // always has its next orders queued and never waits on the coordinator's round trip. Each step
  // runs through withEvents from beforeStep (where callbacks may set its hypers) to afterStep (its
  // reports in), so the events of consecutive steps overlap by one: beforeStep and the order of
  // step j come before the reports and afterStep of step j-1. A step that a cancel leaves in flight
  // is collected (the workers ran it; its step number is spent) but no callback hears of it.
  async function allSteps(): Promise<void> {
    let inFlight: Finish | null = null;
    try {
      for (; p.iter < p.batchesPerEpoch; p.iter++) {
        const previous = inFlight;
        inFlight = await startStep();
        await previous?.();
      }
    } catch (e) {
      if (e instanceof CancelError && inFlight) await hub.gather('stepDone', o.timeoutMs);
      throw e;
    }
    await inFlight?.();
  }

  /** Runs the step's withEvents up to its order; resolves with its Finish, or null if it ended unordered (cancelled). */
  function startStep(): Promise<Finish | null> {
    f.hypers = scheduled(p);
    f.stepDone = null;
    return new Promise((ordered, failed) => {
      const done = events.withEvents('Step', () => oneStep((turn) => ordered(() => (turn(), done))), CancelStepError);
      done.then(() => ordered(null), failed);
    });
  }

  /** Orders the step, waits for its turn (handed to `ordered`), then collects its reports. */
  async function oneStep(ordered: (turn: () => void) => void): Promise<void> {
    const sent = sentStep(p, f.hypers);
    await hub.broadcast((r) => stepOrder(sent, p.runEpoch, perRank[r], p.iter));
    p.step += 1;
    await new Promise<void>((turn) => ordered(turn));
    const report = stepReport(sent, await hub.gather('stepDone', o.timeoutMs), Date.now() - lastReport);
    lastReport = Date.now();
    f.stepDone = { ...report, smoothLoss: p.smooth.add(report.loss) };
  }

  async function validate(t0: number): Promise<void> {
    await hub.broadcast((r) => validateOrder(o, p.runEpoch, r, hub.world));
    const valid = validation(o, p.runEpoch, await hub.gather('validDone', o.timeoutMs));
    const seconds = (Date.now() - t0) / 1000;
    f.epochDone = { phase: p.phase, phaseIndex: p.phaseIndex, epoch: p.epoch, trainLoss: p.smoothLoss, seconds, ...valid };
  }

  await events.withEvents('Fit', allPhases, CancelFitError);
  return p.step;
}

/** Lets an ordered step collect its reports and fire afterStep: Note [steps in flight]. */
type Finish = () => Promise<void>;
