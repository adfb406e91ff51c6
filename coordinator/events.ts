/**
 * The coordinator's training loop is event-shaped (fastai's Learner._with_events): every level of
 * it (fit, phase, epoch, train, step, validate) runs through `withEvents`, which fires
 * before<Level>, runs the level, fires afterCancel<Level> if the level's Cancel error was raised,
 * and then after<Level>. Printing, progress bars, metrics files, plots, checkpoints and lr_find are
 * callbacks with an order; a callback skips or stops work by raising a Cancel error, never a flag.
 */
import type { Phase } from '../shared/plan';
import type { ProgressView } from './progress';

/** A finished training step, aggregated over all workers. */
export interface StepInfo {
  phase: Phase;
  phaseIndex: number;
  epoch: number;
  /** Iteration within the phase (epoch * batchesPerEpoch + batch). */
  iter: number;
  batchesPerEpoch: number;
  step: number;
  loss: number;
  smoothLoss: number;
  lrs: number[];
  mom: number;
  samples: number;
  samplesPerSec: number;
  computeMs: number;
  allreduceMs: number;
  /** Part of allreduceMs the slowest worker spent waiting for its peers to arrive. */
  allreduceWaitMs: number;
  allreduceBytes: number;
  /** Largest live-tensor count, resident memory and V8 heap (part of the resident memory) over the workers after the step. */
  tensors: number;
  rssBytes: number;
  jsHeapBytes: number;
}

/** A finished epoch: what fastai's results table shows. */
export interface EpochInfo {
  phase: Phase;
  phaseIndex: number;
  epoch: number;
  trainLoss: number;
  validLoss: number;
  accuracy: number;
  errorRate: number;
  seconds: number;
  validSamples: number;
  /** Each rank's weight hash after the epoch, in rank order (identical, or the run has stopped). */
  rankHashes: string[];
}

/** A step's hyper-parameters: the LR of every parameter group and the momentum. */
export interface Hypers {
  lrs: number[];
  mom: number;
}

/** What callbacks see of a running fit (fastai's Learner attributes). */
export interface FitState {
  readonly plan: Phase[];
  /** Where the fit stands; only the loop moves it. */
  readonly progress: ProgressView;
  /** Hyper-parameters of the step about to be ordered: the phase's schedule, unless a beforeStep replaces them. */
  hypers: Hypers;
  /** The step whose afterStep fires (null if it was cancelled before its order). */
  readonly stepDone: StepInfo | null;
  /** The epoch whose afterEpoch fires (null if it ended before its validation did). */
  readonly epochDone: EpochInfo | null;
}

/** FitState as the loop sees it: its to write. */
export type LoopState = { -readonly [K in keyof FitState]: FitState[K] };

export type Level = 'Fit' | 'Phase' | 'Epoch' | 'Train' | 'Step' | 'Validate';
export type Hook = `before${Level}` | `afterCancel${Level}` | `after${Level}`;

/** Callbacks: every hook optional, each called with the fit's state; lower `order` runs first. */
export type Callback<S = FitState> = { order?: number } & { [H in Hook]?: (state: S) => void | Promise<void> };

/** Raised by a callback to cancel the level of the same name (the fastai Cancel*Exception family). */
export class CancelError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = new.target.name;
  }
}
export class CancelFitError extends CancelError {}
export class CancelPhaseError extends CancelError {}
export class CancelEpochError extends CancelError {}
export class CancelTrainError extends CancelError {}
export class CancelStepError extends CancelError {}
export class CancelValidError extends CancelError {}

/** The callbacks of one fit, sorted once, and the state they are called with. */
export class Events<S = FitState> {
  private readonly cbs: Callback<S>[];

  constructor(
    cbs: Callback<S>[],
    private readonly state: S,
  ) {
    this.cbs = [...cbs].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
  }

  /** Runs one hook on every callback in order. */
  async fire(hook: Hook): Promise<void> {
    for (const cb of this.cbs) await cb[hook]?.call(cb, this.state);
  }

  /**
   * fastai's _with_events: before<name>, the body, afterCancel<name> if `Cancel` was raised (in the
   * before hooks or the body), then after<name>. Any other error, a Cancel error of an outer
   * level included, passes through without after<name>, up to the level it cancels.
   */
  async withEvents(name: Level, body: () => Promise<void>, Cancel: new () => CancelError): Promise<void> {
    try {
      await this.fire(`before${name}`);
      await body();
    } catch (e) {
      if (!(e instanceof Cancel)) throw e;
      await this.fire(`afterCancel${name}`);
    }
    await this.fire(`after${name}`);
  }
}
