/**
 * The coordinator's side of the control plane: one ROUTER socket, one receive loop. Workers
 * connect, say hello and get a rank once all have (by host, then task rank, then arrival). Every
 * message a worker sends lands in that rank's mailbox; `gather` waits for one message of a given
 * type from every rank and fails fast (naming rank, host and pid) when a worker reports an error,
 * disconnects, or stays silent.
 * Liveness: each worker's heartbeat thread pings from its own socket; a rank silent for
 * WORKER_SILENT_MS is declared dead, and on failure every heartbeat gets an abort, so the
 * surviving workers exit at once instead of waiting on a dead peer (see Note [liveness]).
 */
import * as zmq from 'zeromq';
import { serverOptions, startZapHandler, type JobKeys } from '../shared/curve';
import { Mailbox, type Delivery } from './mailbox';
import { rankOrder } from '../shared/hier-plan';
import { WorkerFailure, type WorkerInfo } from './failure';

export { WorkerFailure, type WorkerInfo };
import { decodeWorkerMsg, encode, ProtocolError, HEARTBEAT_MS, WORKER_SILENT_MS, type CoordMsg, type WorkerMsg } from '../shared/protocol';

/** Everything the hub knows of one rank. */
interface Peer {
  info: WorkerInfo;
  /** Its task rank in the job, if it has one (Note [rank order] in shared/hier-plan.ts). */
  order: number | null;
  /** ROUTER identity of its control socket, and of its heartbeat thread's socket once it pinged. */
  id: Buffer;
  heartbeatId: Buffer | null;
  lastHeard: number;
  lastStep: number;
  mailbox: Mailbox<WorkerMsg>;
}

/** How the hub logs, authenticates, and says whether a failure ends the job for good. */
export interface HubOptions {
  log?: (line: string) => void;
  keys?: JobKeys | null;
  /** A failure is followed by a restart (`ringtune run --max-restarts`): the aborts tell the workers so. */
  restartable?: boolean;
}

/** How long a normal close may take to deliver the last 'stop' messages; a moment for the I/O thread to write them. */
const [CLOSE_LINGER_MS, STOP_FLUSH_MS] = [2000, 200];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class WorkerHub {
  /** Index = rank (in hello order until accept() numbers them). */
  private readonly peers: Peer[] = [];
  private monitor: NodeJS.Timeout | null = null;
  /** Silence counts only once workers were welcomed: their heartbeat threads start then. */
  private watching = false;
  private failure: WorkerFailure | null = null;
  private readonly refused = new Set<string>();
  private helloWaiter: (() => void) | null = null;
  private closed = false;
  private sendChain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly sock: zmq.Router,
    readonly world: number,
    private readonly log: (line: string) => void,
    private readonly restartable: boolean,
  ) {}

  /** Binds the control socket and starts the receive loop. */
  static async bind(address: string, world: number, o: HubOptions = {}): Promise<WorkerHub> {
    const { log = (l: string) => console.error(l), keys = null } = o;
    if (keys) await startZapHandler(keys, log);
    const sock = new zmq.Router({ linger: 0, mandatory: true, ...(keys ? serverOptions(keys) : {}) });
    try {
      await sock.bind(address);
    } catch (e) {
      sock.close();
      throw new Error(`cannot bind the coordinator to ${address}: ${(e as Error).message}`);
    }
    const hub = new WorkerHub(sock, world, log, o.restartable === true);
    hub.watchDisconnects();
    hub.monitor = setInterval(() => hub.checkSilence(), HEARTBEAT_MS);
    void hub.receiveLoop();
    return hub;
  }

  /** The address workers connect to (resolves a :0 port). */
  get endpoint(): string {
    return this.sock.lastEndpoint ?? '';
  }

  private describe(rank: number): string {
    const p = this.peers[rank];
    if (!p) return `worker rank ${rank}`;
    const at = p.lastStep >= 0 ? `, last finished step ${p.lastStep}` : ', before its first step';
    return `worker rank ${rank} (host ${p.info.host}, pid ${p.info.pid}${at})`;
  }

  private watchDisconnects(): void {
    this.sock.events.on('disconnect', () => {
      if (this.closed || this.failure || !this.watching) return;
      // ZeroMQ does not say which peer left (a stray peer may connect and leave too): give the
      // heartbeats a moment, then name the ranks that went silent.
      setTimeout(() => {
        const now = Date.now();
        const gone = this.peers.filter((p) => now - p.lastHeard > 4 * HEARTBEAT_MS).map((p) => p.info.rank);
        if (gone.length > 0)
          this.fail(new WorkerFailure(`${gone.map((r) => this.describe(r)).join(' and ')} disconnected (process died)`, gone[0]));
      }, 6 * HEARTBEAT_MS).unref();
    });
  }

  /** Starts declaring silent ranks dead (call when the welcome is sent: heartbeats start then). */
  startLiveness(): void {
    const now = Date.now();
    for (const p of this.peers) p.lastHeard = Math.max(p.lastHeard, now);
    this.watching = true;
  }

  private checkSilence(): void {
    if (this.closed || this.failure || !this.watching) return;
    const now = Date.now();
    for (const { info, lastHeard } of this.peers) {
      const silent = now - lastHeard;
      if (silent > WORKER_SILENT_MS) {
        this.fail(
          new WorkerFailure(
            `${this.describe(info.rank)} stopped answering: no heartbeat for ${(silent / 1000).toFixed(1)} s (killed, frozen or unreachable)`,
            info.rank,
          ),
        );
        return;
      }
    }
  }

  private onHeartbeat(id: Buffer, msg: Extract<WorkerMsg, { type: 'heartbeat' }>): void {
    const p = this.peers[msg.rank];
    if (!p || p.info.pid !== msg.pid) {
      this.log(`ringtune: ignored a heartbeat claiming rank ${msg.rank} (pid ${msg.pid})`);
      return;
    }
    p.heartbeatId = Buffer.from(id);
    p.lastHeard = Date.now();
    const reply: CoordMsg = this.failure ? this.abort(this.failure.message) : { type: 'heartbeat' };
    this.sendRaw([id, ...encode(reply)]);
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [id, ...frames] of this.sock) {
        const rank = this.peers.findIndex((p) => p.id.equals(id));
        let decoded;
        try {
          decoded = decodeWorkerMsg(frames, rank >= 0 ? this.describe(rank) : 'an unknown peer');
        } catch (e) {
          if (e instanceof ProtocolError) {
            this.log(`ringtune: refused a message: ${e.message}`);
            if (rank >= 0) this.fail(new WorkerFailure(`${this.describe(rank)} sent an invalid message: ${e.message}`, rank));
            continue;
          }
          throw e;
        }
        const { msg } = decoded;
        if (rank < 0 && msg.type === 'heartbeat') {
          this.onHeartbeat(id, msg);
          continue;
        }
        if (rank < 0) {
          if (msg.type !== 'hello') {
            this.log(`ringtune: ignored '${msg.type}' from a peer that has not said hello`);
            continue;
          }
          if (this.peers.length >= this.world) {
            const who = `${msg.host}:${msg.pid}`;
            if (!this.refused.has(who)) this.log(`ringtune: refused worker ${who}: all ${this.world} ranks are taken`);
            this.refused.add(who); // a worker says hello on every (re)connection: say it once
            continue;
          }
          this.peers.push({
            info: { rank: this.peers.length, host: msg.host, pid: msg.pid },
            order: msg.order,
            id: Buffer.from(id),
            heartbeatId: null,
            lastHeard: Date.now(),
            lastStep: -1,
            mailbox: new Mailbox(`rank ${this.peers.length}`),
          });
          if (this.peers.length === this.world) this.helloWaiter?.();
          continue;
        }
        const p = this.peers[rank];
        p.lastHeard = Date.now();
        if (msg.type === 'heartbeat' || msg.type === 'hello') continue;
        if (msg.type === 'stepDone') p.lastStep = msg.step;
        if (msg.type === 'error') {
          this.fail(new WorkerFailure(`${this.describe(rank)} failed: ${msg.message}`, rank));
          continue;
        }
        p.mailbox.deliver(decoded);
      }
    } catch (e) {
      if (!this.closed) this.fail(new WorkerFailure(`coordinator socket failed: ${(e as Error).message}`, null));
    }
  }

  private fail(err: WorkerFailure): void {
    if (this.failure) return;
    this.failure = err;
    this.toHeartbeats(this.abort(err.message));
    for (const p of this.peers) p.mailbox.rejectAll(err);
  }

  /** The abort order: whether a restart follows is the launcher's to say (restartable). */
  private abort(reason: string): CoordMsg {
    return { type: 'abort', reason, final: !this.restartable };
  }

  /** Sends every heartbeat thread `msg`: an abort ends its worker now (Note [liveness]). */
  private toHeartbeats(msg: CoordMsg): void {
    for (const { heartbeatId } of this.peers) if (heartbeatId) void this.sendRaw([heartbeatId, ...encode(msg)]);
  }

  /** Waits until `world` workers have said hello, and numbers them by host (Note [rank order] in shared/hier-plan.ts). */
  async accept(timeoutMs: number): Promise<WorkerInfo[]> {
    if (this.peers.length < this.world) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new WorkerFailure(
                `only ${this.peers.length} of ${this.world} workers connected to ${this.endpoint} within ${Math.round(timeoutMs / 1000)} s`,
                null,
              ),
            ),
          timeoutMs,
        );
        this.helloWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const numbered = rankOrder(this.peers.map((p) => ({ host: p.info.host, order: p.order }))).map((i) => this.peers[i]);
    numbered.forEach((p, rank) => {
      p.info.rank = rank;
      p.mailbox = new Mailbox(`rank ${rank}`); // nothing but the hello arrived yet
    });
    this.peers.splice(0, this.peers.length, ...numbered);
    return this.peers.map((p) => p.info);
  }

  /** Queues frames on the one send chain (zeromq allows one pending send per socket). */
  private sendRaw(frames: Buffer[], onError?: (e: Error) => void): Promise<void> {
    this.sendChain = this.sendChain.then(() => this.sock.send(frames)).catch((e) => onError?.(e as Error));
    return this.sendChain;
  }

  /** Sends a message to one rank. */
  send(rank: number, msg: CoordMsg, frames: Uint8Array[] = []): Promise<void> {
    // ZeroMQ refuses to route to a peer whose connection dropped, often before the disconnect
    // watch has named it: the same root cause, said the same way.
    return this.sendRaw([this.peers[rank].id, ...encode(msg, frames)], (e) => {
      this.fail(new WorkerFailure(`${this.describe(rank)} disconnected (no route to it: ${e.message})`, rank));
    });
  }

  /** Sends one message per rank. */
  async broadcast(make: (rank: number) => CoordMsg): Promise<void> {
    for (let r = 0; r < this.world; r++) void this.send(r, make(r));
    await this.sendChain;
  }

  /** Next message of `type` from one rank (messages of each type are delivered in order). */
  next<T extends WorkerMsg['type']>(rank: number, type: T, timeoutMs: number): Promise<Delivery<Extract<WorkerMsg, { type: T }>>> {
    if (this.failure) return Promise.reject(this.failure);
    return this.peers[rank].mailbox.next(type, timeoutMs, () => {
      const err = new WorkerFailure(`${this.describe(rank)} sent no '${type}' within ${Math.round(timeoutMs / 1000)} s`, rank);
      this.fail(err);
      return err;
    });
  }

  /** One message of `type` from every rank, in rank order. */
  gather<T extends WorkerMsg['type']>(type: T, timeoutMs: number) {
    return Promise.all(Array.from({ length: this.world }, (_, r) => this.next(r, type, timeoutMs)));
  }

  /** Tells every worker to stop (or, after a failure, to abort, on both its sockets) and closes the socket. */
  async close(reason: string, failed = false): Promise<void> {
    if (this.closed) return;
    if (failed && !this.failure) this.failure = new WorkerFailure(reason, null);
    this.closed = true;
    if (this.monitor) clearInterval(this.monitor);
    const last: CoordMsg = this.failure ? this.abort(this.failure.message) : { type: 'stop', reason };
    for (const { id } of this.peers) void this.sendRaw([id, ...encode(last)]);
    // A finished run tells the heartbeat threads too, so the silence that follows is not a death (Note [liveness]).
    this.toHeartbeats(last);
    await Promise.race([this.sendChain, sleep(this.failure ? 1000 : CLOSE_LINGER_MS)]);
    // Sends resolve once queued and the process exits right after a command: the I/O thread needs a moment to deliver 'stop'.
    if (!this.failure) await sleep(STOP_FLUSH_MS);
    this.sock.linger = this.failure ? 0 : CLOSE_LINGER_MS;
    this.sock.close();
  }
}
