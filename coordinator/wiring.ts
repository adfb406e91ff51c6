/**
 * Wires the gradient all-reduce once every worker is ready: picks it from what they reported
 * (shared/allreduce-choice.ts), says which and why, and tells every worker what to join. The
 * hierarchical all-reduce takes one more round: each rank binds one ring socket per slice it owns
 * (shared/hier-plan.ts) and reports their endpoints; each rank then gets the members of its rings.
 */
import { randomBytes } from 'crypto';
import { chooseAllReduce, type AllReduceChoice } from '../shared/allreduce-choice';
import { hierPlan } from '../shared/hier-plan';
import type { RunConfig } from '../shared/config';
import type { WorkerMsg } from '../shared/protocol';
import type { WorkerHub } from './hub';

/** What the wiring needs besides the hub. */
export interface WiringOptions {
  config: RunConfig;
  /** Every rank's 'ready' report, index = rank. */
  ready: Extract<WorkerMsg, { type: 'ready' }>[];
  timeoutMs: number;
  log: (line: string) => void;
}

const HOW: Record<AllReduceChoice['kind'], (wire: string) => string> = {
  shm: () => 'through shared memory',
  ring: (wire) => `over the ZeroMQ ring (${wire} on the wire)`,
  hier: () => 'hierarchically',
};

/** Picks, logs and wires the all-reduce; resolves once every worker has joined it. */
export async function wireAllReduce(hub: WorkerHub, o: WiringOptions): Promise<AllReduceChoice> {
  const { config, ready, timeoutMs } = o;
  const choice = chooseAllReduce(config.allreduce, ready, config.gradDtype);
  o.log(`ringtune: gradients all-reduced ${HOW[choice.kind](config.gradDtype)}: ${choice.reason}`);
  // Unique per job and per host: simulated hosts, and containers, may share one /dev/shm.
  const shmName = `/ringtune-${process.pid}-${randomBytes(6).toString('hex')}`;
  const endpoints = ready.map((r) => r.ringEndpoint);
  if (choice.kind !== 'hier') {
    await hub.broadcast(() => ({ type: 'ring', endpoints, allreduce: choice.kind, shmName, hier: null }));
  } else {
    const plan = hierPlan(ready.map((r) => r.host));
    await hub.broadcast((rank) => {
      const hier = plan.placements[rank];
      return { type: 'ring', endpoints, allreduce: 'hier', shmName: `${shmName}-h${hier.host}`, hier };
    });
    const bound = (await hub.gather('hierBound', timeoutMs)).map((b) => b.msg.endpoints);
    const endpointOf = (slice: number, rank: number) => bound[rank][plan.placements[rank].owned.indexOf(slice)];
    await hub.broadcast((rank) => ({
      type: 'hierRings',
      rings: plan.placements[rank].owned.map((slice) => {
        const ranks = plan.ringMembers[slice];
        return { slice, ranks, endpoints: ranks.map((m) => endpointOf(slice, m)) };
      }),
    }));
  }
  await hub.gather('ringReady', timeoutMs);
  return choice;
}
