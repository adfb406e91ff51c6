/**
 * Starts `world` ring ranks as separate Node processes (compiled `ring-peer.js`), wires them into
 * a ring and sends each the same request, collecting one reply per rank. Used by the multi-process
 * test and by `npm run bench:allreduce`. A rank that errors or dies fails the request, naming it.
 */
import { fork, type ChildProcess } from 'child_process';
import { existsSync } from 'fs';
import { join } from 'path';
import type { RingOptions } from '../../worker/ring/ring';
import { withRingMalloc } from '../../cli/ring-malloc';
import type { PeerReply, PeerRequest } from './ring-peer';

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
    const script = peerScript();
    const children = Array.from({ length: world }, () =>
      fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: withRingMalloc(process.env) }),
    );
    const group = new RingPeerGroup(children, requestTimeoutMs);
    try {
      const bound = await group.request((rank) => ({ type: 'init', opts: { ...opts, rank, world }, shm }));
      const endpoints = bound.map((r) => (r as { endpoint: string }).endpoint);
      await group.request(() => ({ type: 'connect', endpoints }));
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
