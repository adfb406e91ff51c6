/**
 * `--base-lr valley` (or steep, minimum, slide; `--lr-max NAME` with --fit-one-cycle): fastai's
 * workflow of running lr_find, reading its suggestion and training with it, in one command. The
 * sweep runs on the plan's first phase (fine_tune: the frozen model, where fastai users call
 * lr_find after vision_learner), prints and plots as `ringtune lr-find` does, restores the weights
 * bitwise, and the run then trains with the suggested LR in place of the name.
 */
import type { RunConfig } from '../shared/config';
import type { Phase } from '../shared/plan';
import type { WorkerHub } from './hub';
import { lrFind } from './lr-find';
import type { Sampling } from './orders';

/** The config with lr_find's `config.lrFrom` suggestion as base_lr or lr_max (unchanged when there is none). */
export async function withSuggestedLr(
  hub: WorkerHub,
  config: RunConfig,
  o: { phase: Phase; sampling: Sampling; timeoutMs: number; log: (line: string) => void },
): Promise<RunConfig> {
  if (!config.lrFrom) return config;
  const which = config.plan === 'fit_one_cycle' ? 'lr_max' : 'base_lr';
  o.log(`ringtune: lr_find first, for ${which} = its ${config.lrFrom} suggestion (groups [0, ${o.phase.freezeTo}) frozen)`);
  const { suggestions } = await lrFind(hub, { ...o.sampling, phase: o.phase, out: config.out, timeoutMs: o.timeoutMs, log: o.log });
  const lr = suggestions[config.lrFrom].lr;
  o.log(`ringtune: training with ${which} ${lr.toExponential(2)} (lr_find's ${config.lrFrom})`);
  return config.plan === 'fit_one_cycle' ? { ...config, lrMax: lr } : { ...config, baseLr: lr };
}
