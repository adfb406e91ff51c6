/**
 * Which all-reduce a run uses, decided once by the coordinator from what every worker reported:
 * shared memory when every rank is on one host and can map it, the ZeroMQ ring otherwise.
 */

import type { GradDtype } from './config';

/** --allreduce: auto picks shm where it can, else the ring. */
export const ALLREDUCE_REQUESTS = ['auto', 'shm', 'ring'] as const;
export type AllReduceRequest = (typeof ALLREDUCE_REQUESTS)[number];
/** What a run ends up with. */
export const ALLREDUCE_KINDS = ['shm', 'ring'] as const;

/** What a worker reports for the choice. */
export interface AllReduceCandidate {
  /** Host identity (hostname and boot id): equal means one machine. */
  host: string;
  /** Why this worker cannot use shared memory ('' when it can). */
  shmUnavailable: string;
}

/** The decision and a sentence saying why, for the run log. */
export interface AllReduceChoice {
  kind: (typeof ALLREDUCE_KINDS)[number];
  reason: string;
}

/** Decides shm or ring; throws (naming the flag and the rank) when --allreduce shm cannot be honoured. */
export function chooseAllReduce(request: AllReduceRequest, workers: AllReduceCandidate[], gradDtype: GradDtype): AllReduceChoice {
  const world = workers.length;
  const refuse = (why: string): AllReduceChoice => {
    if (request === 'shm') throw new Error(`--allreduce shm cannot be used: ${why}; use --allreduce ring or auto`);
    return { kind: 'ring', reason: why };
  };
  if (request === 'ring') return { kind: 'ring', reason: '--allreduce ring' };
  if (world === 1) return { kind: 'ring', reason: 'one worker: a ring of one, nothing to exchange' };
  if (gradDtype !== 'f32')
    return refuse(`--grad-dtype ${gradDtype} is a wire format of the ZeroMQ ring (shared memory moves fp32 in place)`);
  const hosts = [...new Set(workers.map((w) => w.host))];
  if (hosts.length > 1) return refuse(`the ${world} workers are on ${hosts.length} hosts`);
  const lacking = workers.findIndex((w) => w.shmUnavailable !== '');
  if (lacking >= 0) return refuse(`worker rank ${lacking} cannot map shared memory (${workers[lacking].shmUnavailable})`);
  return { kind: 'shm', reason: `all ${world} workers on one host` };
}
