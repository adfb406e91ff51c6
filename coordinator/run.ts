/**
 * A whole run from the coordinator's side: scan the data, gather the workers, check they start
 * identical, wire the ring, run the plan, save the model. Rank 0 serializes the final model; the
 * coordinator writes the files (it owns the output folder).
 */
import { mkdirSync, rmSync } from 'fs';
import { writeFileAtomic } from '../shared/files';
import { join } from 'path';
import { scanImageFolders, describeSkipped } from '../shared/data/folders';
import { fineTunePlan, fitOneCyclePlan, ONE_CYCLE_DEFAULTS, type Phase } from '../shared/plan';
import { DEFAULTS, type RunConfig } from '../shared/config';
import { WorkerHub, WorkerFailure } from './hub';
import { wireAllReduce } from './wiring';
import { fit } from './fit';
import { tablePrinter, progressBarCallback } from './console-callbacks';
import { metricsLog } from './metrics-log';
import { plotsCallback } from './plots-callback';
import type { Callback } from './events';
import { lrFind } from './lr-find';
import { withSuggestedLr } from './lr-from';
import { jobKeysFromEnv } from '../shared/curve';
import type { LrFindOptions } from '../shared/lr-find';
import { loadResume, restoreWorkers, resumePosition } from './resume';
import { checkpointer } from './checkpointer';

/** Skip reasons that are not damaged images: other files in a class folder are just ignored. */
const NOT_IMAGES = new Set(['not a file (sub-folders are not scanned)', 'not an image file extension']);

/** How the coordinator listens and what it runs. */
export interface CoordinatorOptions {
  bind: string;
  world: number;
  /** The run to start; or, with `resume`, taken from the checkpoint. */
  config?: Omit<RunConfig, 'nClasses'>;
  /** A checkpoint folder (or a run folder: its newest checkpoint) to continue (coordinator/resume.ts), in `out` if given. */
  resume?: string;
  out?: string;
  /** Run fastai's lr_find instead of training (weights are restored afterwards, nothing is saved but the plot). */
  lrFind?: LrFindOptions;
  /** Extra callbacks (tests use them to observe the run). */
  callbacks?: Callback[];
  log?: (line: string) => void;
  /** Called once the control socket is bound (with its resolved address). */
  onListening?: (endpoint: string) => void;
  /** Called (and awaited) with every worker's ring endpoint before the ring is wired (tests attack them). */
  onRing?: (endpoints: string[]) => void | Promise<void>;
  timeoutMs?: number;
  /** A failure will be followed by a restart (ringtune run --max-restarts): the workers' abort says so. */
  restartable?: boolean;
}

/** What a finished run leaves behind. */
export interface RunSummary {
  steps: number;
  classes: string[];
  out: string;
  finalAccuracy: number | null;
}

/** The phases a config asks for, given the model's number of parameter groups. */
export function planFor(c: Omit<RunConfig, 'nClasses'>, groups: number): Phase[] {
  const common = {
    groups,
    pctStart: c.pctStart ?? undefined,
    div: c.div ?? undefined,
    divFinal: c.divFinal ?? undefined,
    moms: c.moms ?? undefined,
  };
  // fit_one_cycle without --lr-max peaks at fastai's Learner.lr (1e-3), as `ringtune schedule` shows.
  if (c.plan === 'fit_one_cycle') return fitOneCyclePlan({ ...common, epochs: c.epochs, lrMax: c.lrMax ?? ONE_CYCLE_DEFAULTS.lr });
  return fineTunePlan({ ...common, epochs: c.epochs, baseLr: c.baseLr, freezeEpochs: c.freezeEpochs, lrMult: c.lrMult });
}

/** Runs the coordinator until the plan is done; throws WorkerFailure naming the rank on failure. */
export async function runCoordinator(o: CoordinatorOptions): Promise<RunSummary> {
  const log = o.log ?? ((l: string) => console.log(l));
  const timeoutMs = o.timeoutMs ?? 600_000;
  const resumed = o.resume ? loadResume(o.resume) : null;
  // A checkpoint from an older version lacks newer options: they take today's defaults, here, once.
  const base = resumed ? { ...DEFAULTS, ...resumed.meta.config, ...(o.out ? { out: o.out } : {}) } : o.config;
  if (!base) throw new Error('runCoordinator needs a config or a checkpoint to resume');
  const dataset = await scanImageFolders(base.data, { validPct: base.validPct, seed: base.seed, verify: true });
  const unreadable = dataset.skipped.filter((s) => !NOT_IMAGES.has(s.reason));
  if (unreadable.length > 0 && !base.skipBadImages) {
    throw new Error(
      `${unreadable.length} image(s) under ${base.data} cannot be read: ${describeSkipped(unreadable)}; fix or remove them, or pass --skip-bad-images`,
    );
  }
  if (dataset.skipped.length > 0) log(`ringtune: left out ${describeSkipped(dataset.skipped)}`);
  if (dataset.valid.length === 0) throw new Error(`no validation images under ${base.data}: add valid/<class>/ folders or use --valid-pct`);
  if (resumed && JSON.stringify(resumed.meta.classes) !== JSON.stringify(dataset.classes)) {
    throw new Error(
      `checkpoint ${resumed.dir} was trained on classes [${resumed.meta.classes.join(', ')}] but ${base.data} now has [${dataset.classes.join(', ')}]`,
    );
  }
  let config: RunConfig = { ...base, nClasses: dataset.classes.length };
  mkdirSync(config.out, { recursive: true });
  if (!resumed) rmSync(join(config.out, 'metrics.jsonl'), { force: true });

  const keys = jobKeysFromEnv();
  const hub = await WorkerHub.bind(o.bind, o.world, { log, keys, restartable: o.restartable });
  o.onListening?.(hub.endpoint);
  let reason = 'run finished';
  let failed = false;
  try {
    log(
      `ringtune: coordinator on ${hub.endpoint}${keys ? ' (CURVE: authenticated, encrypted)' : ''}, waiting for ${o.world} worker(s); ${dataset.train.length} training and ${dataset.valid.length} validation images, ${dataset.classes.length} classes`,
    );
    await hub.accept(timeoutMs);
    await hub.broadcast((rank) => ({ type: 'welcome', rank, world: o.world, config, items: dataset.train, validItems: dataset.valid }));
    hub.startLiveness();
    const ready = await hub.gather('ready', timeoutMs);
    const hashes = new Set(ready.map((r) => r.msg.weightsHash));
    if (hashes.size > 1)
      throw new WorkerFailure(
        `workers start from different weights (${ready.map((r, i) => `rank ${i}: ${r.msg.weightsHash}`).join(', ')})`,
        null,
      );
    const first = ready[0].msg;
    log(
      `ringtune: ${o.world} worker(s) ready on backend ${first.backend}; ${config.arch} (${config.pretrained ? `pretrained body from ${config.pretrained}` : 'random init'}), ${first.params} parameters in ${first.groups} groups, identical initial weights`,
    );
    await o.onRing?.(ready.map((r) => r.msg.ringEndpoint));
    await wireAllReduce(hub, { config, ready: ready.map((r) => r.msg), timeoutMs, log });

    const sampling = { nTrain: dataset.train.length, nValid: dataset.valid.length, bs: config.bs, seed: config.seed };
    // A resumed run already trains with the LR its lr_find picked (the checkpoint's config holds it).
    if (!resumed && !o.lrFind)
      config = await withSuggestedLr(hub, config, { phase: planFor(config, first.groups)[0], sampling, timeoutMs, log });
    const plan = planFor(config, first.groups);
    if (o.lrFind) {
      log(`ringtune: lr_find with groups [0, ${plan[0].freezeTo}) frozen (as the plan's first phase)`);
      await lrFind(hub, { ...o.lrFind, ...sampling, phase: plan[0], out: config.out, timeoutMs, log });
      return { steps: 0, classes: dataset.classes, out: config.out, finalAccuracy: null };
    }
    const resumedAt = resumed && resumePosition(resumed.meta, o.world, sampling, plan);
    if (resumed && resumedAt) {
      restoreWorkers(hub, resumed, resumedAt.start, plan);
      log(`ringtune: resuming from ${resumed.dir}: ${resumedAt.note}`);
    }
    let finalAccuracy: number | null = null;
    const callbacks: Callback[] = [
      tablePrinter(log),
      progressBarCallback(),
      metricsLog(join(config.out, 'metrics.jsonl')),
      plotsCallback(config.out),
      checkpointer(hub, {
        dir: join(config.out, 'checkpoints'),
        config,
        classes: dataset.classes,
        every: config.checkpointEvery,
        timeoutMs,
      }),
      { afterEpoch: ({ epochDone }) => void (finalAccuracy = epochDone?.accuracy ?? finalAccuracy) },
      ...(o.callbacks ?? []),
    ];
    const steps = await fit(hub, { ...sampling, plan, callbacks, timeoutMs, start: resumedAt?.start });

    void hub.send(0, { type: 'save' });
    const { msg, frames } = await hub.next(0, 'model', timeoutMs);
    writeFileAtomic(join(config.out, 'weights.bin'), frames[0]);
    writeFileAtomic(join(config.out, 'model.json'), msg.modelJson);
    writeFileAtomic(join(config.out, 'labels.json'), JSON.stringify(dataset.classes, null, 2) + '\n');
    writeFileAtomic(join(config.out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    log(
      `ringtune: saved the model to ${config.out} (model.json, weights.bin, labels.json) and metrics to ${join(config.out, 'metrics.jsonl')}`,
    );
    return { steps, classes: dataset.classes, out: config.out, finalAccuracy };
  } catch (e) {
    reason = `coordinator stopped the run: ${(e as Error).message}`;
    failed = true;
    throw e;
  } finally {
    await hub.close(reason, failed);
  }
}
