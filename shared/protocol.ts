/**
 * The control-plane protocol between coordinator and workers. A message is one msgpack header
 * frame followed by zero or more raw binary frames (tensors never go through msgpack: it copies).
 * Every header carries the protocol version; a peer speaking another version is refused.
 * `decode` validates everything it returns, so a malformed or hostile message becomes a
 * ProtocolError, never a crash deeper in.
 */
import { pack, unpack } from 'msgpackr';
import { runConfig } from './config';
import type { Item } from './data/folders';
import { ALLREDUCE_KINDS } from './allreduce-choice';
import type { HierPlacement } from './hier-plan';
import { anyNumber, arrayOf, count, failingField, finite, flag, integer, isMap, nullable, oneOf, record, text } from './schema';
import type { Check, Fields, RecordOf } from './schema';

export const PROTOCOL_VERSION = 3;
/** Liveness (see Note [liveness] in worker/heartbeat.ts): ping interval, and silences after which a peer counts as dead. */
export const HEARTBEAT_MS = 250;
export const WORKER_SILENT_MS = 4000;
export const COORDINATOR_SILENT_MS = 3000;
/** A worker's exit status when the coordinator ended the job for good: a supervisor must not restart it. */
export const EXIT_JOB_FAILED = 76;
/** Largest header we accept: guards against hostile or corrupt input. */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;

/** Worker -> coordinator: each message's fields and their checks (the types below derive from these). */
const WORKER_MESSAGES = {
  /** `order`: the worker's task rank in its job, when it has one (ranks are numbered by host, then by it). */
  hello: { host: text, pid: count, order: nullable(integer) },
  ready: {
    ringEndpoint: text,
    weightsHash: text,
    backend: text,
    backendReason: text,
    params: count,
    groups: count,
    host: text,
    shmUnavailable: text,
  },
  ringReady: {},
  /** Hierarchical all-reduce: the endpoints of this rank's slice rings, one per owned slice. */
  hierBound: { endpoints: arrayOf(text) },
  stepDone: {
    step: integer,
    loss: anyNumber,
    n: count,
    computeMs: finite,
    allreduceMs: finite,
    allreduceWaitMs: finite,
    allreduceBytes: count,
    tensors: count,
    rssBytes: count,
    jsHeapBytes: count,
  },
  validDone: { epoch: integer, lossSum: finite, correct: count, n: count, weightsHash: text },
  model: { modelJson: text },
  checkpointData: { step: integer, adamStep: count, full: flag },
  heartbeat: { rank: integer, pid: count },
  error: { message: text },
} satisfies Record<string, Fields>;

/** A rank's part of the hierarchical all-reduce (shared/hier-plan.ts). */
const hierPlacement: Check<HierPlacement> = record({
  host: count,
  hosts: count,
  localRank: count,
  localWorld: count,
  slices: count,
  owned: arrayOf(count),
  hostRanks: arrayOf(count),
});

/** Dataset indices of one batch. */
const indices = arrayOf(count);
const item: Check<Item> = record({ file: text, label: count });

/** Coordinator -> worker. */
const COORD_MESSAGES = {
  welcome: {
    rank: count,
    world: count,
    config: runConfig,
    items: arrayOf(item),
    validItems: arrayOf(item),
  },
  /** The all-reduce to join; `hier`: this rank's part of the hierarchical one (else null), `shmName` its host's segment. */
  ring: { endpoints: arrayOf(text), allreduce: oneOf(ALLREDUCE_KINDS), shmName: text, hier: nullable(hierPlacement) },
  /** Hierarchical all-reduce: each owned slice's ring, its members' ranks and endpoints in host order. */
  hierRings: { rings: arrayOf(record({ slice: count, ranks: arrayOf(count), endpoints: arrayOf(text) })) },
  /** What to compute (and prefetch next: null after an epoch's last step) with which hyper-parameters. */
  step: {
    step: integer,
    phase: integer,
    phaseName: text,
    epoch: integer,
    freezeTo: count,
    lrs: arrayOf(finite),
    mom: finite,
    indices,
    next: nullable(indices),
  },
  validate: { epoch: integer, batches: arrayOf(record({ indices, real: count })) },
  save: {},
  checkpoint: { step: integer },
  restore: { phase: integer, freezeTo: count, adamStep: count },
  stop: { reason: text },
  /** The run failed; `final`: no restart follows (the worker exits with EXIT_JOB_FAILED, else it may be restarted). */
  abort: { reason: text, final: flag },
  heartbeat: {},
} satisfies Record<string, Fields>;

/** A union of `{ type, ...fields }`, one member per message of a table. */
type MessagesOf<M extends Record<string, Fields>> = { [K in keyof M & string]: { type: K } & RecordOf<M[K]> }[keyof M & string];

/** Worker -> coordinator. */
export type WorkerMsg = MessagesOf<typeof WORKER_MESSAGES>;
/** Coordinator -> worker. */
export type CoordMsg = MessagesOf<typeof COORD_MESSAGES>;
/** One step's orders. */
export type StepOrder = Extract<CoordMsg, { type: 'step' }>;

export class ProtocolError extends Error {}

/** Encodes a header (and raw frames) as ZeroMQ frames. */
export function encode(msg: WorkerMsg | CoordMsg, frames: Uint8Array[] = []): Buffer[] {
  return [pack({ v: PROTOCOL_VERSION, ...msg }), ...frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength))];
}

/** Number of raw frames each message type must carry (checkpoint data: BN stats, plus weights and Adam m, v from one rank). */
const FRAME_COUNT: Record<string, (h: Record<string, unknown>) => number> = {
  model: () => 1,
  checkpointData: (h) => (h.full ? 4 : 1),
  restore: () => 4,
};

function decodeWith<T>(frames: Buffer[], table: Record<string, Fields>, from: string): { msg: T; frames: Buffer[] } {
  if (frames.length === 0) throw new ProtocolError(`empty message from ${from}`);
  if (frames[0].length > MAX_HEADER_BYTES)
    throw new ProtocolError(`header of ${frames[0].length} bytes from ${from} exceeds ${MAX_HEADER_BYTES}`);
  let header: unknown;
  try {
    header = unpack(frames[0]);
  } catch (e) {
    throw new ProtocolError(`undecodable header from ${from}: ${(e as Error).message}`);
  }
  if (!isMap(header)) throw new ProtocolError(`header from ${from} is not a map`);
  const h = header;
  if (h.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `${from} speaks ringtune protocol v${String(h.v)}, this process speaks v${PROTOCOL_VERSION}: run the same ringtune version everywhere`,
    );
  }
  const fields = typeof h.type === 'string' && Object.prototype.hasOwnProperty.call(table, h.type) ? table[h.type] : undefined;
  if (!fields) throw new ProtocolError(`unknown message type ${JSON.stringify(h.type)} from ${from}`);
  const bad = failingField(fields, h);
  if (bad !== null) throw new ProtocolError(`message '${h.type}' from ${from}: field '${bad.path}' must be ${bad.what}`);
  const expected = FRAME_COUNT[h.type as string]?.(h) ?? 0;
  if (frames.length - 1 !== expected)
    throw new ProtocolError(`message '${h.type}' from ${from} has ${frames.length - 1} data frames, expected ${expected}`);
  return { msg: h as T, frames: frames.slice(1) };
}

/** Decodes and validates a message a worker sent. */
export function decodeWorkerMsg(frames: Buffer[], from: string) {
  return decodeWith<WorkerMsg>(frames, WORKER_MESSAGES, from);
}

/** Decodes and validates a message the coordinator sent. */
export function decodeCoordMsg(frames: Buffer[], from = 'coordinator') {
  return decodeWith<CoordMsg>(frames, COORD_MESSAGES, from);
}
