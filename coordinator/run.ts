/**
 * A whole run from the coordinator's side: scan the data, gather the workers, check they start
 * identical, wire the ring, run the plan, save the model. Rank 0 serializes the final model; the
 * coordinator writes the files (it owns the output folder).
 */
import { mkdirSync, writeFileSync, renameSync, rmSync } from 'fs';
import { join } from 'path';
import { scanImageFolders, describeSkipped } from '../shared/data/folders';
import { fineTunePlan, fitOneCyclePlan, ONE_CYCLE_DEFAULTS, type Phase } from '../shared/plan';
import type { RunConfig } from '../shared/config';
import { WorkerHub, WorkerFailure } from './hub';
import { fit } from './fit';
import { tablePrinter, progressBarCallback } from './console-callbacks';
import { metricsLog } from './metrics-log';
import { plotsCallback } from './plots-callback';
import type { Callback } from './events';

/** Skip reasons that are not damaged images: other files in a class folder are just ignored. */
const NOT_IMAGES = new Set(['not a file (sub-folders are not scanned)', 'not an image file extension']);

/** How the coordinator listens and what it runs. */
export interface CoordinatorOptions {
  bind: string;
  world: number;
  config: Omit<RunConfig, 'nClasses'>;
  /** Extra callbacks (tests use them to observe the run). */
  callbacks?: Callback[];
  log?: (line: string) => void;
  /** Called once the control socket is bound (with its resolved address). */
  onListening?: (endpoint: string) => void;
  timeoutMs?: number;
}

/** What a finished run leaves behind. */
export interface RunSummary {
  steps: number;
  classes: string[];
  out: string;
  finalAccuracy: number | null;
}

/** Writes a file so a crash never leaves a half-written one behind. */
export function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** The phases a config asks for, given the model's number of parameter groups. */
export function planFor(c: Omit<RunConfig, 'nClasses'>, groups: number): Phase[] {
  const common = { groups, pctStart: c.pctStart ?? undefined, div: c.div ?? undefined, divFinal: c.divFinal ?? undefined, moms: c.moms ?? undefined };
  // fit_one_cycle without --lr-max peaks at fastai's Learner.lr (1e-3), as `ringtune schedule` shows.
  if (c.plan === 'fit_one_cycle') return fitOneCyclePlan({ ...common, epochs: c.epochs, lrMax: c.lrMax ?? ONE_CYCLE_DEFAULTS.lr });
  return fineTunePlan({ ...common, epochs: c.epochs, baseLr: c.baseLr, freezeEpochs: c.freezeEpochs, lrMult: c.lrMult });
}

/** Runs the coordinator until the plan is done; throws WorkerFailure naming the rank on failure. */
export async function runCoordinator(o: CoordinatorOptions): Promise<RunSummary> {
  const log = o.log ?? ((l: string) => console.log(l));
  const timeoutMs = o.timeoutMs ?? 600_000;
  const dataset = await scanImageFolders(o.config.data, { validPct: o.config.validPct, seed: o.config.seed, verify: true });
  const unreadable = dataset.skipped.filter((s) => !NOT_IMAGES.has(s.reason));
  if (unreadable.length > 0 && !o.config.skipBadImages) {
    throw new Error(`${unreadable.length} image(s) under ${o.config.data} cannot be read: ${describeSkipped(unreadable)}; fix or remove them, or pass --skip-bad-images`);
  }
  if (dataset.skipped.length > 0) log(`ringtune: left out ${describeSkipped(dataset.skipped)}`);
  if (dataset.valid.length === 0) throw new Error(`no validation images under ${o.config.data}: add valid/<class>/ folders or use --valid-pct`);
  const config: RunConfig = { ...o.config, nClasses: dataset.classes.length };
  mkdirSync(config.out, { recursive: true });
  rmSync(join(config.out, 'metrics.jsonl'), { force: true });

  const hub = await WorkerHub.bind(o.bind, o.world);
  o.onListening?.(hub.endpoint);
  let reason = 'run finished';
  let failed = false;
  try {
    log(`ringtune: coordinator on ${hub.endpoint}, waiting for ${o.world} worker(s); ${dataset.train.length} training and ${dataset.valid.length} validation images, ${dataset.classes.length} classes`);
    await hub.accept(timeoutMs);
    await hub.broadcast((rank) => ({ type: 'welcome', rank, world: o.world, config, items: dataset.train, validItems: dataset.valid }));
    const ready = await hub.gather('ready', timeoutMs);
    const hashes = new Set(ready.map((r) => r.msg.weightsHash));
    if (hashes.size > 1) throw new WorkerFailure(`workers start from different weights (${ready.map((r, i) => `rank ${i}: ${r.msg.weightsHash}`).join(', ')})`, null);
    const first = ready[0].msg;
    log(`ringtune: ${o.world} worker(s) ready on backend ${first.backend}; ${config.arch}, ${first.params} parameters in ${first.groups} groups, identical initial weights`);
    await hub.broadcast(() => ({ type: 'ring', endpoints: ready.map((r) => r.msg.ringEndpoint) }));
    await hub.gather('ringReady', timeoutMs);

    const plan = planFor(config, first.groups);
    let finalAccuracy: number | null = null;
    const callbacks: Callback[] = [
      tablePrinter(log),
      progressBarCallback(),
      metricsLog(join(config.out, 'metrics.jsonl')),
      plotsCallback(config.out),
      { afterEpoch: (e) => void (finalAccuracy = e.accuracy) },
      ...(o.callbacks ?? []),
    ];
    const steps = await fit(hub, { plan, nTrain: dataset.train.length, nValid: dataset.valid.length, bs: config.bs, seed: config.seed, callbacks, timeoutMs });

    void hub.send(0, { type: 'save' });
    const { msg, frames } = await hub.next(0, 'model', timeoutMs);
    writeAtomic(join(config.out, 'weights.bin'), frames[0]);
    writeAtomic(join(config.out, 'model.json'), msg.modelJson);
    writeAtomic(join(config.out, 'labels.json'), JSON.stringify(dataset.classes, null, 2) + '\n');
    writeAtomic(join(config.out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    log(`ringtune: saved the model to ${config.out} (model.json, weights.bin, labels.json) and metrics to ${join(config.out, 'metrics.jsonl')}`);
    return { steps, classes: dataset.classes, out: config.out, finalAccuracy };
  } catch (e) {
    reason = `coordinator stopped the run: ${(e as Error).message}`;
    failed = true;
    throw e;
  } finally {
    await hub.close(reason, failed);
  }
}
