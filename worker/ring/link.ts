/**
 * The two ZeroMQ sockets of one ring rank: a Pull bound for the left neighbour and a Push connected
 * to the right one. Each socket has exactly one owner: receives are awaited one at a time by the
 * all-reduce loop, and sends go through `FrameWriter`, a FIFO promise chain, because zeromq.js
 * allows only one pending send per socket and a second one throws EBUSY. Every wait times out
 * with an error naming the neighbour.
 *
 * Note [wait slices]: a wait is a loop of short socket timeouts (WAIT_SLICE_MS) up to the ring's
 * timeout, not one long one. Under jest (in-process rings) we saw receives stay asleep for
 * seconds while frames sat in their queue: with 1 s slices, the retry after expiry found its frame
 * within a few ms. Each expiry makes zeromq.js retry the operation directly, so a missed wake-up
 * costs at most one slice. Plain Node processes showed none in 60 all-reduces with 1 s slices.
 */
import * as zmq from 'zeromq';

/** Longest single socket wait; see Note [wait slices]. */
const WAIT_SLICE_MS = 100;

/** Small high-water marks: frames are MBs, and a deep queue only hides a stalled peer. */
const HWM = 4;

/** Creates the receiving socket. */
export function makePull(timeoutMs: number, security: Record<string, unknown> = {}): zmq.Pull {
  return new zmq.Pull({ linger: 0, receiveHighWaterMark: HWM, receiveTimeout: Math.min(timeoutMs, WAIT_SLICE_MS), ...security });
}

/** Creates the sending socket. */
export function makePush(timeoutMs: number, security: Record<string, unknown> = {}): zmq.Push {
  return new zmq.Push({ linger: 0, sendHighWaterMark: HWM, sendTimeout: Math.min(timeoutMs, WAIT_SLICE_MS), ...security });
}

/** True for the error zeromq.js raises when a send or receive hit its timeout. */
export function isTimeout(e: unknown): boolean {
  return (e as { code?: string }).code === 'EAGAIN';
}

/** Retries `op` on socket timeouts until `timeoutMs` has passed; rethrows anything else. */
async function withinTimeout<T>(op: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await op();
    } catch (e) {
      if (!isTimeout(e) || Date.now() >= deadline) throw e;
    }
  }
}

/** Receives one multipart message, turning a timeout into an error that names the sender. */
export async function receiveFrom(pull: zmq.Pull, who: string, timeoutMs: number, waitingFor: string): Promise<Buffer[]> {
  try {
    return await withinTimeout(() => pull.receive(), timeoutMs);
  } catch (e) {
    if (isTimeout(e))
      throw new Error(
        `ring: no frame from ${who} within ${timeoutMs} ms (waiting for ${waitingFor}); is it alive and in the same all-reduce?`,
      );
    throw new Error(`ring: receiving from ${who} failed: ${(e as Error).message}`);
  }
}

/**
 * Sends frames in FIFO order, one pending send at a time. A frame handed to `push` must not be
 * modified afterwards: ZeroMQ sends frames over 128 bytes straight from the JS memory.
 */
export class FrameWriter {
  private tail: Promise<void> = Promise.resolve();
  /** First send error; later frames are dropped once set. */
  failure: Error | null = null;

  constructor(
    private readonly sock: zmq.Push,
    private readonly who: string,
    private readonly timeoutMs: number,
  ) {}

  /** Queues one multipart message. */
  push(frames: Buffer[], what: () => string): void {
    this.tail = this.tail.then(async () => {
      if (this.failure) return;
      try {
        await withinTimeout(() => this.sock.send(frames), this.timeoutMs);
      } catch (e) {
        this.failure = isTimeout(e)
          ? new Error(`ring: ${this.who} did not take ${what()} within ${this.timeoutMs} ms; is it alive and in the same all-reduce?`)
          : new Error(`ring: sending ${what()} to ${this.who} failed: ${(e as Error).message}`);
      }
    });
  }

  /** Resolves when every queued frame is handed to ZeroMQ; throws the first send error. */
  async drain(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.failure;
  }
}
