/**
 * Resuming a run from a checkpoint. On the world size that wrote it the run goes on exactly where
 * it stopped, bitwise as if never interrupted. On another (Note [resize] in shared/sampler.ts):
 * - the epoch goes on with the samples its ranks had not trained on yet, sharded over the new ranks;
 * - an epoch then has the steps the new size gives (ceil(n / M) / bs batches, drop_last, as any
 *   run on M workers), so the phase's 1cycle schedule continues from the point it had reached,
 *   spread evenly over the phase's steps left at the new size;
 * - every rank starts from the average of the checkpoint's per-rank BatchNorm statistics.
 */
import { join } from 'path';
import { batchesPerEpoch, epochOrder, remainingAfter } from '../shared/sampler';
import { phasePos, type Phase } from '../shared/plan';
import { findCheckpoint, readCheckpoint, type CheckpointData, type CheckpointMeta, type Position } from './checkpoint';
import type { Sampling } from './orders';
import type { WorkerHub } from './hub';

/** A checkpoint read for resuming. */
export interface Resumed {
  dir: string;
  meta: CheckpointMeta;
  data: CheckpointData;
}

/** Reads the checkpoint to resume (a checkpoint folder, or a run folder: its newest). */
export function loadResume(path: string): Resumed {
  const dir = findCheckpoint(path);
  if (!dir) throw new Error(`no checkpoint under ${path} (expected ${join(path, 'checkpoints', 'step-*')} or a checkpoint folder)`);
  return { dir, ...readCheckpoint(dir) };
}

/** Where a run resumed on `world` ranks starts, and what the log says about it. */
export function resumePosition(meta: CheckpointMeta, world: number, s: Sampling, plan: Phase[]): { start: Position; note: string } {
  const pos = meta.position;
  const at = `phase ${pos.phase}, epoch ${pos.epoch}, batch ${pos.iter}, step ${pos.step}`;
  const phase = plan[pos.phase];
  const midEpoch = pos.iter > 0 || pos.settled !== undefined;
  if (world === meta.world || !phase || (!midEpoch && !pos.schedule)) {
    const sized =
      world === meta.world
        ? ''
        : ` on ${world} workers (written by ${meta.world}; it starts an epoch, which then has ${batchesPerEpoch(s.nTrain, s.bs, world, true)} steps)`;
    return { start: pos, note: `${at}${sized}` };
  }
  // Where the schedule stands at the next step, at the size that wrote the checkpoint.
  const before = batchesPerEpoch(s.nTrain, s.bs, meta.world, true);
  const from = pos.schedule
    ? pos.schedule.pos + ((1 - pos.schedule.pos) * (pos.step - pos.schedule.fromStep)) / pos.schedule.steps
    : phasePos(phase, pos.epoch * before + pos.iter, before);
  const settled = midEpoch ? [...(pos.settled ?? []), { world: meta.world, iters: pos.iter }] : [];
  const left = remainingAfter(epochOrder(s.nTrain, s.seed, pos.runEpoch, true), settled, s.bs).length;
  const now = Math.floor(Math.ceil(left / world) / s.bs);
  const after = batchesPerEpoch(s.nTrain, s.bs, world, true);
  const steps = now + (phase.epochs - pos.epoch - 1) * after;
  const start: Position = {
    ...pos,
    iter: 0,
    ...(settled.length > 0 ? { settled } : {}),
    schedule: { pos: from, fromStep: pos.step, steps },
  };
  const note =
    `${at} on ${world} workers (written by ${meta.world}): ${left} of the epoch's ${s.nTrain} samples left, ${now} step${now === 1 ? '' : 's'} at ${world} workers; ` +
    `an epoch has ${after} steps now (${before} at ${meta.world}); the schedule goes on from ${(from * 100).toFixed(2)}% of the phase over its ${steps} steps left`;
  return { start, note };
}

/** Each rank's BatchNorm statistics: its own at the same size, else the average of the checkpoint's ranks (in rank order). */
export function bnStatsFor(meta: CheckpointMeta, data: CheckpointData, world: number): Uint8Array[] {
  if (world === meta.world) return data.bnStats;
  const ranks = data.bnStats.map((b) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
  const mean = new Float32Array(ranks[0].length);
  for (let i = 0; i < mean.length; i++) {
    let sum = 0;
    for (const r of ranks) sum += r[i];
    mean[i] = sum / ranks.length;
  }
  const bytes = new Uint8Array(mean.buffer);
  return Array.from({ length: world }, () => bytes);
}

/** Sends every rank its restore order: weights, Adam's state (none at a phase boundary), its BatchNorm statistics. */
export function restoreWorkers(hub: WorkerHub, resumed: Resumed, start: Position, plan: Phase[]): void {
  const { meta, data } = resumed;
  // A checkpoint at a phase boundary carries the previous phase's Adam state: the new phase starts clean (fastai freeze_to).
  const fresh = start.epoch === 0 && start.iter === 0 && start.settled === undefined;
  const none = new Uint8Array(0);
  const order = {
    type: 'restore' as const,
    phase: start.phase,
    freezeTo: plan[start.phase]?.freezeTo ?? 0,
    adamStep: fresh ? 0 : meta.adamStep,
  };
  const bn = bnStatsFor(meta, data, hub.world);
  for (let r = 0; r < hub.world; r++) void hub.send(r, order, [data.weights, fresh ? none : data.adamM, fresh ? none : data.adamV, bn[r]]);
}
