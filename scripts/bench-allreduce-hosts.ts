/**
 * The all-reduce across hosts, simulated on this machine (network + UTS namespaces joined by veth
 * pairs, test/helpers/sim-hosts.ts; needs root): `npm run bench:allreduce -- --hosts 2 --per-host 2`.
 * Ranks are placed host by host, and the same topology runs, in the same run with the same sizes
 * and iteration counts: ringtune's hierarchical all-reduce (shared memory within a host, a ZeroMQ
 * ring per slice across hosts), ringtune's flat ZeroMQ ring through every rank, and gloo
 * (PyTorch, TCP). Cross-host bytes are real TCP through the kernel; --link-mbit rate-limits every
 * host's link (tc tbf) to model a network slower than this machine's memory.
 */
import type { ChildProcess } from 'child_process';
import { RingPeerGroup } from '../test/helpers/ring-peer-group';
import { SimulatedHosts, simHostsUnavailable } from '../test/helpers/sim-hosts';
import type { WireName } from '../worker/ring/frame';
import {
  benchGroup,
  measureRounds,
  collectJsonLines,
  GLOO_SCRIPT,
  MIB,
  PEER_TIMEOUT_MS,
  printResults,
  pyArgs,
  pyEnv,
  PYTHON,
  row,
  type Timings,
} from './allreduce-bench-parts';

/** What the multi-host run measures. */
export interface HostsBenchOptions {
  hosts: number;
  perHost: number;
  sizes: number[];
  chunkBytes: number;
  wire: WireName;
  /** Also run gloo (when PyTorch is installed). */
  gloo: boolean;
  linkMbit?: number;
  /** Interleaved repetitions; medians are printed. */
  rounds: number;
}

/** gloo's ranks, rank r on simulated host hostOf[r], rendezvous on host 0. */
function glooOnHosts(sim: SimulatedHosts, hostOf: number[], sizes: number[]): Promise<Timings> {
  const procs: ChildProcess[] = hostOf.map((h, rank) =>
    sim.spawn(h, PYTHON, [GLOO_SCRIPT, ...pyArgs(sizes)], {
      env: {
        ...pyEnv,
        RANK: String(rank),
        WORLD_SIZE: String(hostOf.length),
        MASTER_ADDR: sim.hosts[0].address,
        MASTER_PORT: '29500',
        GLOO_SOCKET_IFNAME: 'eth0',
      },
    }),
  );
  return collectJsonLines(procs, 'gloo benchmark');
}

/** Runs every implementation in the simulated topology and prints the table (ratios: peer time / hierarchical time). */
export async function benchAcrossHosts(o: HostsBenchOptions): Promise<void> {
  const why = simHostsUnavailable(false);
  if (why) throw new Error(`--hosts needs network namespaces: ${why}`);
  const hostOf = Array.from({ length: o.hosts * o.perHost }, (_, r) => Math.floor(r / o.perHost));
  const world = hostOf.length;
  const link = o.linkMbit ? `${o.linkMbit} Mbit/s per host link` : 'unshaped veth links';
  console.log(
    `${o.hosts} simulated hosts x ${o.perHost} ranks, ${link}; wire ${o.wire}, chunk ${o.chunkBytes} B; gloo ${o.gloo ? 'yes' : 'absent'}`,
  );
  const sim = await SimulatedHosts.create(o.hosts, 'benchhost', { rateMbit: o.linkMbit });
  try {
    const ring = { chunkBytes: o.chunkBytes, wire: o.wire, timeoutMs: 120000 };
    const capacity = Math.floor((Math.max(...o.sizes) * MIB) / 4);
    const runs: [string, () => Promise<Timings>][] = [
      [
        'ringtune hier',
        async () =>
          benchGroup(
            await RingPeerGroup.startOnHosts({
              sim,
              hostOf,
              ring,
              hier: { shmName: `/ringtune-bench-${process.pid}`, capacity },
              requestTimeoutMs: PEER_TIMEOUT_MS,
            }),
            o.sizes,
          ),
      ],
      [
        'ringtune ring',
        async () => benchGroup(await RingPeerGroup.startOnHosts({ sim, hostOf, ring, requestTimeoutMs: PEER_TIMEOUT_MS }), o.sizes),
      ],
    ];
    if (o.gloo) runs.push(['gloo (tcp)', () => glooOnHosts(sim, hostOf, o.sizes)]);
    const results = await measureRounds(runs, o.rounds);
    console.log(row(['layout', 'size', 'impl', 'time ms', 'algbw GB/s', 'busbw GB/s', 'cpu ms', 'hier speedup']));
    printResults(`${o.hosts}x${o.perHost}`, world, o.sizes, results, () => '');
  } finally {
    await sim.destroy();
  }
}
