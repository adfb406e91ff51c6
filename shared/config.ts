/**
 * The run configuration: one typed options object, defaults resolved in one place. The coordinator
 * owns it and sends it to every worker in the welcome message.
 */

import { ALLREDUCE_REQUESTS, type AllReduceRequest } from './allreduce-choice';
import { ADAM_DEFAULTS } from './optim';
import { FINE_TUNE_DEFAULTS } from './plan';
import { arrayOf, count, either, finite, flag, integer, nullable, oneOf, optional, record, text, tupleOf, type Check } from './schema';

export const PLAN_KINDS = ['fine_tune', 'fit_one_cycle'] as const;
export type PlanKind = (typeof PLAN_KINDS)[number];

/** What `--backend` accepts (worker/backend.ts turns it into a tfjs backend). */
export const BACKEND_CHOICES = ['auto', 'wasm', 'cpu', 'webgpu', 'tensorflow'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Gradient encodings on the ZeroMQ ring's wire; a ring frame header carries the index into this list. */
export const GRAD_DTYPES = ['f32', 'bf16', 'fp16'] as const;
export type GradDtype = (typeof GRAD_DTYPES)[number];

/** fastai create_head's defaults: lin_ftrs [512], ps 0.5, first_bn True. */
export const HEAD_DEFAULTS: { linFtrs: readonly number[]; ps: number; firstBn: boolean } = { linFtrs: [512], ps: 0.5, firstBn: true };

/** lr_find's suggestion rules: named in place of --base-lr / --lr-max, lr_find runs first and picks the LR. */
export const LR_SUGGESTIONS = ['valley', 'steep', 'minimum', 'slide'] as const;
export type LrSuggestionName = (typeof LR_SUGGESTIONS)[number];

/** The loss function: softmax cross-entropy, or fastai's LabelSmoothingCrossEntropy (eps 0.1). */
export const LOSS_KINDS = ['cross-entropy', 'label-smoothing'] as const;
export type LossKind = (typeof LOSS_KINDS)[number];

/** Everything a run needs, after defaults. Plain data: it travels in msgpack and lands in checkpoints. */
export interface RunConfig {
  data: string;
  validPct: number;
  seed: number;
  arch: string;
  pretrained: string | null;
  nClasses: number;
  size: number;
  bs: number;
  wd: number;
  groups: number | null;
  plan: PlanKind;
  epochs: number;
  freezeEpochs: number;
  baseLr: number;
  lrMult: number;
  lrMax: number | number[] | { start?: number; stop: number } | null;
  /** Run lr_find first and train with this suggestion as base_lr (fine_tune) or lr_max (fit_one_cycle). */
  lrFrom: LrSuggestionName | null;
  pctStart: number | null;
  div: number | null;
  divFinal: number | null;
  moms: [number, number, number] | null;
  backend: BackendChoice;
  out: string;
  flip: boolean;
  minScale: number;
  loss: LossKind;
  /** Train without images that fail to decode (reported by name) instead of stopping. */
  skipBadImages: boolean;
  /** fastai create_head: hidden sizes, last dropout, BN before the first Dense. */
  linFtrs: number[];
  ps: number;
  firstBn: boolean;
  /** Checkpoint every N steps (0: only at epoch ends), keeping the newest `keepCheckpoints`. */
  checkpointEvery: number;
  keepCheckpoints: number;
  /** How gradients are summed: shared memory on one host, the ZeroMQ ring, or auto (see allreduce-choice.ts). */
  allreduce: AllReduceRequest;
  /** Gradient encoding on the ZeroMQ ring's wire (sums stay fp32). */
  gradDtype: GradDtype;
  /** Gradient bucket size in MiB: each bucket's all-reduce starts while later ones are still read back. */
  bucketMb: number;
}

/**
 * The run config's check, as every worker applies it to the welcome. Typed against RunConfig, so
 * a field added there without its check here does not compile.
 */
export const runConfig: Check<RunConfig> = record(
  {
    data: text,
    validPct: finite,
    seed: integer,
    arch: text,
    pretrained: nullable(text),
    nClasses: count,
    size: count,
    bs: count,
    wd: finite,
    groups: nullable(count),
    plan: oneOf(PLAN_KINDS),
    epochs: count,
    freezeEpochs: count,
    baseLr: finite,
    lrMult: finite,
    lrMax: nullable(either(finite, arrayOf(finite), record({ start: optional(finite), stop: finite }))),
    lrFrom: nullable(oneOf(LR_SUGGESTIONS)),
    pctStart: nullable(finite),
    div: nullable(finite),
    divFinal: nullable(finite),
    moms: nullable(tupleOf(finite, 3) as Check<[number, number, number]>),
    backend: oneOf(BACKEND_CHOICES),
    out: text,
    flip: flag,
    minScale: finite,
    loss: oneOf(LOSS_KINDS),
    skipBadImages: flag,
    linFtrs: arrayOf(count),
    ps: finite,
    firstBn: flag,
    checkpointEvery: count,
    keepCheckpoints: count,
    allreduce: oneOf(ALLREDUCE_REQUESTS),
    gradDtype: oneOf(GRAD_DTYPES),
    bucketMb: finite,
  },
  'a run config (shared/config.ts RunConfig)',
);

/**
 * Every run option's default, resolved here once: fastai's (fine_tune, Adam, create_head) taken from
 * the modules that implement them, plus ringtune's own. `null` leaves a value to the plan (shared/plan.ts).
 */
export const DEFAULTS: Omit<RunConfig, 'data' | 'nClasses'> = {
  validPct: 0.2,
  seed: 42,
  arch: 'resnet-small',
  pretrained: null,
  size: 28,
  bs: 64,
  wd: ADAM_DEFAULTS.wd,
  groups: null,
  plan: 'fine_tune',
  epochs: 1,
  freezeEpochs: FINE_TUNE_DEFAULTS.freezeEpochs,
  baseLr: FINE_TUNE_DEFAULTS.baseLr,
  lrMult: FINE_TUNE_DEFAULTS.lrMult,
  lrMax: null,
  lrFrom: null,
  pctStart: null,
  div: null,
  divFinal: null,
  moms: null,
  backend: 'auto',
  out: 'runs/latest',
  flip: true,
  minScale: 0.08,
  loss: 'cross-entropy',
  skipBadImages: false,
  linFtrs: [...HEAD_DEFAULTS.linFtrs],
  ps: HEAD_DEFAULTS.ps,
  firstBn: HEAD_DEFAULTS.firstBn,
  checkpointEvery: 0,
  keepCheckpoints: 3,
  allreduce: 'auto',
  gradDtype: 'f32',
  bucketMb: 25,
};
