/**
 * The control-plane protocol between coordinator and workers. A message is one msgpack header
 * frame followed by zero or more raw binary frames (tensors never go through msgpack: it copies).
 * Every header carries the protocol version; a peer speaking another version is refused.
 * `decode` validates everything it returns, so a malformed or hostile message becomes a
 * ProtocolError, never a crash deeper in.
 */
import { pack, unpack } from 'msgpackr';
import type { RunConfig } from './config';
import type { Item } from './data/folders';

export const PROTOCOL_VERSION = 2;
/** Liveness (see Note [liveness] in worker/heartbeat.ts): ping interval, and silences after which a peer counts as dead. */
export const HEARTBEAT_MS = 250;
export const WORKER_SILENT_MS = 4000;
export const COORDINATOR_SILENT_MS = 3000;
/** Largest header we accept: guards against hostile or corrupt input. */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;

/** Worker -> coordinator. */
export type WorkerMsg =
  | { type: 'hello'; host: string; pid: number }
  | {
      type: 'ready';
      ringEndpoint: string;
      weightsHash: string;
      backend: string;
      backendReason: string;
      params: number;
      groups: number;
      host: string;
      shmUnavailable: string;
    }
  | { type: 'ringReady' }
  | {
      type: 'stepDone';
      step: number;
      loss: number;
      n: number;
      computeMs: number;
      allreduceMs: number;
      allreduceWaitMs: number;
      allreduceBytes: number;
      tensors: number;
      rssBytes: number;
    }
  | { type: 'validDone'; epoch: number; lossSum: number; correct: number; n: number; weightsHash: string }
  | { type: 'model'; modelJson: string }
  | { type: 'checkpointData'; step: number; adamStep: number; full: boolean }
  | { type: 'heartbeat'; rank: number; pid: number }
  | { type: 'error'; message: string };

/** One step's orders: what to compute and with which hyper-parameters. */
export interface StepOrder {
  type: 'step';
  step: number;
  phase: number;
  phaseName: string;
  epoch: number;
  freezeTo: number;
  lrs: number[];
  mom: number;
  indices: number[];
  next: number[] | null;
}

/** Coordinator -> worker. */
export type CoordMsg =
  | { type: 'welcome'; rank: number; world: number; config: RunConfig; items: Item[]; validItems: Item[] }
  | { type: 'ring'; endpoints: string[]; allreduce: 'ring' | 'shm'; shmName: string }
  | StepOrder
  | { type: 'validate'; epoch: number; batches: { indices: number[]; real: number }[] }
  | { type: 'save' }
  | { type: 'checkpoint'; step: number }
  | { type: 'restore'; phase: number; freezeTo: number; adamStep: number }
  | { type: 'stop'; reason: string }
  | { type: 'abort'; reason: string }
  | { type: 'heartbeat' };

export class ProtocolError extends Error {}

/** Encodes a header (and raw frames) as ZeroMQ frames. */
export function encode(msg: WorkerMsg | CoordMsg, frames: Uint8Array[] = []): Buffer[] {
  return [pack({ v: PROTOCOL_VERSION, ...msg }), ...frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength))];
}

const WORKER_FIELDS: Record<WorkerMsg['type'], Record<string, string>> = {
  hello: { host: 'string', pid: 'number' },
  ready: {
    ringEndpoint: 'string',
    weightsHash: 'string',
    backend: 'string',
    backendReason: 'string',
    params: 'number',
    groups: 'number',
    host: 'string',
    shmUnavailable: 'string',
  },
  ringReady: {},
  stepDone: {
    step: 'number',
    loss: 'number',
    n: 'number',
    computeMs: 'number',
    allreduceMs: 'number',
    allreduceWaitMs: 'number',
    allreduceBytes: 'number',
    tensors: 'number',
    rssBytes: 'number',
  },
  validDone: { epoch: 'number', lossSum: 'number', correct: 'number', n: 'number', weightsHash: 'string' },
  model: { modelJson: 'string' },
  checkpointData: { step: 'number', adamStep: 'number', full: 'boolean' },
  heartbeat: { rank: 'number', pid: 'number' },
  error: { message: 'string' },
};

const COORD_FIELDS: Record<CoordMsg['type'], Record<string, string>> = {
  welcome: { rank: 'number', world: 'number', config: 'object', items: 'array', validItems: 'array' },
  ring: { endpoints: 'array', allreduce: 'string', shmName: 'string' },
  step: {
    step: 'number',
    phase: 'number',
    phaseName: 'string',
    epoch: 'number',
    freezeTo: 'number',
    lrs: 'array',
    mom: 'number',
    indices: 'array',
  },
  validate: { epoch: 'number', batches: 'array' },
  save: {},
  checkpoint: { step: 'number' },
  restore: { phase: 'number', freezeTo: 'number', adamStep: 'number' },
  stop: { reason: 'string' },
  abort: { reason: 'string' },
  heartbeat: {},
};

/** Number of raw frames each message type must carry (checkpoint data: BN stats, plus weights and Adam m, v from one rank). */
const FRAME_COUNT: Record<string, (h: Record<string, unknown>) => number> = {
  model: () => 1,
  checkpointData: (h) => (h.full ? 4 : 1),
  restore: () => 4,
};

function decodeWith<T>(frames: Buffer[], table: Record<string, Record<string, string>>, from: string): { msg: T; frames: Buffer[] } {
  if (frames.length === 0) throw new ProtocolError(`empty message from ${from}`);
  if (frames[0].length > MAX_HEADER_BYTES)
    throw new ProtocolError(`header of ${frames[0].length} bytes from ${from} exceeds ${MAX_HEADER_BYTES}`);
  let header: unknown;
  try {
    header = unpack(frames[0]);
  } catch (e) {
    throw new ProtocolError(`undecodable header from ${from}: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new ProtocolError(`header from ${from} is not a map`);
  const h = header as Record<string, unknown>;
  if (h.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `${from} speaks ringtune protocol v${String(h.v)}, this process speaks v${PROTOCOL_VERSION}: run the same ringtune version everywhere`,
    );
  }
  const fields = typeof h.type === 'string' && Object.prototype.hasOwnProperty.call(table, h.type) ? table[h.type] : undefined;
  if (!fields) throw new ProtocolError(`unknown message type ${JSON.stringify(h.type)} from ${from}`);
  for (const [name, kind] of Object.entries(fields)) {
    const value = h[name];
    const ok =
      kind === 'array'
        ? Array.isArray(value)
        : kind === 'number'
          ? (typeof value === 'number' && Number.isFinite(value)) || (name === 'loss' && typeof value === 'number')
          : typeof value === kind && value !== null;
    if (!ok) throw new ProtocolError(`message '${h.type}' from ${from}: field '${name}' must be ${kind}`);
  }
  const expected = FRAME_COUNT[h.type as string]?.(h) ?? 0;
  if (frames.length - 1 !== expected)
    throw new ProtocolError(`message '${h.type}' from ${from} has ${frames.length - 1} data frames, expected ${expected}`);
  return { msg: h as T, frames: frames.slice(1) };
}

/** Decodes and validates a message a worker sent. */
export function decodeWorkerMsg(frames: Buffer[], from: string) {
  return decodeWith<WorkerMsg>(frames, WORKER_FIELDS, from);
}

/** Decodes and validates a message the coordinator sent. */
export function decodeCoordMsg(frames: Buffer[], from = 'coordinator') {
  return decodeWith<CoordMsg>(frames, COORD_FIELDS, from);
}
