/**
 * `ringtune run`: one entry for every task of a cluster job (srun, torchrun-style launchers, a
 * Kubernetes indexed Job, scripts/launch-cluster.sh). The task finds its rank (shared/topology),
 * prints it, and becomes:
 * - rank 0: the coordinator, bound on MASTER_PORT, plus a worker of its own as a child process,
 *   so that every task (one per GPU) trains and the ring has WORLD workers: `srun -n 3` is the
 *   coordinator and 3 training ranks on 3 tasks. `--coordinator-only` keeps rank 0 to the
 *   coordinator (a CPU-only head task), and the ring then has WORLD - 1 workers.
 * - any other rank: a worker connecting to MASTER_ADDR:MASTER_PORT, also as a child process
 *   (glibc takes the ring's malloc settings only at process start).
 * The coordinator numbers the training ranks by host, then by task rank (so with tasks placed host
 * by host, as srun and launch-cluster.sh place them, a training rank is its task rank).
 * The worker's GPU follows LOCAL_RANK and is passed on as RINGTUNE_GPU.
 */
import { Command } from 'commander';
import { spawn, execFileSync, type ChildProcess } from 'child_process';
import { createSocket } from 'dgram';
import { addRunOptions, configFromOptions, type RunOptionFlags } from '../run-options';
import { wholeFlag } from '../flags';
import { runCoordinator } from '../../coordinator/run';
import { withRingMalloc } from '../ring-malloc';
import { isLoopbackHost, requireKeysBeyondLoopback } from '../exposure';
import type { EpochInfo } from '../../coordinator/events';
import { discoverTopology, describeTopology, firstSlurmHost, gpuIndex, type Topology, type TopologyFlags } from '../../shared/topology';

/** The CLI entry this process runs (also right inside a one-file bundle, where ../cli does not exist). */
const CLI = process.argv[1];

/** A ZeroMQ tcp address (IPv6 hosts in brackets). */
function tcp(host: string, port: number): string {
  return `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Expands a Slurm node list with `scontrol show hostnames`; where scontrol is missing or cannot
 * run (no slurm.conf on this host), reads the first host itself.
 */
export function slurmHosts(nodelist: string): string[] {
  try {
    const hosts = execFileSync('scontrol', ['show', 'hostnames', nodelist], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .split('\n')
      .filter(Boolean);
    if (hosts.length > 0) return hosts;
  } catch {
    /* fall through to reading the list ourselves */
  }
  return [firstSlurmHost(nodelist)];
}

/** The local address this machine uses to reach `host`: the one other tasks can reach it on. */
export function addressToward(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.on('error', (e) => {
      sock.close();
      reject(new Error(`cannot find a route to the coordinator ${host}:${port} (${e.message}); pass --host`));
    });
    // A UDP connect sends nothing: it only asks the kernel which interface it would use.
    sock.connect(port, host, () => {
      const { address } = sock.address();
      sock.close();
      resolve(address);
    });
  });
}

/** The flags of `ringtune run`: the run options and its own. */
interface RunFlags extends RunOptionFlags, TopologyFlags {
  host?: string;
  bindHost?: string;
  coordinatorOnly?: boolean;
  insecure?: boolean;
}

/** Waits for a child process to end; resolves with a description of a failure, or null. */
function exited(proc: ChildProcess, name: string): Promise<string | null> {
  return new Promise((resolve) => {
    proc.on('error', (e) => resolve(`${name} could not start: ${e.message}`));
    proc.on('exit', (code, signal) =>
      resolve(code === 0 ? null : `${name} (pid ${proc.pid}) exited with ${signal ? `signal ${signal}` : `code ${code}`}`),
    );
  });
}

/** Each ring rank's weight hash after an epoch: lets a job's log show that all tasks hold the same model. */
export function weightsLine(e: EpochInfo): string {
  return `ringtune run: weights after ${e.phase.name} epoch ${e.epoch}: ${e.rankHashes.map((h, r) => `rank ${r} ${h}`).join(', ')}`;
}

/**
 * Starts this task's worker as a supervised child: glibc reads the ring's malloc settings
 * (Note [frame memory] in cli/ring-malloc.ts) only at process start, and the child ends by itself
 * if this task dies. SIGINT/SIGTERM to the task reach the child; `stop` undoes that and ends it.
 */
function superviseWorker(
  connect: string,
  host: string,
  gpu: number,
  rank: number,
): { child: ChildProcess; done: Promise<string | null>; stop: () => void } {
  const child = spawn(process.execPath, [CLI, 'worker', '--connect', connect, '--host', host, '--task-rank', String(rank)], {
    env: { ...withRingMalloc(process.env), RINGTUNE_GPU: String(gpu), RINGTUNE_SUPERVISOR_PID: String(process.pid) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const done = exited(child, `the worker of rank ${rank}`);
  const onSignal = (signal: NodeJS.Signals) => {
    child.kill(signal);
    console.error(`ringtune run: rank ${rank} stopped by ${signal}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stop = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  return { child, done, stop };
}

/** A worker rank: its worker as a supervised child; fails with the child. */
async function runWorkerRank(t: Topology, host: string, gpu: number): Promise<void> {
  const w = superviseWorker(tcp(t.masterAddr, t.masterPort), host, gpu, t.rank);
  try {
    const failure = await w.done;
    if (failure) throw new Error(failure);
  } finally {
    w.stop();
  }
}

/** Rank 0: the coordinator here, and (unless coordinator-only) a worker as a supervised child. */
async function runRankZero(t: Topology, f: RunFlags & { bindHost: string }, host: string, gpu: number): Promise<void> {
  const config = configFromOptions(f);
  const world = f.coordinatorOnly ? t.world - 1 : t.world;
  if (world < 1) throw new Error('--coordinator-only needs at least 2 tasks (the coordinator and one worker)');
  const bind = tcp(f.bindHost, t.masterPort);
  const local = tcp(f.bindHost === '0.0.0.0' ? '127.0.0.1' : f.bindHost === '::' ? '::1' : f.bindHost, t.masterPort);
  // The worker starts now, not once the coordinator listens: its hello then reaches the
  // coordinator about when the other tasks' do (ZeroMQ queues it until the bind).
  const worker = f.coordinatorOnly ? null : superviseWorker(local, host, gpu, 0);
  const childDone = worker ? worker.done : Promise.resolve(null);
  try {
    // A worker that dies before the coordinator hears of it (e.g. before its hello) ends rank 0 at once.
    const childFailed = childDone.then((failure) => (failure ? failure : new Promise<never>(() => undefined)));
    const outcome = await Promise.race([
      runCoordinator({
        bind,
        world,
        config,
        callbacks: [{ afterEpoch: ({ epochDone: e }) => void (e && console.error(weightsLine(e))) }],
      }).then(() => null),
      childFailed,
    ]);
    const failure = outcome ?? (await childDone);
    if (failure) throw new Error(failure);
  } finally {
    worker?.stop();
  }
}

/** `ringtune run [run options]`. */
export function runCommand(): Command {
  return addRunOptions(
    new Command('run')
      .description(
        'one task of a cluster job: finds its rank (flags, torchrun, Slurm or Kubernetes variables); rank 0 hosts the coordinator and a worker, the others are workers',
      )
      .option('--rank <n>', "this task's rank (default: RANK, SLURM_PROCID or JOB_COMPLETION_INDEX)", wholeFlag('--rank', 0))
      .option('--world <n>', 'number of tasks (default: WORLD_SIZE or SLURM_NTASKS)', wholeFlag('--world', 1))
      .option(
        '--local-rank <n>',
        'index of this task on its node: picks the GPU (default: LOCAL_RANK or SLURM_LOCALID)',
        wholeFlag('--local-rank', 0),
      )
      .option('--master-addr <host>', "host of rank 0 (default: MASTER_ADDR, the first Slurm node, or the indexed Job's pod 0)")
      .option('--master-port <port>', 'coordinator port on rank 0 (default: MASTER_PORT or 29500)', wholeFlag('--master-port', 1))
      .option(
        '--host <address>',
        "address this task's ring listens on, reachable by the other tasks (default: the interface routing to the coordinator)",
      )
      .option(
        '--bind-host <address>',
        'interface the coordinator binds on rank 0 (default: 127.0.0.1 when the coordinator address is loopback, else 0.0.0.0)',
      )
      .option('--coordinator-only', 'rank 0 runs no worker (the ring has WORLD - 1 workers)')
      .option('--insecure', 'run across hosts without CURVE keys (anyone who reaches the coordinator or a ring socket can join)'),
  ).action(async (f: RunFlags) => {
    try {
      if (f.masterPort !== undefined && f.masterPort > 65535) throw new Error(`--master-port must be at most 65535, got ${f.masterPort}`);
      const t = discoverTopology({ flags: f, env: process.env, slurmHosts });
      configFromOptions(f); // every task checks the options (and that --data is there) before anything connects
      const host = f.host ?? (await addressToward(t.masterAddr, t.masterPort));
      // A job on one machine's loopback stays there; anything else is reachable and needs keys.
      const bindHost = f.bindHost ?? (isLoopbackHost(t.masterAddr) ? '127.0.0.1' : '0.0.0.0');
      requireKeysBeyondLoopback(
        { 'the coordinator address': t.masterAddr, 'the ring host': host, ...(t.rank === 0 ? { '--bind-host': bindHost } : {}) },
        f.insecure === true,
      );
      const gpu = gpuIndex(t.localRank, process.env);
      const trains = t.rank !== 0 || !f.coordinatorOnly;
      const role = t.rank !== 0 ? 'worker' : trains ? 'coordinator + worker' : 'coordinator';
      console.error(describeTopology(t, { 'ring host': host, ...(trains ? { gpu } : {}), pid: process.pid }, role));
      if (t.rank === 0) await runRankZero(t, { ...f, bindHost }, host, gpu);
      else await runWorkerRank(t, host, gpu);
    } catch (e) {
      console.error(`ringtune: ${(e as Error).message ?? String(e)}`);
      process.exitCode = 1;
    }
  });
}
