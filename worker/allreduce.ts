/**
 * Timing of one allReduceSum: `waitMs` until the peers had arrived (their compute running longer
 * than ours, not the transport), `totalMs` for the whole call.
 */
export interface AllReduceTiming {
  waitMs: number;
  totalMs: number;
}

/**
 * What a replica needs from a gradient all-reduce, whatever moves the bytes: the ZeroMQ ring
 * (ring.ts, any hosts) or shared memory (shm-allreduce.ts, every rank on one host).
 */
export interface AllReduce {
  /** 'ring' or 'shm', for logs and metrics. */
  readonly kind: string;
  /**
   * A buffer of `floats` to fill and pass to allReduceSum. The shared-memory all-reduce hands out
   * its own mapped region (no copy in or out); the ring a plain array. One buffer at a time: a
   * later call may return the same memory.
   */
  buffer(floats: number): Float32Array;
  /** Resolves once the buffer from buffer() may be written again (peers finished reading it). */
  prepare(): Promise<void>;
  /**
   * In place: buf = scale * (sum over ranks), bitwise identical on every rank and in every run.
   * `tag` (e.g. the step number) must be the same on every rank; a mismatch is an error naming the peer.
   */
  allReduceSum(buf: Float32Array, tag: number, scale?: number): Promise<AllReduceTiming>;
  /** Bytes of buffer passed through allReduceSum so far. */
  readonly bytesReduced: number;
  /** Releases sockets or shared memory. */
  close(): Promise<void>;
}
