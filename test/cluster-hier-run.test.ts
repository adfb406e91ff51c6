/**
 * `ringtune run` tasks on simulated hosts (network + UTS namespaces): the coordinator picks the
 * hierarchical all-reduce for 2 hosts x 2 tasks and says why; the run ends with the same weights
 * on every rank, and within fp32 rounding of the same job on one host (shared memory); CURVE is
 * on (the job crosses hosts); a worker killed on the second host ends every task on every host
 * within 10 s. Runs under `npm run test:cluster` as root; skips with the reason otherwise.
 */
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import type { ChildProcess } from 'child_process';
import { makeImageFolders } from './helpers/images';
import { CLI, runCli } from './helpers/cli';
import { SimulatedHosts, simHostsUnavailable } from './helpers/sim-hosts';
import { alive, allGone, childrenOf, waitForSteps } from './helpers/procs';
import { shmNative } from '../worker/shm/native';

const skip = simHostsUnavailable() ?? (shmNative().native ? null : shmNative().reason);
if (skip) console.warn(`cluster-hier-run: skipped: ${skip}`);
const maybe = skip ? describe.skip : describe;

interface Task {
  proc: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

maybe('ringtune run across simulated hosts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringtune-hier-run-'));
  const data = join(dir, 'data');
  const key = join(dir, 'job.key');
  let sim: SimulatedHosts;
  const tiny = (out: string, epochs: number) =>
    [
      ...['--data', data, '--size', '16', '--bs', '8', '--backend', 'wasm', '--no-pretrained'],
      ...['--epochs', String(epochs), '--freeze-epochs', '0', '--out', out],
    ] as string[];

  beforeAll(async () => {
    sim = await SimulatedHosts.create(2, 'node');
    await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 32, validPerClass: 4, size: 16 });
    expect((await runCli(['keygen', key], 30_000)).code).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await sim?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts task `rank` of `hostOf.length` on simulated host hostOf[rank]; rank 0's host runs the coordinator. */
  function task(rank: number, hostOf: number[], args: string[]): Task {
    const local = hostOf.slice(0, rank).filter((h) => h === hostOf[rank]).length;
    const flags = ['--rank', rank, '--world', hostOf.length, '--local-rank', local, '--master-addr', sim.hosts[hostOf[0]].address];
    const proc = sim.spawn(hostOf[rank], process.execPath, [CLI, 'run', ...flags.map(String), ...args], {
      env: { ...process.env, RINGTUNE_KEY_FILE: key },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    proc.stdout!.on('data', (d) => (text += d));
    proc.stderr!.on('data', (d) => (text += d));
    return { proc, output: () => text, exit: new Promise((r) => proc.on('exit', (code) => r(code))) };
  }

  /** Runs a whole job to its end; returns rank 0's output, every task's, and the final weights. */
  async function job(name: string, hostOf: number[]): Promise<{ log: string; all: string; weights: Float32Array }> {
    const out = join(dir, name);
    const tasks = hostOf.map((_, rank) => task(rank, hostOf, tiny(out, 2)));
    const timer = setTimeout(() => tasks.forEach((t) => t.proc.kill('SIGKILL')), 240_000);
    const codes = await Promise.all(tasks.map((t) => t.exit));
    clearTimeout(timer);
    const all = tasks.map((t, r) => `== task ${r}\n${t.output()}`).join('\n');
    if (codes.some((c) => c !== 0)) throw new Error(`exit codes ${codes}:\n${all}`);
    const bytes = readFileSync(join(out, 'weights.bin'));
    return { log: tasks[0].output(), all, weights: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) };
  }

  /** The per-rank weight hashes rank 0 logged after the last epoch. */
  const hashes = (log: string) =>
    [...(/weights after unfrozen epoch 1: (.*)/.exec(log)?.[1] ?? '').matchAll(/rank \d+ (\w+)/g)].map((m) => m[1]);

  it('2 hosts x 2 tasks: hierarchical, CURVE, identical weights on every rank, the one-host result within fp32 rounding', async () => {
    const across = await job('across', [0, 0, 1, 1]);
    expect(across.log).toMatch(/coordinator on tcp:\/\/0\.0\.0\.0:29500 \(CURVE: authenticated, encrypted\)/);
    expect(across.log).toMatch(
      /gradients all-reduced hierarchically: 2 hosts \(2 \+ 2 workers\): shared memory within each host, one ZeroMQ ring per slice across hosts \(f32 on the wire\)/,
    );
    const h = hashes(across.log);
    expect(h).toHaveLength(4);
    expect(new Set(h).size).toBe(1);

    const oneHost = await job('one-host', [0, 0, 0, 0]);
    expect(oneHost.log).toMatch(/gradients all-reduced through shared memory: all 4 workers on one host/);
    // Same data, same ranks, same schedule: only the summation order differs (host by host, then across).
    expect(across.weights.length).toBe(oneHost.weights.length);
    let worst = 0;
    let scale = 0;
    across.weights.forEach((w, i) => {
      worst = Math.max(worst, Math.abs(w - oneHost.weights[i]));
      scale = Math.max(scale, Math.abs(oneHost.weights[i]));
    });
    console.log(`cluster-hier-run: largest weight difference to the one-host run ${worst / scale} of the largest weight`);
    expect(worst / scale).toBeLessThan(1e-5);
  }, 600_000);

  it('a worker killed on the second host: every task on every host is gone within 10 s', async () => {
    const out = join(dir, 'killed');
    const hostOf = [0, 0, 1, 1];
    const tasks = hostOf.map((_, rank) => task(rank, hostOf, tiny(out, 200)));
    try {
      await waitForSteps(join(out, 'metrics.jsonl'), 2, 180_000);
      const victim = childrenOf(tasks[3].proc.pid!, 'worker');
      // nsenter execs the task, so the task's pid is the spawned one; its worker is its child.
      expect(victim).toHaveLength(1);
      const everyone = [...tasks.map((t) => t.proc.pid!), ...tasks.flatMap((t) => childrenOf(t.proc.pid!, 'worker'))];
      expect(everyone).toHaveLength(8);
      process.kill(victim[0], 'SIGKILL');
      const ms = await allGone(everyone, 10_000);
      const codes = await Promise.all(tasks.map((t) => t.exit));
      expect(codes.every((c) => c !== 0)).toBe(true);
      expect(tasks[0].output()).toMatch(/worker rank 3 \(host node-1, pid \d+, last finished step \d+\)/);
      console.log(`cluster-hier-run: every process gone ${ms} ms after the SIGKILL`);
    } finally {
      for (const t of tasks) if (alive(t.proc.pid!)) t.proc.kill('SIGKILL');
    }
  }, 300_000);
});
