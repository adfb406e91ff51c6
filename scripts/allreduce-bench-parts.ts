/**
 * What every all-reduce benchmark run shares (bench-allreduce.ts on one host, bench-allreduce-hosts.ts
 * across simulated hosts): the same iteration counts for ringtune and its peers, the per-size
 * result (the slowest rank's time, every rank's CPU), ringtune's ranks driven through
 * RingPeerGroup, and the peers' JSON lines (scripts/bench_allreduce_timing.py).
 */
import type { ChildProcess } from 'child_process';
import { join } from 'path';
import type { RingPeerGroup } from '../test/helpers/ring-peer-group';

export const PYTHON = '/usr/bin/python3';
export const MIB = 2 ** 20;
export const PEER_TIMEOUT_MS = 600000;

/** Per size in MiB: mean seconds per all-reduce (the slowest rank's) and CPU seconds per all-reduce (all ranks). */
export type Timings = Map<number, { seconds: number; cpu: number }>;

/** Folds one rank's measurement into the per-size result. */
function addRank(out: Timings, mib: number, seconds: number, cpu: number): void {
  const prev = out.get(mib) ?? { seconds: 0, cpu: 0 };
  out.set(mib, { seconds: Math.max(prev.seconds, seconds), cpu: prev.cpu + cpu });
}

/** Timed iterations per size: about 256 MiB of buffer per rank, at least 3, at most 40. */
export function itersFor(mib: number): number {
  return Math.max(3, Math.min(40, Math.round(256 / mib)));
}

/**
 * Untimed iterations first, the same for every implementation: as many as timed ones, at least 5.
 * Node ranks need a few dozen small calls before their times settle (JIT and allocator warm-up).
 */
export function warmupFor(mib: number): number {
  return Math.max(5, itersFor(mib));
}

/** Times every size on a started group of ringtune ranks, then closes it. */
export async function benchGroup(group: RingPeerGroup, sizes: number[]): Promise<Timings> {
  const out: Timings = new Map();
  try {
    for (const mib of sizes) {
      const floats = Math.floor((mib * MIB) / 4);
      const replies = await group.request(() => ({ type: 'bench', floats, warmup: warmupFor(mib), iters: itersFor(mib) }));
      for (const r of replies) addRank(out, mib, (r as { seconds: number }).seconds, (r as { cpu: number }).cpu);
    }
  } finally {
    await group.close();
  }
  return out;
}

/** Runs processes that print JSON lines {mib, seconds, cpu}; returns the per-size result. */
export function collectJsonLines(procs: ChildProcess[], what: string): Promise<Timings> {
  const out: Timings = new Map();
  const timer = setTimeout(() => procs.forEach((p) => p.kill()), PEER_TIMEOUT_MS);
  return Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve, reject) => {
          let buf = '';
          let err = '';
          p.stdout!.on('data', (d: Buffer) => (buf += d.toString()));
          p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
          p.on('exit', (code) => {
            if (code !== 0) return reject(new Error(`${what} exited with code ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
            // mpirun may interleave ranks' lines, so pick out every JSON object rather than every line.
            for (const m of buf.match(/\{[^{}]*\}/g) ?? []) {
              const { mib, seconds, cpu } = JSON.parse(m) as { mib: number; seconds: number; cpu: number };
              addRank(out, mib, seconds, cpu);
            }
            resolve();
          });
        }),
    ),
  ).then(
    () => (clearTimeout(timer), out),
    (e) => (clearTimeout(timer), procs.forEach((p) => p.kill()), Promise.reject(e)),
  );
}

/** A peer script's argv: sizes, iteration counts, warm-up counts. */
export const pyArgs = (sizes: number[]) => [sizes.join(','), sizes.map(itersFor).join(','), sizes.map(warmupFor).join(',')];
export const pyEnv = { ...process.env, OMP_NUM_THREADS: '1', PYTHONUNBUFFERED: '1' };

/** The gloo peer script (compiled scripts live in dist/scripts). */
export const GLOO_SCRIPT = join(__dirname, '..', '..', 'scripts', 'bench_allreduce_gloo.py');

/**
 * Runs every implementation `rounds` times, interleaved (a, b, c, a, b, c, ...), and keeps per size
 * the median time and CPU of its rounds: on a shared machine the load moves between rounds, and
 * interleaving spreads it over the implementations instead of favouring whichever ran in a quiet minute.
 * An implementation that fails in any round reports that error.
 */
export async function measureRounds(runs: [string, () => Promise<Timings>][], rounds: number): Promise<[string, Timings | Error][]> {
  const seen = runs.map((): (Timings | Error)[] => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, [, run]] of runs.entries()) seen[i].push(await run().catch((e: Error) => e));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return runs.map(([name], i) => {
    const failed = seen[i].find((t): t is Error => t instanceof Error);
    if (failed) return [name, failed];
    const all = seen[i] as Timings[];
    const out: Timings = new Map();
    for (const mib of all[0].keys()) {
      out.set(mib, { seconds: median(all.map((t) => t.get(mib)!.seconds)), cpu: median(all.map((t) => t.get(mib)!.cpu)) });
    }
    return [name, out];
  });
}

/** One table row: ranks (or layout), size, implementation, time, algbw, busbw, CPU, and the ratio or note. */
export function row(cells: (string | number)[]): string {
  const widths = [8, 8, 16, 10, 12, 12, 12, 24];
  return cells.map((c, i) => String(c).padStart(widths[i])).join(' ');
}

/**
 * Prints every implementation's result per size, algbw and busbw as nccl-tests defines them; each
 * peer's ratio is its time over the first implementation's (above 1: ringtune's is faster), and
 * the first gets `note(busbw)` instead.
 */
export function printResults(
  label: string | number,
  world: number,
  sizes: number[],
  results: [string, Timings | Error][],
  note: (busbw: number) => string,
): void {
  const ours = results[0][1];
  for (const mib of sizes) {
    for (const [name, t] of results) {
      if (t instanceof Error) {
        if (mib === sizes[0]) console.log(row([label, '', name, 'failed:', '', '', '', '']) + ' ' + t.message);
        continue;
      }
      const { seconds: s, cpu } = t.get(mib)!;
      const algbw = (mib * MIB) / s / 1e9;
      const busbw = (algbw * 2 * (world - 1)) / world;
      const ratio = ours instanceof Error || name === results[0][0] ? note(busbw) : `x${(s / ours.get(mib)!.seconds).toFixed(2)}`;
      console.log(
        row([label, `${mib} MiB`, name, (s * 1e3).toFixed(2), algbw.toFixed(2), busbw.toFixed(2), (cpu * 1e3).toFixed(1), ratio]),
      );
    }
  }
}
