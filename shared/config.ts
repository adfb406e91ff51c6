/**
 * The run configuration: one typed options object, defaults resolved in one place. The coordinator
 * owns it and sends it to every worker in the welcome message.
 */

export type PlanKind = 'fine_tune' | 'fit_one_cycle';

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
  pctStart: number | null;
  div: number | null;
  divFinal: number | null;
  moms: [number, number, number] | null;
  backend: string;
  out: string;
  flip: boolean;
  minScale: number;
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
  allreduce: 'auto' | 'shm' | 'ring';
  /** Gradient encoding on the ZeroMQ ring's wire (sums stay fp32). */
  gradDtype: 'f32' | 'bf16' | 'fp16';
  /** Gradient bucket size in MiB: each bucket's all-reduce starts while later ones are still read back. */
  bucketMb: number;
}

/** fastai's defaults (fine_tune, Adam, vision_learner) plus ringtune's own. */
export const DEFAULTS: Omit<RunConfig, 'data' | 'nClasses'> = {
  validPct: 0.2,
  seed: 42,
  arch: 'resnet-small',
  pretrained: null,
  size: 28,
  bs: 64,
  wd: 0.01,
  groups: null,
  plan: 'fine_tune',
  epochs: 1,
  freezeEpochs: 1,
  baseLr: 2e-3,
  lrMult: 100,
  lrMax: null,
  pctStart: null,
  div: null,
  divFinal: null,
  moms: null,
  backend: 'auto',
  out: 'runs/latest',
  flip: true,
  minScale: 0.35,
  skipBadImages: false,
  linFtrs: [512],
  ps: 0.5,
  firstBn: true,
  checkpointEvery: 0,
  keepCheckpoints: 3,
  allreduce: 'auto',
  gradDtype: 'f32',
  bucketMb: 25,
};
