/**
 * Checkpoints on disk: one folder per checkpoint, `step-<n>`, holding meta.json (config, schedule
 * and sampler position, smoothed-loss state) and raw float files (weights, Adam m and v, each
 * rank's BatchNorm statistics). A checkpoint is written into a temporary folder, every file is
 * fsynced, and only then renamed into place, so a crash mid-write leaves the previous one intact.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'fs';
import { writeFileSynced } from '../shared/files';
import { join } from 'path';
import type { RunConfig } from '../shared/config';
import type { Stretch } from '../shared/sampler';

export const CHECKPOINT_VERSION = 1;

/** Where a run stands: the next step to run and everything needed to run it exactly. */
export interface Position {
  phase: number;
  /** Epoch within the phase and the next batch within that epoch. */
  epoch: number;
  iter: number;
  /** Global step counter and epoch counter over the whole run (seeds shuffles and dropout). */
  step: number;
  runEpoch: number;
  smooth: { val: number; n: number };
  /** The epoch's stretches at other world sizes before the batches `iter` counts (Note [resize]); absent: none. */
  settled?: Stretch[];
  /** The phase's schedule once the world size changed inside it (coordinator/resume.ts); absent: the plan's own by iteration. */
  schedule?: PhaseSchedule;
}

/**
 * A phase's 1cycle position after a change of world size: `pos` (0..1) at global step `fromStep`,
 * spread evenly over the `steps` steps from there to the phase's end.
 */
export interface PhaseSchedule {
  pos: number;
  fromStep: number;
  steps: number;
}

/** meta.json. */
export interface CheckpointMeta {
  version: number;
  config: RunConfig;
  world: number;
  classes: string[];
  position: Position;
  adamStep: number;
  writtenAt: string;
}

/** What a checkpoint holds besides meta.json. */
export interface CheckpointData {
  weights: Uint8Array;
  adamM: Uint8Array;
  adamV: Uint8Array;
  /** One per rank, in rank order. */
  bnStats: Uint8Array[];
}

const NAME = /^step-(\d+)$/;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a checkpoint atomically under `root` and keeps only the newest `keep`. Returns its folder. */
export function writeCheckpoint(root: string, meta: CheckpointMeta, data: CheckpointData, keep: number): string {
  mkdirSync(root, { recursive: true });
  const name = `step-${String(meta.position.step).padStart(8, '0')}`;
  const tmp = join(root, `.tmp-${name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeFileSynced(join(tmp, 'weights.bin'), data.weights);
  writeFileSynced(join(tmp, 'adam-m.bin'), data.adamM);
  writeFileSynced(join(tmp, 'adam-v.bin'), data.adamV);
  data.bnStats.forEach((b, r) => writeFileSynced(join(tmp, `bn-rank-${r}.bin`), b));
  writeFileSynced(join(tmp, 'meta.json'), JSON.stringify(meta, null, 1));
  fsyncDir(tmp);
  const dest = join(root, name);
  rmSync(dest, { recursive: true, force: true });
  renameSync(tmp, dest);
  fsyncDir(root);
  const all = listCheckpoints(root);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(old, { recursive: true, force: true });
  for (const e of readdirSync(root))
    if (e.startsWith('.tmp-') && !e.endsWith(`-${process.pid}`)) rmSync(join(root, e), { recursive: true, force: true });
  return dest;
}

/** Complete checkpoints under `root`, oldest first. */
export function listCheckpoints(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((e) => NAME.test(e) && existsSync(join(root, e, 'meta.json')))
    .sort()
    .map((e) => join(root, e));
}

/** The newest complete checkpoint of a run folder (its `checkpoints/`), or a checkpoint folder itself. */
export function findCheckpoint(path: string): string | null {
  if (existsSync(join(path, 'meta.json'))) return path;
  const all = listCheckpoints(join(path, 'checkpoints'));
  return all.length ? all[all.length - 1] : null;
}

/** Reads a checkpoint folder; errors name the file. */
export function readCheckpoint(dir: string): { meta: CheckpointMeta; data: CheckpointData } {
  const read = (f: string) => {
    try {
      return readFileSync(join(dir, f));
    } catch (e) {
      throw new Error(`checkpoint ${dir}: cannot read ${f}: ${(e as Error).message}`);
    }
  };
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(read('meta.json').toString('utf8'));
  } catch (e) {
    throw new Error(`checkpoint ${join(dir, 'meta.json')} is not valid JSON: ${(e as Error).message}`);
  }
  if (meta.version !== CHECKPOINT_VERSION)
    throw new Error(`checkpoint ${dir} has format v${meta.version}, this ringtune reads v${CHECKPOINT_VERSION}`);
  const bnStats = Array.from({ length: meta.world }, (_, r) => read(`bn-rank-${r}.bin`));
  return { meta, data: { weights: read('weights.bin'), adamM: read('adam-m.bin'), adamV: read('adam-v.bin'), bnStats } };
}
