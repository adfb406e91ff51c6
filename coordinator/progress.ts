/**
 * Where a fit stands: phase, epoch, batch, step and the phase's smoothed loss. The fit loop is its
 * one owner (fastai's Learner and TrainEvalCallback keep the same counters); callbacks read it
 * through ProgressView, and a checkpoint records it as a Position.
 */
import type { Phase } from '../shared/plan';
import { SmoothLoss } from './report';
import type { PhaseSchedule, Position } from './checkpoint';
import type { Stretch } from '../shared/sampler';

const BEGINNING: Position = { phase: 0, epoch: 0, iter: 0, step: 0, runEpoch: 0, smooth: { val: 0, n: 0 } };

/** What callbacks may read of the progress. */
export interface ProgressView {
  readonly phaseIndex: number;
  readonly phase: Phase;
  /** Epoch within the phase, and over the whole run (it seeds the shuffle). */
  readonly epoch: number;
  readonly runEpoch: number;
  /** 0 until the epoch's batches are drawn. */
  readonly batchesPerEpoch: number;
  /** The next batch of the epoch to order, and that iteration counted within the phase. */
  readonly iter: number;
  readonly phaseIter: number;
  /** Steps ordered over the whole run: the number of the next one. */
  readonly step: number;
  /** fastai Recorder's smoothed training loss of the phase so far. */
  readonly smoothLoss: number;
  /** Stretches of this epoch trained at another world size before its current batches (Note [resize]). */
  readonly settled: readonly Stretch[];
  /** The schedule's position (0..1) of the next step when a change of world size set it, else null (the plan's own by iteration). */
  readonly schedulePos: number | null;
  /** The position of the next step to order, as a checkpoint records it. */
  position(): Position;
  /** The position once this epoch is over: the next epoch's start, or the next phase's. */
  positionAfterEpoch(): Position;
}

export class Progress implements ProgressView {
  phaseIndex: number;
  epoch: number;
  runEpoch: number;
  batchesPerEpoch = 0;
  iter: number;
  step: number;
  settled: Stretch[];
  schedule: PhaseSchedule | null;
  readonly smooth = new SmoothLoss();

  constructor(
    private readonly plan: Phase[],
    start: Position = BEGINNING,
  ) {
    ({ phase: this.phaseIndex, epoch: this.epoch, runEpoch: this.runEpoch, iter: this.iter, step: this.step } = start);
    this.settled = start.settled ?? [];
    this.schedule = start.schedule ?? null;
    this.smooth.restore(start.smooth);
  }

  get schedulePos(): number | null {
    const s = this.schedule;
    return s ? s.pos + ((1 - s.pos) * (this.step - s.fromStep)) / s.steps : null;
  }

  get phase(): Phase {
    return this.plan[this.phaseIndex];
  }

  get phaseIter(): number {
    return this.epoch * this.batchesPerEpoch + this.iter;
  }

  get smoothLoss(): number {
    return this.smooth.value;
  }

  /** On to the next phase: its first epoch, a fresh smoothed loss (fastai resets it per fit call). */
  nextPhase(): void {
    this.phaseIndex += 1;
    this.epoch = 0;
    this.iter = 0;
    this.settled = [];
    this.schedule = null;
    this.smooth.reset();
  }

  /** On to the next epoch of the phase. */
  nextEpoch(): void {
    this.epoch += 1;
    this.runEpoch += 1;
    this.iter = 0;
    this.settled = [];
  }

  position(): Position {
    return {
      phase: this.phaseIndex,
      epoch: this.epoch,
      iter: this.iter,
      step: this.step,
      runEpoch: this.runEpoch,
      smooth: this.smooth.state(),
      ...(this.settled.length > 0 ? { settled: this.settled } : {}),
      ...(this.schedule ? { schedule: this.schedule } : {}),
    };
  }

  positionAfterEpoch(): Position {
    const phaseDone = this.epoch + 1 >= this.phase.epochs;
    return {
      phase: this.phaseIndex + (phaseDone ? 1 : 0),
      epoch: phaseDone ? 0 : this.epoch + 1,
      iter: 0,
      step: this.step,
      runEpoch: this.runEpoch + 1,
      smooth: phaseDone ? { val: 0, n: 0 } : this.smooth.state(),
      ...(this.schedule && !phaseDone ? { schedule: this.schedule } : {}),
    };
  }
}
