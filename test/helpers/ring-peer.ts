/**
 * One ring rank in its own process, driven over the Node IPC channel by `RingPeerGroup` (the
 * multi-process test and the all-reduce benchmark). Messages in: init, connect, check, bench,
 * close; out: endpoint, connected, result, timing, error. Run it with child_process.fork.
 */
import { Rng, mixSeed } from '../../shared/rng';
import type { AllReduce } from '../../worker/allreduce';
import { Ring, type RingOptions } from '../../worker/ring/ring';
import { ShmAllReduce } from '../../worker/shm/allreduce';
import { HierAllReduce, type SliceRing } from '../../worker/hier/allreduce';
import type { HierPlacement } from '../../shared/hier-plan';

/** A hierarchical rank's part (shared/hier-plan.ts) and its host's segment. */
export interface PeerHier {
  placement: HierPlacement;
  shm: { name: string; capacity: number };
}

/** Parent -> peer. */
export type PeerRequest =
  | { type: 'init'; opts: RingOptions; shm?: { name: string; capacity: number; spins?: number; blockFloats?: number }; hier?: PeerHier }
  | { type: 'connect'; endpoints: string[]; rings?: SliceRing[] }
  | { type: 'check'; floats: number; seed: number; tag: number; scale?: number; buckets?: number }
  | { type: 'bench'; floats: number; warmup: number; iters: number }
  | { type: 'close' };

/** Peer -> parent. */
export type PeerReply =
  | { type: 'endpoint'; endpoint: string; sliceEndpoints?: string[] }
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

/** float64 reference of scale * (the sum of every rank's peerInput), and of their magnitudes (the fp32 rounding bound). */
export function referenceSum(floats: number, world: number, seed: number, scale: number): { sum: Float64Array; mag: Float64Array } {
  const sum = new Float64Array(floats);
  const mag = new Float64Array(floats);
  for (let r = 0; r < world; r++) {
    peerInput(floats, r, seed).forEach((x, i) => {
      sum[i] += x * scale;
      mag[i] += Math.abs(x * scale);
    });
  }
  return { sum, mag };
}

/** Mean wall and CPU (all threads) seconds per all-reduce of `floats`, `iters` back-to-back calls after `warmup`. */
async function bench(ar: AllReduce, floats: number, warmup: number, iters: number): Promise<{ seconds: number; cpu: number }> {
  const buf = ar.buffer(floats).fill(0); // zeros: stays finite over many in-place sums, as in the peers
  for (let i = 0; i < warmup; i++) await ar.allReduceSum(buf, -1 - i);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) await ar.allReduceSum(buf, i);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9 / iters;
  const c = process.cpuUsage(c0);
  return { seconds, cpu: (c.user + c.system) / 1e6 / iters };
}

interface PeerState {
  ring: AllReduce | null;
  rank: number;
}

async function handle(req: PeerRequest, state: PeerState): Promise<PeerReply> {
  if (req.type === 'init') {
    state.rank = req.opts.rank;
    if (req.hier) {
      const { rank, world, ...ring } = req.opts;
      const hier = await HierAllReduce.create({ placement: req.hier.placement, shm: { ...req.hier.shm, timeoutMs: ring.timeoutMs }, ring });
      state.ring = hier;
      return { type: 'endpoint', endpoint: '', sliceEndpoints: hier.endpoints };
    }
    if (req.shm) {
      state.ring = await ShmAllReduce.attach({ ...req.shm, rank: req.opts.rank, world: req.opts.world, timeoutMs: req.opts.timeoutMs });
      return { type: 'endpoint', endpoint: '' };
    }
    const ring = await Ring.bind(req.opts);
    state.ring = ring;
    return { type: 'endpoint', endpoint: ring.endpoint };
  }
  const ring = state.ring;
  if (!ring) throw new Error(`ring peer: '${req.type}' before 'init'`);
  switch (req.type) {
    case 'connect':
      if (ring instanceof Ring) await ring.connect(req.endpoints);
      if (ring instanceof HierAllReduce) await ring.connect(req.rings ?? []);
      return { type: 'connected' };
    case 'check': {
      const buf = ring.buffer(req.floats);
      await ring.prepare();
      buf.set(peerInput(req.floats, state.rank, req.seed));
      // In `buckets` consecutive pieces, as the replica does, or whole.
      const pieces = req.buckets ?? 1;
      for (let k = 0; k < pieces; k++) {
        const [a, b] = [Math.floor((k * req.floats) / pieces), Math.floor(((k + 1) * req.floats) / pieces)];
        await ring.allReduceSum(buf.subarray(a, b), req.tag * pieces + k, req.scale);
      }
      const bits = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('base64');
      return { type: 'result', bits, bytesSent: ring instanceof Ring ? ring.bytesSent : 0 };
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
