/**
 * The coordinator's training loop is event-shaped (fastai's _with_events): the loop only fires
 * events; printing, progress bars, metrics files and checks are callbacks with an order.
 */
import type { Phase } from '../shared/plan';

/** A finished training step, aggregated over all workers. */
export interface StepInfo {
  phase: Phase;
  phaseIndex: number;
  epoch: number;
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
  /** Largest live-tensor count and resident memory over the workers after the step. */
  tensors: number;
  rssBytes: number;
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

/** Callbacks: every hook optional; lower `order` runs first. */
export interface Callback {
  order?: number;
  beforeFit?(plan: Phase[]): void | Promise<void>;
  beforePhase?(phase: Phase, index: number): void | Promise<void>;
  beforeEpoch?(phase: Phase, epoch: number, batchesPerEpoch: number): void | Promise<void>;
  afterStep?(info: StepInfo): void | Promise<void>;
  beforeValidate?(phase: Phase, epoch: number): void | Promise<void>;
  afterEpoch?(info: EpochInfo): void | Promise<void>;
  afterPhase?(phase: Phase, index: number): void | Promise<void>;
  afterFit?(): void | Promise<void>;
}

type Hook = Exclude<keyof Callback, 'order'>;

/** Each callback list sorted once (events fire every step; the list is fixed for a run). */
const sortedLists = new WeakMap<Callback[], { length: number; sorted: Callback[] }>();

function inOrder(cbs: Callback[]): Callback[] {
  const cached = sortedLists.get(cbs);
  if (cached && cached.length === cbs.length) return cached.sorted;
  const sorted = [...cbs].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
  sortedLists.set(cbs, { length: cbs.length, sorted });
  return sorted;
}

/** Runs one hook on every callback in order. */
export async function fire<H extends Hook>(cbs: Callback[], hook: H, ...args: Parameters<NonNullable<Callback[H]>>): Promise<void> {
  for (const cb of inOrder(cbs)) {
    const fn = cb[hook] as ((...a: unknown[]) => void | Promise<void>) | undefined;
    if (fn) await fn.apply(cb, args);
  }
}
