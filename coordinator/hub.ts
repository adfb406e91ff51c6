/**
 * The coordinator's side of the control plane: one ROUTER socket, one receive loop.
 * Workers connect, say hello and get a rank in arrival order. Every message a worker sends lands
 * in that rank's mailbox; `gather` waits for one message of a given type from every rank and fails
 * fast (naming rank, host and pid) when a worker reports an error, disconnects, or stays silent.
 */
import * as zmq from 'zeromq';
import { decodeWorkerMsg, encode, ProtocolError, type CoordMsg, type WorkerMsg } from '../shared/protocol';

/** Where a worker runs, for error messages. */
export interface WorkerInfo {
  rank: number;
  host: string;
  pid: number;
}

type Waiter = { resolve: (m: { msg: WorkerMsg; frames: Buffer[] }) => void; reject: (e: Error) => void };

export class WorkerFailure extends Error {
  constructor(
    message: string,
    readonly rank: number | null,
  ) {
    super(message);
  }
}

export class WorkerHub {
  readonly workers: WorkerInfo[] = [];
  private readonly ids: Buffer[] = [];
  private readonly mailboxes: { msg: WorkerMsg; frames: Buffer[] }[][] = [];
  private readonly waiters: (Waiter | null)[] = [];
  private failure: WorkerFailure | null = null;
  private helloWaiter: (() => void) | null = null;
  private closed = false;
  private sendChain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly sock: zmq.Router,
    readonly world: number,
    private readonly log: (line: string) => void,
  ) {}

  /** Binds the control socket and starts the receive loop. */
  static async bind(address: string, world: number, log: (line: string) => void = (l) => console.error(l)): Promise<WorkerHub> {
    const sock = new zmq.Router({ linger: 0, mandatory: true });
    try {
      await sock.bind(address);
    } catch (e) {
      sock.close();
      throw new Error(`cannot bind the coordinator to ${address}: ${(e as Error).message}`);
    }
    const hub = new WorkerHub(sock, world, log);
    hub.watchDisconnects();
    void hub.receiveLoop();
    return hub;
  }

  /** The address workers connect to (resolves a :0 port). */
  get endpoint(): string {
    return this.sock.lastEndpoint ?? '';
  }

  private describe(rank: number): string {
    const w = this.workers[rank];
    return w ? `worker rank ${rank} (host ${w.host}, pid ${w.pid})` : `worker rank ${rank}`;
  }

  private watchDisconnects(): void {
    this.sock.events.on('disconnect', () => {
      if (this.closed) return;
      // ZeroMQ does not say which peer left; all workers stay connected until stop, so any
      // disconnect before then is a failure. Name the ranks that are no longer answering.
      this.fail(new WorkerFailure(`a worker disconnected from the coordinator (process died or closed its socket)`, null));
    });
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [id, ...frames] of this.sock) {
        let rank = this.ids.findIndex((x) => x.equals(id));
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
        if (rank < 0) {
          if (msg.type !== 'hello') {
            this.log(`ringtune: ignored '${msg.type}' from a peer that has not said hello`);
            continue;
          }
          if (this.ids.length >= this.world) {
            this.log(`ringtune: refused worker ${msg.host}:${msg.pid}: all ${this.world} ranks are taken`);
            continue;
          }
          rank = this.ids.length;
          this.ids.push(Buffer.from(id));
          this.workers.push({ rank, host: msg.host, pid: msg.pid });
          this.mailboxes.push([]);
          this.waiters.push(null);
          if (this.ids.length === this.world) this.helloWaiter?.();
          continue;
        }
        if (msg.type === 'heartbeat') continue;
        if (msg.type === 'error') {
          this.fail(new WorkerFailure(`${this.describe(rank)} failed: ${msg.message}`, rank));
          continue;
        }
        const waiter = this.waiters[rank];
        if (waiter) {
          this.waiters[rank] = null;
          waiter.resolve(decoded);
        } else this.mailboxes[rank].push(decoded);
      }
    } catch (e) {
      if (!this.closed) this.fail(new WorkerFailure(`coordinator socket failed: ${(e as Error).message}`, null));
    }
  }

  private fail(err: WorkerFailure): void {
    if (this.failure) return;
    this.failure = err;
    for (let r = 0; r < this.waiters.length; r++) {
      const w = this.waiters[r];
      this.waiters[r] = null;
      w?.reject(err);
    }
  }

  /** Waits until `world` workers have said hello. */
  async accept(timeoutMs: number): Promise<WorkerInfo[]> {
    if (this.ids.length < this.world) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new WorkerFailure(`only ${this.ids.length} of ${this.world} workers connected to ${this.endpoint} within ${Math.round(timeoutMs / 1000)} s`, null)),
          timeoutMs,
        );
        this.helloWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.workers;
  }

  /** Sends a message to one rank. Sends are serialized: zeromq allows one pending send per socket. */
  send(rank: number, msg: CoordMsg, frames: Uint8Array[] = []): Promise<void> {
    const out = [this.ids[rank], ...encode(msg, frames)];
    this.sendChain = this.sendChain.then(() => this.sock.send(out)).catch((e) => {
      this.fail(new WorkerFailure(`cannot reach ${this.describe(rank)}: ${(e as Error).message}`, rank));
    });
    return this.sendChain;
  }

  /** Sends one message per rank. */
  async broadcast(make: (rank: number) => CoordMsg): Promise<void> {
    for (let r = 0; r < this.world; r++) void this.send(r, make(r));
    await this.sendChain;
  }

  /** Next message from one rank; it must have the expected type. */
  next<T extends WorkerMsg['type']>(rank: number, type: T, timeoutMs: number): Promise<{ msg: Extract<WorkerMsg, { type: T }>; frames: Buffer[] }> {
    if (this.failure) return Promise.reject(this.failure);
    const check = (m: { msg: WorkerMsg; frames: Buffer[] }) => {
      if (m.msg.type !== type) throw new WorkerFailure(`${this.describe(rank)} sent '${m.msg.type}' while the coordinator expected '${type}'`, rank);
      return m as { msg: Extract<WorkerMsg, { type: T }>; frames: Buffer[] };
    };
    const queued = this.mailboxes[rank].shift();
    if (queued) return Promise.resolve().then(() => check(queued));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters[rank] = null;
        const err = new WorkerFailure(`${this.describe(rank)} sent no '${type}' within ${Math.round(timeoutMs / 1000)} s`, rank);
        this.fail(err);
        reject(err);
      }, timeoutMs);
      this.waiters[rank] = {
        resolve: (m) => {
          clearTimeout(timer);
          try {
            resolve(check(m));
          } catch (e) {
            this.fail(e as WorkerFailure);
            reject(e);
          }
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** One message of `type` from every rank, in rank order. */
  gather<T extends WorkerMsg['type']>(type: T, timeoutMs: number) {
    return Promise.all(Array.from({ length: this.world }, (_, r) => this.next(r, type, timeoutMs)));
  }

  /** Tells every worker to stop and closes the socket. */
  async close(reason: string): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      for (let r = 0; r < this.ids.length; r++) await this.sock.send([this.ids[r], ...encode({ type: 'stop', reason })]).catch(() => undefined);
    } finally {
      this.sock.close();
    }
  }
}
