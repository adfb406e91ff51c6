/**
 * Which all-reduce a run uses, decided once by the coordinator from what every worker reported:
 * shared memory when every rank is on one host and can map it; across hosts, the hierarchical
 * all-reduce (shared memory inside each host, ZeroMQ rings between hosts) when some host has
 * several ranks; the flat ZeroMQ ring otherwise.
 */

import type { GradDtype } from './config';

/** --allreduce: auto picks the best that can work here; hier, shm and ring ask for one. */
export const ALLREDUCE_REQUESTS = ['auto', 'hier', 'shm', 'ring'] as const;
export type AllReduceRequest = (typeof ALLREDUCE_REQUESTS)[number];
/** What a run ends up with. */
export const ALLREDUCE_KINDS = ['shm', 'ring', 'hier'] as const;

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

/** Decides; throws (naming the flag and the rank) when --allreduce shm or hier cannot be honoured. */
export function chooseAllReduce(request: AllReduceRequest, workers: AllReduceCandidate[], gradDtype: GradDtype): AllReduceChoice {
  const world = workers.length;
  const refuse = (why: string): AllReduceChoice => {
    if (request === 'shm' || request === 'hier')
      throw new Error(`--allreduce ${request} cannot be used: ${why}; use --allreduce ring or auto`);
    return { kind: 'ring', reason: why };
  };
  const lacking = (ranks: number[]) => ranks.find((r) => workers[r].shmUnavailable !== '');
  const cannotMap = (r: number) => `worker rank ${r} cannot map shared memory (${workers[r].shmUnavailable})`;
  if (request === 'ring') return { kind: 'ring', reason: '--allreduce ring' };
  if (world === 1) return { kind: 'ring', reason: 'one worker: a ring of one, nothing to exchange' };
  const hosts = [...new Set(workers.map((w) => w.host))].map((h) => workers.flatMap((w, r) => (w.host === h ? [r] : [])));
  if (hosts.length === 1) {
    if (gradDtype !== 'f32')
      return refuse(`--grad-dtype ${gradDtype} is a wire format of the ZeroMQ ring (shared memory moves fp32 in place)`);
    const r = lacking(hosts[0]);
    if (r !== undefined) return refuse(cannotMap(r));
    const same = request === 'hier' ? ' (within one host the hierarchical all-reduce is the shared-memory one)' : '';
    return { kind: 'shm', reason: `all ${world} workers on one host${same}` };
  }
  if (request === 'shm') refuse(`the ${world} workers are on ${hosts.length} hosts (--allreduce hier shares memory within each)`);
  const sizes = `${hosts.length} hosts (${hosts.map((h) => h.length).join(' + ')} workers)`;
  if (hosts.every((h) => h.length === 1)) return { kind: 'ring', reason: `one worker on each of ${sizes}: nothing to share within a host` };
  const r = lacking(hosts.filter((h) => h.length > 1).flat());
  if (r !== undefined) return refuse(`the ${world} workers are on ${sizes} and ${cannotMap(r)}`);
  return {
    kind: 'hier',
    reason: `${sizes}: shared memory within each host, one ZeroMQ ring per slice across hosts (${gradDtype} on the wire)`,
  };
}
