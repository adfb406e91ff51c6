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
 * The worker's GPU follows LOCAL_RANK and is passed on as RINGTUNE_GPU. With --max-restarts K,
 * a failure of any rank restarts every rank from the newest checkpoint, up to K times (cli/run-task.ts).
 */
import { Command } from 'commander';
import { execFileSync } from 'child_process';
import { createSocket } from 'dgram';
import { addRunOptions, configFromOptions, type RunOptionFlags } from '../run-options';
import { wholeFlag } from '../flags';
import { runRankZero, WorkerSupervisor } from '../run-task';
import { isLoopbackHost, requireKeysBeyondLoopback } from '../exposure';
import { discoverTopology, describeTopology, firstSlurmHost, gpuIndex, type Topology, type TopologyFlags } from '../../shared/topology';

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
  maxRestarts: number;
  resume?: string;
}

/** Rank 0: the coordinator on MASTER_PORT and, unless coordinator-only, a worker of its own. */
function rankZero(t: Topology, f: RunFlags & { bindHost: string }, host: string, gpu: number): Promise<void> {
  const world = f.coordinatorOnly ? t.world - 1 : t.world;
  if (world < 1) throw new Error('--coordinator-only needs at least 2 tasks (the coordinator and one worker)');
  const local = tcp(f.bindHost === '0.0.0.0' ? '127.0.0.1' : f.bindHost === '::' ? '::1' : f.bindHost, t.masterPort);
  const coordinator = { bind: tcp(f.bindHost, t.masterPort), world, config: configFromOptions(f), resume: f.resume };
  return runRankZero(coordinator, f.coordinatorOnly ? null : { connect: local, host, gpu, rank: 0 }, f.maxRestarts);
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
      .option('--insecure', 'run across hosts without CURVE keys (anyone who reaches the coordinator or a ring socket can join)')
      .option(
        '--resume <dir>',
        "rank 0 continues this checkpoint (or run folder: its newest) into --out, on this job's number of tasks (another number resizes the run)",
      )
      .option(
        '--max-restarts <k>',
        'when any rank fails, every rank restarts from the newest checkpoint, up to K times (torchrun --max-restarts); give every task the same K',
        wholeFlag('--max-restarts', 0),
        0,
      ),
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
      if (t.rank === 0) await rankZero(t, { ...f, bindHost }, host, gpu);
      else await new WorkerSupervisor({ connect: tcp(t.masterAddr, t.masterPort), host, gpu, rank: t.rank }, f.maxRestarts).run();
    } catch (e) {
      console.error(`ringtune: ${(e as Error).message ?? String(e)}`);
      process.exitCode = 1;
    }
  });
}
