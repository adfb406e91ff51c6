/**
 * One rank's incoming messages, by type: each goes to whoever waits for the next message of its
 * type, or is kept until asked for. Messages of one type are handed out in the order they came.
 */

/** A message with its raw data frames. */
export interface Delivery<M> {
  msg: M;
  frames: Buffer[];
}

type Waiter<M> = { resolve: (d: Delivery<M>) => void; reject: (e: Error) => void };

export class Mailbox<M extends { type: string }> {
  private readonly kept = new Map<string, Delivery<M>[]>();
  private readonly waiters = new Map<string, Waiter<M>>();

  /** `owner` names the sender in errors (e.g. 'rank 2'). */
  constructor(private readonly owner: string) {}

  /** Hands a message to its waiter, or keeps it. */
  deliver(d: Delivery<M>): void {
    const waiter = this.waiters.get(d.msg.type);
    if (waiter) {
      this.waiters.delete(d.msg.type);
      waiter.resolve(d);
      return;
    }
    const box = this.kept.get(d.msg.type) ?? [];
    box.push(d);
    this.kept.set(d.msg.type, box);
  }

  /** The next message of `type`; after `timeoutMs` without one, fails with the error `timedOut` makes. */
  next<T extends M['type']>(type: T, timeoutMs: number, timedOut: () => Error): Promise<Delivery<Extract<M, { type: T }>>> {
    type Reply = Delivery<Extract<M, { type: T }>>;
    const queued = this.kept.get(type)?.shift();
    if (queued) return Promise.resolve(queued as Reply);
    if (this.waiters.has(type)) return Promise.reject(new Error(`internal: two waits for '${type}' from ${this.owner}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(type);
        reject(timedOut());
      }, timeoutMs);
      this.waiters.set(type, {
        resolve: (d) => {
          clearTimeout(timer);
          resolve(d as Reply);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Fails every pending wait with `err`. */
  rejectAll(err: Error): void {
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }
}
