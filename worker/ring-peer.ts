/**
 * One ring rank in its own process, driven over the Node IPC channel by `RingPeerGroup` (the
 * multi-process test and the all-reduce benchmark). Messages in: init, connect, check, bench,
 * close; out: endpoint, connected, result, timing, error. Run it with child_process.fork.
 */
import { Rng, mixSeed } from '../shared/rng';
import { Ring, type RingOptions } from './ring';

/** Parent -> peer. */
export type PeerRequest =
  | { type: 'init'; opts: RingOptions }
  | { type: 'connect'; endpoints: string[] }
  | { type: 'check'; floats: number; seed: number; tag: number }
  | { type: 'bench'; floats: number; warmup: number; iters: number }
  | { type: 'close' };

/** Peer -> parent. */
export type PeerReply =
  | { type: 'endpoint'; endpoint: string }
  | { type: 'connected' }
  | { type: 'result'; bits: string; bytesSent: number }
  | { type: 'timing'; seconds: number; cpu: number }
  | { type: 'closed' }
  | { type: 'error'; message: string };

/** The input rank `rank` contributes in a check: seeded normals over a wide dynamic range. */
export function peerInput(floats: number, rank: number, seed: number): Float32Array {
  const rng = new Rng(mixSeed(seed, rank, floats));
  const x = new Float32Array(floats);
  for (let i = 0; i < floats; i++) x[i] = rng.normal() * Math.exp(rng.uniform(-8, 8));
  return x;
}

/** Mean wall and CPU (all threads) seconds per all-reduce of `floats`, `iters` back-to-back calls after `warmup`. */
async function bench(ring: Ring, floats: number, warmup: number, iters: number): Promise<{ seconds: number; cpu: number }> {
  const buf = new Float32Array(floats); // zeros: stays finite over many in-place sums, as in the peers
  for (let i = 0; i < warmup; i++) await ring.allReduceSum(buf, -1 - i);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) await ring.allReduceSum(buf, i);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9 / iters;
  const c = process.cpuUsage(c0);
  return { seconds, cpu: (c.user + c.system) / 1e6 / iters };
}

interface PeerState {
  ring: Ring | null;
  rank: number;
}

async function handle(req: PeerRequest, state: PeerState): Promise<PeerReply> {
  if (req.type === 'init') {
    state.rank = req.opts.rank;
    state.ring = await Ring.bind(req.opts);
    return { type: 'endpoint', endpoint: state.ring.endpoint };
  }
  const ring = state.ring;
  if (!ring) throw new Error(`ring peer: '${req.type}' before 'init'`);
  switch (req.type) {
    case 'connect':
      await ring.connect(req.endpoints);
      return { type: 'connected' };
    case 'check': {
      const buf = peerInput(req.floats, state.rank, req.seed);
      await ring.allReduceSum(buf, req.tag);
      return { type: 'result', bits: Buffer.from(buf.buffer).toString('base64'), bytesSent: ring.bytesSent };
    }
    case 'bench':
      return { type: 'timing', ...(await bench(ring, req.floats, req.warmup, req.iters)) };
    case 'close':
      await ring.close();
      return { type: 'closed' };
  }
}

function main(): void {
  const state: PeerState = { ring: null, rank: 0 };
  let queue = Promise.resolve();
  process.on('message', (req: PeerRequest) => {
    queue = queue.then(async () => {
      let reply: PeerReply;
      try {
        reply = await handle(req, state);
      } catch (e) {
        reply = { type: 'error', message: (e as Error).message };
      }
      if (reply.type === 'error') await state.ring?.close();
      process.send?.(reply);
      if (reply.type === 'closed' || reply.type === 'error') process.disconnect();
    });
  });
}

if (require.main === module) main();
