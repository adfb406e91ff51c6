/**
 * Starts `world` ring ranks as separate Node processes (compiled `ring-peer.js`), wires them into
 * a ring and sends each the same request, collecting one reply per rank. Used by the multi-process
 * test and by `npm run bench:allreduce`. A rank that errors or dies fails the request, naming it.
 */
import { fork, spawn, type ChildProcess, type StdioOptions } from 'child_process';
import { existsSync } from 'fs';
import { join } from 'path';
import type { RingOptions } from '../../worker/ring/ring';
import { withRingMalloc } from '../../cli/ring-malloc';
import type { PeerReply, PeerRequest } from './ring-peer';
import type { SliceRing } from '../../worker/hier/allreduce';
import { hierPlan, type HierPlan } from '../../shared/hier-plan';
import type { SimulatedHosts } from './sim-hosts';

const PEER_STDIO: StdioOptions = ['ignore', 'inherit', 'inherit', 'ipc'];

/** The compiled peer script (from sources under ts-jest, the copy tsc wrote to dist/). */
export function peerScript(): string {
  const script = __filename.endsWith('.ts')
    ? join(__dirname, '..', '..', 'dist', 'test', 'helpers', 'ring-peer.js')
    : join(__dirname, 'ring-peer.js');
  if (!existsSync(script)) throw new Error(`ring peer script ${script} is missing: run \`npx tsc -p .\` first`);
  return script;
}

interface Pending {
  resolve: (r: PeerReply) => void;
  reject: (e: Error) => void;
}

/** A ring of rank processes on this host. */
export class RingPeerGroup {
  private readonly pending: Pending[][];

  private constructor(
    private readonly children: ChildProcess[],
    private readonly requestTimeoutMs: number,
  ) {
    this.pending = children.map(() => []);
    children.forEach((child, rank) => {
      child.on('message', (reply: PeerReply) => this.pending[rank].shift()?.resolve(reply));
      child.on('error', () => undefined); // surfaces through 'exit' or the send callback
      child.on('exit', (code, signal) => {
        for (const p of this.pending[rank].splice(0)) p.reject(new Error(`ring peer rank ${rank} exited (code ${code}, signal ${signal})`));
      });
    });
  }

  /** Forks the ranks, binds each, and connects the ring. */
  static async start(
    world: number,
    opts: Omit<RingOptions, 'rank' | 'world'>,
    requestTimeoutMs = 120000,
    shm?: { name: string; capacity: number; spins?: number; blockFloats?: number },
  ): Promise<RingPeerGroup> {
    const children = Array.from({ length: world }, () => fork(peerScript(), [], { stdio: PEER_STDIO, env: withRingMalloc(process.env) }));
    return RingPeerGroup.wire(new RingPeerGroup(children, requestTimeoutMs), (rank) => ({
      type: 'init',
      opts: { ...opts, rank, world },
      shm,
    }));
  }

  /**
   * Starts rank r on simulated host `hostOf[r]`, its ring bound to that host's address: a flat
   * ring across the hosts, or with `hier` (a segment name prefix and capacity) the hierarchical
   * all-reduce planned from the same layout.
   */
  static async startOnHosts(o: {
    sim: SimulatedHosts;
    hostOf: number[];
    ring: Omit<RingOptions, 'rank' | 'world' | 'host'>;
    hier?: { shmName: string; capacity: number };
    requestTimeoutMs?: number;
  }): Promise<RingPeerGroup> {
    const world = o.hostOf.length;
    const plan = hierPlan(o.hostOf.map(String));
    const children = o.hostOf.map((h) => {
      const [cmd, args] = o.sim.command(h, process.execPath, [peerScript()]);
      return spawn(cmd, args, { stdio: PEER_STDIO, env: withRingMalloc(process.env) });
    });
    const group = new RingPeerGroup(children, o.requestTimeoutMs ?? 120000);
    return RingPeerGroup.wire(
      group,
      (rank) => ({
        type: 'init',
        opts: { ...o.ring, rank, world, host: o.sim.hosts[o.hostOf[rank]].address },
        hier: o.hier && {
          placement: plan.placements[rank],
          shm: { name: `${o.hier.shmName}-h${o.hostOf[rank]}`, capacity: o.hier.capacity },
        },
      }),
      o.hier && plan,
    );
  }

  /** Inits every rank, then connects the flat ring (or, given a plan, every slice's ring); kills the ranks on failure. */
  private static async wire(group: RingPeerGroup, init: (rank: number) => PeerRequest, plan?: HierPlan): Promise<RingPeerGroup> {
    try {
      const bound = (await group.request(init)) as Extract<PeerReply, { type: 'endpoint' }>[];
      const endpoints = bound.map((r) => r.endpoint);
      const ringOf = (rank: number): SliceRing[] | undefined =>
        plan?.placements[rank].owned.map((k) => {
          const ranks = plan.ringMembers[k];
          return { slice: k, ranks, endpoints: ranks.map((m) => bound[m].sliceEndpoints![plan.placements[m].owned.indexOf(k)]) };
        });
      await group.request((rank) => ({ type: 'connect', endpoints, rings: ringOf(rank) }));
    } catch (e) {
      group.kill();
      throw e;
    }
    return group;
  }

  /** Sends each rank its request and waits for every reply; a rank that failed or died answers 'error'. */
  async requestSettled(make: (rank: number) => PeerRequest): Promise<PeerReply[]> {
    return Promise.all(
      this.children.map((child, rank) =>
        this.ask(child, rank, make(rank)).catch((e: Error): PeerReply => ({ type: 'error', message: e.message })),
      ),
    );
  }

  /** Sends each rank its request and waits for every reply; throws the first rank's error. */
  async request(make: (rank: number) => PeerRequest): Promise<PeerReply[]> {
    const replies = await this.requestSettled(make);
    const failed = replies.findIndex((r) => r.type === 'error');
    if (failed >= 0) throw new Error(`ring peer rank ${failed}: ${(replies[failed] as { message: string }).message}`);
    return replies;
  }

  private ask(child: ChildProcess, rank: number, req: PeerRequest): Promise<PeerReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`ring peer rank ${rank} did not answer '${req.type}' within ${this.requestTimeoutMs} ms`)),
        this.requestTimeoutMs,
      );
      const done =
        <T>(f: (x: T) => void) =>
        (x: T) => {
          clearTimeout(timer);
          f(x);
        };
      this.pending[rank].push({ resolve: done(resolve), reject: done(reject) });
      if (child.exitCode !== null || !child.connected) {
        this.pending[rank].pop();
        clearTimeout(timer);
        reject(new Error(`ring peer rank ${rank} is not running`));
        return;
      }
      // EPIPE: the process died before its exit event arrived.
      child.send(
        req,
        (err) => err && this.pending[rank].shift()?.reject(new Error(`ring peer rank ${rank} is not running (${err.message})`)),
      );
    });
  }

  /** Process ids of the ranks. */
  get pids(): number[] {
    return this.children.map((c) => c.pid ?? -1);
  }

  /** Closes every rank's ring and waits for the processes to exit. */
  async close(): Promise<void> {
    try {
      const live = this.children.map((c) => c.connected);
      await Promise.all(this.children.map((c, rank) => (live[rank] ? this.ask(c, rank, { type: 'close' }) : undefined)));
    } finally {
      this.kill();
    }
  }

  private kill(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill();
  }
}
