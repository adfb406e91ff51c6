/**
 * Ring all-reduce over ZeroMQ: reduce-scatter then all-gather (see Note [ring schedule] in
 * ring-layout.ts), chunked into frames and pipelined: as soon as a chunk arrives it is summed and
 * queued for the right neighbour while libzmq's I/O thread moves the next ones.
 *
 * Note [zero-copy lifetimes]: frames over 128 bytes leave straight from JS memory, so a sent
 * region must stay untouched until the peer has it. Reduce-scatter sends regions of `buf` itself;
 * every one of them is overwritten later only by the all-gather, with data that can arrive only
 * after it went round the ring through the right neighbour, i.e. after that neighbour received
 * ours. All-gather sends never point into `buf` (a copy of the owned sum in `staging`, then the
 * received frames themselves are forwarded), so when `allReduceSum` returns the caller owns `buf`
 * again. `staging` is reused by the next call without waiting: its chunk c is rewritten only after
 * this rank received chunk c of the last reduce-scatter step, a partial sum that started at the
 * right neighbour in the new call, so that neighbour had already finished the previous call, i.e.
 * received every staging frame of it.
 */
import type { AllReduce, AllReduceTiming } from '../allreduce';
import { clientOptions, serverOptions, startZapHandler, type JobKeys } from '../../shared/curve';
import { rmSync } from 'fs';
import type * as zmq from 'zeromq';
import { scaleInPlace, summableFloats } from '../reduce/add';
import { freshIpcEndpoint, formatEndpoint, hostKey, ipcPath, pickAddress, type RingTransport } from './endpoint';
import { checkHeader, decodeHeader, encodeHeader, HELLO_STEP, wireCodeOf, type FrameHeader, type WireName } from './frame';
import { chunkRange, chunksPerSegment, isReduceStep, recvSegment, ringSteps, sendSegment } from './layout';
import { FrameWriter, makePull, makePush, receiveFrom } from './link';
import { wireCodec, type WireCodec } from './wire';

/** How a rank joins the ring. */
export interface RingOptions {
  rank: number;
  world: number;
  /** Interface to bind for tcp (default '127.0.0.1'); the port is chosen by the OS. */
  host?: string;
  /** auto (default): ipc when every endpoint is on this host, else tcp. */
  transport?: RingTransport;
  /** Frame payload size in bytes (default 1 MiB; 1-4 MiB measured best). */
  chunkBytes?: number;
  /** Every blocking wait times out with an error naming the peer rank (default 30000). */
  timeoutMs?: number;
  /** The job's CURVE keys: the bound socket admits only holders, the connecting one proves it holds them. */
  keys?: JobKeys | null;
  /**
   * Payload encoding on the wire (default 'f32'). 'bf16' and 'fp16' (scaled per frame, 3 more mantissa
   * bits) halve the bytes; sums stay fp32 and the result (rounded by its owner) is still bitwise
   * identical on every rank. All ranks must agree.
   */
  wire?: WireName;
  /** How errors name a ring rank (default `rank r`), e.g. by its rank in the whole job. */
  peerName?: (rank: number) => string;
}

/** A rank's settings after defaults, with the socket bind() opened. */
interface BoundRing {
  rank: number;
  world: number;
  pull: zmq.Pull;
  /** What the left neighbour must connect to. */
  endpoint: string;
  chunkFloats: number;
  timeoutMs: number;
  /** The ipc socket file to remove on close (null: tcp only). */
  ipcFile: string | null;
  /** Wire code of the payload encoding (frame.ts). */
  wire: number;
  keys: JobKeys | null;
  peerName: (rank: number) => string;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;
const DEFAULT_TIMEOUT_MS = 30000;
const CLOSE_LINGER_MS = 1000;

/** One rank of a ring all-reduce. */
export class Ring implements AllReduce {
  readonly kind = 'ring';
  private push: zmq.Push | null = null;
  private writer: FrameWriter | null = null;
  private broken: Error | null = null;
  private sent = 0;
  /** Outgoing copy of the segment this rank owns after the reduce-scatter (Note [zero-copy lifetimes]). */
  private staging = new Float32Array(0);
  private reduced = 0;
  private left = '';
  private right = '';

  /** What the left neighbour must connect to. */
  readonly endpoint: string;

  private constructor(private readonly bound: BoundRing) {
    const { rank, world } = bound;
    this.endpoint = bound.endpoint;
    this.nameNeighbours(bound.peerName);
  }

  /** Binds this rank's receiving socket; `endpoint` is what the left neighbour must connect to. */
  static async bind(opts: RingOptions): Promise<Ring> {
    const { rank, world } = opts;
    if (!Number.isInteger(world) || world < 1) throw new Error(`ring: world must be a positive integer, got ${world}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new Error(`ring: rank must be in [0, ${world}), got ${rank}`);
    const transport = opts.transport ?? 'auto';
    if (!['tcp', 'ipc', 'auto'].includes(transport)) throw new Error(`ring: transport must be tcp, ipc or auto, got ${transport}`);
    const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!(chunkBytes >= 4)) throw new Error(`ring: chunkBytes must be at least 4, got ${chunkBytes}`);
    const wireCode = wireCodeOf(opts.wire ?? 'f32');
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new Error(`ring: timeoutMs must be positive, got ${timeoutMs}`);

    const keys = opts.keys ?? null;
    if (keys) await startZapHandler(keys);
    const pull = makePull(timeoutMs, keys ? serverOptions(keys) : {});
    let tcp: string | undefined;
    let ipc: string | undefined;
    try {
      if (transport !== 'ipc') {
        await pull.bind(`tcp://${opts.host ?? '127.0.0.1'}:*`);
        tcp = pull.lastEndpoint ?? undefined;
      }
      if (transport !== 'tcp') {
        ipc = freshIpcEndpoint();
        await pull.bind(ipc);
      }
    } catch (e) {
      pull.close();
      throw new Error(`ring: rank ${rank} could not bind ${transport} on ${opts.host ?? '127.0.0.1'}: ${(e as Error).message}`);
    }
    const endpoint = formatEndpoint({ tcp, ipc, host: hostKey() });
    return new Ring({
      rank,
      world,
      pull,
      endpoint,
      chunkFloats: Math.floor(chunkBytes / 4),
      timeoutMs,
      ipcFile: ipc ? ipcPath(ipc) : null,
      wire: wireCode,
      keys,
      peerName: opts.peerName ?? ((r) => `rank ${r}`),
    });
  }

  /** Bytes of payload this rank has sent so far. */
  get bytesSent(): number {
    return this.sent;
  }

  /** Bytes of buffer passed through `allReduceSum` so far (the size of what was all-reduced). */
  get bytesReduced(): number {
    return this.reduced;
  }

  /** How errors name the neighbours. */
  private nameNeighbours(name: (rank: number) => string): void {
    const { rank, world } = this.bound;
    this.left = `${name((rank + world - 1) % world)} (left neighbour of ${name(rank)})`;
    this.right = `${name((rank + 1) % world)} (right neighbour of ${name(rank)})`;
  }

  /**
   * Connects to the right neighbour, given every rank's endpoint (index = rank), and shakes hands.
   * `peerName`, when given, names the ranks in errors from now on (e.g. once their job ranks are known).
   */
  async connect(endpoints: string[], peerName?: (rank: number) => string): Promise<void> {
    if (peerName) this.nameNeighbours(peerName);
    if (this.bound.world === 1) return;
    if (this.push) throw new Error(`ring: rank ${this.bound.rank} is already connected`);
    if (endpoints.length !== this.bound.world) {
      throw new Error(`ring: rank ${this.bound.rank} got ${endpoints.length} endpoints for a ring of ${this.bound.world}`);
    }
    const address = pickAddress(endpoints, (this.bound.rank + 1) % this.bound.world, hostKey());
    this.push = makePush(this.bound.timeoutMs, this.bound.keys ? clientOptions(this.bound.keys) : {});
    this.push.connect(address);
    this.writer = new FrameWriter(this.push, this.right, this.bound.timeoutMs);
    const hello = this.header(HELLO_STEP, 0, 0, 0);
    this.writer.push([hello], () => 'the handshake');
    const [h] = await receiveFrom(this.bound.pull, this.left, this.bound.timeoutMs, 'the handshake');
    checkHeader(decodeHeader(h, this.left), this.expected(HELLO_STEP, 0, 0, 0), this.left);
    await this.writer.drain();
  }

  /** An array in wasm memory, so the reduce-scatter sums into it in place (reduce-add.ts); any Float32Array works too. */
  buffer(floats: number): Float32Array {
    return summableFloats(floats);
  }

  /** Nothing to wait for: the caller owns `buf` again when allReduceSum returns (Note [zero-copy lifetimes]). */
  async prepare(): Promise<void> {}

  /**
   * In place: buf = scale * (sum over all ranks). The result is bitwise identical on every rank and
   * in every run (fixed reduction order; the owner of a chunk scales it before the all-gather).
   * `tag` (e.g. the step number) is checked on every frame. `waitMs` of the timing lasts until the
   * left neighbour's first frame arrived (time spent waiting for slower ranks to reach the call).
   */
  async allReduceSum(buf: Float32Array, tag: number, scale = 1): Promise<AllReduceTiming> {
    if (this.broken) throw new Error(`ring: rank ${this.bound.rank} is unusable after an earlier failure: ${this.broken.message}`);
    this.reduced += buf.byteLength;
    const t0 = performance.now();
    if (this.bound.world === 1) {
      if (scale !== 1) scaleInPlace(buf, scale);
      return { waitMs: 0, totalMs: performance.now() - t0 };
    }
    if (!this.writer) throw new Error(`ring: rank ${this.bound.rank} must connect() before allReduceSum`);
    try {
      const waitMs = await this.runCollective(buf, tag, scale, this.writer, t0);
      return { waitMs, totalMs: performance.now() - t0 };
    } catch (e) {
      this.broken = e as Error;
      throw e;
    }
  }

  /** The reduce-scatter and all-gather; returns how long the first frame took to arrive (from t0). */
  private async runCollective(buf: Float32Array, tag: number, scale: number, writer: FrameWriter, t0: number): Promise<number> {
    const { rank, world } = this.bound;
    const codec: WireCodec = wireCodec(this.bound.wire);
    const n = buf.length;
    const chunks = chunksPerSegment(n, world, this.bound.chunkFloats);
    const send = (step: number, c: number, payload: Buffer): void => {
      this.sent += payload.byteLength;
      writer.push([this.header(step, c, tag, n), payload], () => `step ${step} chunk ${c} of tag ${tag}`);
    };

    const ownedSeg = recvSegment(rank, world, world - 2);
    const ownedStart = chunkRange(n, world, chunks, ownedSeg, 0).start;
    const ownedLen = chunkRange(n, world, chunks, ownedSeg, chunks - 1).end - ownedStart;
    if (this.staging.length < ownedLen) this.staging = new Float32Array(ownedLen);
    const staging = this.staging;

    const first = sendSegment(rank, world, 0);
    for (let c = 0; c < chunks; c++) {
      const at = chunkRange(n, world, chunks, first, c);
      send(0, c, codec.outgoing(buf.subarray(at.start, at.end)));
    }

    const steps = ringSteps(world);
    let waitMs = 0;
    for (let step = 0; step < steps; step++) {
      const seg = recvSegment(rank, world, step);
      for (let c = 0; c < chunks; c++) {
        if (writer.failure) throw writer.failure;
        const [h, payload] = await receiveFrom(this.bound.pull, this.left, this.bound.timeoutMs, `step ${step} chunk ${c} of tag ${tag}`);
        checkHeader(decodeHeader(h, this.left), this.expected(step, c, tag, n), this.left);
        if (step === 0 && c === 0) waitMs = performance.now() - t0;
        const at = chunkRange(n, world, chunks, seg, c);
        const dst = buf.subarray(at.start, at.end);
        if (payload === undefined || payload.byteLength !== codec.payloadBytes(dst.length)) {
          throw new Error(
            `ring: ${this.left} sent ${payload?.byteLength ?? 0} payload bytes for step ${step} chunk ${c}, expected ${codec.payloadBytes(dst.length)}`,
          );
        }
        if (isReduceStep(world, step)) {
          codec.add(dst, payload);
          const owned = !isReduceStep(world, step + 1);
          if (owned && scale !== 1) scaleInPlace(dst, scale);
          // The owned sum leaves from staging (or a fresh encoding), never from buf (Note [zero-copy lifetimes]).
          send(step + 1, c, owned ? codec.owned(dst, staging.subarray(at.start - ownedStart, at.end - ownedStart)) : codec.outgoing(dst));
        } else {
          codec.copy(dst, payload);
          if (step + 1 < steps) send(step + 1, c, payload);
        }
      }
    }
    await writer.drain();
    return waitMs;
  }

  private header(step: number, chunk: number, tag: number, floats: number): Buffer {
    return encodeHeader({ world: this.bound.world, rank: this.bound.rank, step, chunk, tag, floats, wire: this.bound.wire });
  }

  private expected(step: number, chunk: number, tag: number, floats: number): FrameHeader {
    return {
      world: this.bound.world,
      rank: (this.bound.rank + this.bound.world - 1) % this.bound.world,
      step,
      chunk,
      tag,
      floats,
      wire: this.bound.wire,
    };
  }

  /**
   * Closes both sockets (pending waits fail) and removes the ipc socket file. The last all-gather
   * frames may still be queued when allReduceSum returns, so the sending socket lingers briefly
   * (up to a second) to deliver them to a live neighbour instead of dropping them.
   */
  async close(): Promise<void> {
    const healthy = !this.broken;
    this.broken ??= new Error('the ring was closed');
    if (this.push) this.push.linger = healthy ? Math.min(this.bound.timeoutMs, CLOSE_LINGER_MS) : 0;
    this.push?.close();
    this.bound.pull.close();
    if (this.bound.ipcFile) rmSync(this.bound.ipcFile, { force: true });
  }
}
