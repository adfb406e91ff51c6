/**
 * A worker: connects to the coordinator, builds its replica, joins the ring and then does exactly
 * what each message says, one message at a time (one socket, one loop). It never decides anything:
 * schedule, batches and phase come from the coordinator.
 */
import * as zmq from 'zeromq';
import { hostname } from 'os';
import * as tf from '@tensorflow/tfjs';
import { decodeCoordMsg, encode, EXIT_JOB_FAILED, type CoordMsg, type StepOrder, type WorkerMsg } from '../shared/protocol';
import { selectBackend, webgpuDeviceLost } from './backend';
import { buildNet, seedDropout } from './models';
import { mixSeed } from '../shared/rng';
import { modelArtifacts } from './models/io';
import type { RunConfig } from '../shared/config';
import { BatchLoader } from './data/loader';
import { Ring } from './ring/ring';
import { bytesOf } from './ring/wire';
import { hostKey } from './ring/endpoint';
import { HierAllReduce } from './hier/allreduce';
import { joinAllReduce } from './join';
import { shmUnavailable } from './shm/native';
import { segmentLayout } from './shm/layout';
import type { AllReduce } from './allreduce';
import { Replica } from './replica';
import { startHeartbeat, watchLauncher, type Heartbeat } from './heartbeat';
import { memorySample } from './memory-sample';
import { clientOptions, jobKeysFromEnv, type JobKeys } from '../shared/curve';

/** How long a worker waits for its own 'stop' after its heartbeat heard that the run finished. */
const FINISHED_GRACE_MS = 5000;

/** How a worker finds its coordinator. */
export interface WorkerOptions {
  connect: string;
  /** Interface the ring binds for other workers (tcp); defaults to loopback. */
  host?: string;
  /** This worker's task rank in its job (`ringtune run`): the coordinator numbers ranks by host, then by it. */
  order?: number;
  log?: (line: string) => void;
}

/** What every order is handled with: the way back to the coordinator and this worker's settings. */
interface Link {
  send: (m: WorkerMsg, f?: Uint8Array[]) => Promise<void>;
  opts: WorkerOptions;
  log: (l: string) => void;
  keys: JobKeys | null;
}

/** What a worker holds once welcomed. */
interface Session {
  rank: number;
  world: number;
  config: RunConfig;
  replica: Replica;
  /** Bound at welcome; used for the gradients unless the coordinator picks shared memory. */
  ring: Ring;
  /** What the replica sums with: the ring, shared memory or the hierarchical all-reduce (worker/join.ts). */
  allreduce: AllReduce;
  train: BatchLoader;
  valid: BatchLoader;
}

/** The coordinator ended the run after a failure elsewhere; `final`: it will not restart the job (exit with EXIT_JOB_FAILED). */
export class RunAborted extends Error {
  constructor(
    message: string,
    readonly final: boolean,
  ) {
    super(message);
  }
}

/** Runs one worker until the coordinator says stop. Throws (after telling the coordinator) on failure, RunAborted on its abort. */
export async function runWorker(opts: WorkerOptions): Promise<void> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const keys = jobKeysFromEnv();
  const curve = keys ? clientOptions(keys) : undefined;
  const sock = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 0, ...curve });
  sock.connect(opts.connect);
  // One send at a time (zeromq.js allows one pending send per socket): hellos may go out on their own.
  let outbox: Promise<void> = Promise.resolve();
  const send = (msg: WorkerMsg, frames: Uint8Array[] = []) => {
    const sent = outbox.then(() => sock.send(encode(msg, frames)));
    outbox = sent.catch(() => undefined);
    return sent;
  };
  const link: Link = { send, opts, log, keys };
  let session: Session | null = null;
  let heartbeat: Heartbeat | null = null;
  // A lost GPU may leave no step to fail (idle, or a read that never lands): report it and go.
  void webgpuDeviceLost.then(async (why) => {
    log(`ringtune worker: ${why}; exiting`);
    await Promise.race([send({ type: 'error', message: why }), new Promise((r) => setTimeout(r, 1000))]).catch(() => undefined);
    await heartbeat?.stop();
    process.exit(1);
  });
  const orphaned = watchLauncher(log);
  try {
    // Hello again on every connection until welcomed: a coordinator restarted at the same address
    // (ringtune run --max-restarts) must hear from a worker that said hello to the one before.
    const hello: WorkerMsg = { type: 'hello', host: hostname(), pid: process.pid, order: opts.order ?? null };
    const helloAgain = () => void send(hello).catch(() => undefined);
    sock.events.on('connect', helloAgain);
    await send(hello);
    for await (const frames of sock) {
      const { msg, frames: data } = decodeCoordMsg(frames);
      if (msg.type === 'stop') break;
      if (msg.type === 'abort') throw new RunAborted(`the coordinator aborted the run: ${msg.reason}`, msg.final);
      if (msg.type === 'welcome') {
        clearInterval(orphaned);
        sock.events.off('connect', helloAgain);
        heartbeat = startHeartbeat({
          address: opts.connect,
          rank: msg.rank,
          curve,
          onAbort: (reason, final) => {
            log(`ringtune worker rank ${msg.rank}: ${reason}; exiting`);
            // Stop the heartbeat thread first: exiting with its socket open crashes libzmq's teardown.
            void heartbeat?.stop().finally(() => process.exit(final ? EXIT_JOB_FAILED : 1));
          },
          // A lost 'stop' must not leave this loop waiting: closing the socket ends it normally.
          onFinished: () => setTimeout(() => sock.closed || sock.close(), FINISHED_GRACE_MS).unref(),
        });
      }
      session = await handle(msg, data, session, link);
    }
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    if (!(e instanceof RunAborted))
      await Promise.race([send({ type: 'error', message }), new Promise((r) => setTimeout(r, 1000))]).catch(() => undefined);
    throw e;
  } finally {
    clearInterval(orphaned);
    await heartbeat?.stop();
    await session?.allreduce.close();
    sock.close();
  }
}

/** Carries out one order; returns the session (created by 'welcome'). */
async function handle(msg: CoordMsg, frames: Buffer[], s: Session | null, link: Link): Promise<Session | null> {
  const { send, opts, log, keys } = link;
  switch (msg.type) {
    case 'welcome': {
      const { config, rank, world } = msg;
      const backend = await selectBackend(config.backend);
      // Every webgpu worker names its adapter: each may be on a GPU of its own.
      if (rank === 0 || backend.name === 'webgpu') log(`ringtune: rank ${rank}: backend ${backend.name} (${backend.reason})`);
      const net = await buildNet({
        arch: config.arch,
        nClasses: config.nClasses,
        size: config.size,
        groups: config.groups ?? undefined,
        seed: config.seed,
        pretrained: config.pretrained ?? undefined,
        head: { linFtrs: config.linFtrs, ps: config.ps, firstBn: config.firstBn },
      });
      const ring = await Ring.bind({ rank, world, host: opts.host, keys, wire: config.gradDtype });
      const replica = new Replica({ net, allreduce: ring, world, wd: config.wd, bucketMb: config.bucketMb, loss: config.loss });
      const common = {
        size: config.size,
        mean: net.stats.mean,
        std: net.stats.std,
        flip: config.flip,
        minScale: config.minScale,
        seed: config.seed,
      };
      const train = new BatchLoader(config.data, msg.items, { ...common, train: true });
      const valid = new BatchLoader(config.data, msg.validItems, { ...common, train: false });
      const params = trainableCount(net);
      const shmWhyNot = shmUnavailable(segmentLayout(world, shmCapacity(net)).totalBytes);
      await send({
        type: 'ready',
        ringEndpoint: ring.endpoint,
        weightsHash: await replica.weightsHash(),
        backend: backend.name,
        backendReason: backend.reason,
        params,
        groups: net.nGroups,
        host: hostKey(),
        shmUnavailable: shmWhyNot,
      });
      return { rank, world, config, replica, ring, allreduce: ring, train, valid };
    }
    case 'ring': {
      const sess = need(s, msg.type);
      const { rank, world, ring, replica, config } = sess;
      const ringOptions = { host: opts.host, keys, wire: config.gradDtype };
      const joined = await joinAllReduce(msg, { rank, world, ring, capacity: shmCapacity(replica.net), ringOptions });
      if (joined.allreduce !== ring) replica.useAllReduce(joined.allreduce);
      sess.allreduce = joined.allreduce;
      await send(joined.reply);
      return sess;
    }
    case 'hierRings': {
      const sess = need(s, msg.type);
      if (!(sess.allreduce instanceof HierAllReduce))
        throw new Error(`the coordinator sent the hierarchical rings, but this worker joined the ${sess.allreduce.kind} all-reduce`);
      await sess.allreduce.connect(msg.rings);
      await send({ type: 'ringReady' });
      return sess;
    }
    case 'step':
      await step(need(s, msg.type), msg, send);
      return s;
    case 'validate': {
      const sess = need(s, msg.type);
      await sess.replica.syncBatchNormStats(-1 - msg.epoch);
      let lossSum = 0;
      let correct = 0;
      let n = 0;
      for (let i = 0; i < msg.batches.length; i++) {
        const b = msg.batches[i];
        if (i + 1 < msg.batches.length) sess.valid.prefetch(msg.batches[i + 1].indices, 0);
        const batch = await sess.valid.load(b.indices, 0);
        const r = await sess.replica.evaluate({ ...batch, size: sess.config.size, real: b.real });
        lossSum += r.lossSum;
        correct += r.correct;
        n += b.real;
      }
      await send({ type: 'validDone', epoch: msg.epoch, lossSum, correct, n, weightsHash: await sess.replica.weightsHash() });
      return sess;
    }
    case 'save': {
      const sess = need(s, msg.type);
      const { modelJson, weights } = await modelArtifacts(sess.replica.net.model);
      await send({ type: 'model', modelJson }, [weights]);
      return sess;
    }
    case 'checkpoint': {
      const sess = need(s, msg.type);
      const bn = await sess.replica.bnStats();
      const adam = await sess.replica.optimizerState();
      const full = sess.rank === 0;
      const frames = full ? [bn, await sess.replica.allWeights(), adam.m, adam.v] : [bn];
      await send({ type: 'checkpointData', step: msg.step, adamStep: adam.step, full }, frames.map(bytesOf));
      return sess;
    }
    case 'restore': {
      const sess = need(s, msg.type);
      const [weights, m, v, bn] = frames.map(floatsOf);
      await sess.replica.restore({ weights, bnStats: bn, phase: msg.phase, freezeTo: msg.freezeTo, adam: { step: msg.adamStep, m, v } });
      return sess;
    }
    case 'heartbeat':
      return s;
    default:
      throw new Error(`unexpected message '${(msg as { type: string }).type}' from the coordinator`);
  }
}

async function step(s: Session, order: StepOrder, send: (m: WorkerMsg) => Promise<void>): Promise<void> {
  await s.replica.setPhase(order.phase, order.freezeTo);
  const batch = await s.train.load(order.indices, order.epoch);
  if (order.next) s.train.prefetch(order.next, order.epoch);
  // Dropout masks follow the run seed (different per rank and step), so runs are reproducible.
  seedDropout(s.replica.net.model, mixSeed(s.config.seed, order.step, s.rank));
  const r = await s.replica.step({ ...batch, size: s.config.size, lrs: order.lrs, mom: order.mom, tag: order.step });
  await send({
    type: 'stepDone',
    step: order.step,
    loss: r.loss,
    n: batch.n,
    computeMs: r.computeMs,
    allreduceMs: r.allreduceMs,
    allreduceWaitMs: r.allreduceWaitMs,
    allreduceBytes: r.allreduceBytes,
    tensors: tf.memory().numTensors,
    ...memorySample(),
  });
}

/** Frames arrive as Buffers at any byte offset: copy into aligned floats. */
function floatsOf(b: Buffer): Float32Array {
  if (b.byteLength % 4 !== 0) throw new Error(`a float frame of ${b.byteLength} bytes is not a whole number of floats`);
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Floats of the largest buffer a replica all-reduces: every trainable parameter, or the BatchNorm statistics. */
function shmCapacity(net: Replica['net']): number {
  return Math.max(
    trainableCount(net),
    net.bnStats.reduce((a, v) => a + v.read().size, 0),
  );
}

/** Floats of every trainable parameter (all groups). */
function trainableCount(net: Replica['net']): number {
  return net.params.reduce((a, p) => a + p.variable.read().size, 0);
}

function need(s: Session | null, type: string): Session {
  if (!s) throw new Error(`coordinator sent '${type}' before 'welcome'`);
  return s;
}
