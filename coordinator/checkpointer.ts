/**
 * Checkpointing as an ordered callback: after every epoch, and every `every` steps inside one (not
 * after an epoch's last step: the epoch's own checkpoint follows), each at the Position a resumed
 * run starts from. The workers send their state (rank 0 the weights and Adam's, every rank its
 * BatchNorm statistics); the coordinator writes it (checkpoint.ts).
 */
import type { RunConfig } from '../shared/config';
import type { Callback } from './events';
import type { WorkerHub } from './hub';
import { CHECKPOINT_VERSION, writeCheckpoint, type CheckpointMeta, type Position } from './checkpoint';

export interface CheckpointerOptions {
  /** Folder of the checkpoints (OUT/checkpoints). */
  dir: string;
  config: RunConfig;
  classes: string[];
  /** Steps between checkpoints inside an epoch (0: only at epoch ends). */
  every: number;
  timeoutMs: number;
}

/** The callback; it runs after the output callbacks, so a checkpoint follows the step's or epoch's metrics line. */
export function checkpointer(hub: WorkerHub, o: CheckpointerOptions): Callback {
  const ask = (position: Position) => hub.broadcast(() => ({ type: 'checkpoint', step: position.step }));
  const write = async (position: Position) => {
    const parts = await hub.gather('checkpointData', o.timeoutMs);
    const [bn0, weights, adamM, adamV] = parts[0].frames;
    const meta: CheckpointMeta = {
      version: CHECKPOINT_VERSION,
      config: o.config,
      world: hub.world,
      classes: o.classes,
      position,
      adamStep: parts[0].msg.adamStep,
      writtenAt: new Date().toISOString(),
    };
    const bnStats = [bn0, ...parts.slice(1).map((p) => p.frames[0])];
    writeCheckpoint(o.dir, meta, { weights, adamM, adamV, bnStats }, o.config.keepCheckpoints);
  };
  /** The first batch this run trains of the epoch (a resumed one starts mid-way); the first checkpoint in it follows a step. */
  let first = 0;
  let asked: Position | null = null;
  return {
    order: 80,
    beforeTrain({ progress }) {
      first = progress.iter;
    },
    // Note [steps in flight]: the checkpoint is asked for before this step's order, so the workers
    // save their state after the step in flight; it is written once that step's loss is in, which
    // the position's smoothed loss includes.
    async beforeStep({ progress: p }) {
      if (o.every === 0 || p.step % o.every !== 0 || p.iter === first) return;
      asked = p.position();
      await ask(asked);
    },
    async afterStep({ progress, stepDone }) {
      if (!asked || !stepDone) return;
      const position = { ...asked, smooth: progress.position().smooth };
      asked = null;
      await write(position);
    },
    async afterEpoch({ progress }) {
      const position = progress.positionAfterEpoch();
      await ask(position);
      await write(position);
    },
  };
}
