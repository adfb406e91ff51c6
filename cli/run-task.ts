/**
 * What one `ringtune run` task does once it knows its place (cli/commands/run.ts): supervise its
 * worker as a child process, and on rank 0 run the coordinator too, restarting after failures the
 * way torchrun's --max-restarts does.
 *
 * Note [restarts]: when any rank fails, the coordinator aborts every worker (saying whether a
 * restart follows) and, with restarts left, starts again from the newest checkpoint (or from the
 * beginning before the first one); every task restarts its worker, which connects to the new
 * coordinator. Workers and coordinator count the same failures, so they run out of restarts
 * together; the last abort says "final" (EXIT_JOB_FAILED), so no task restarts after the job has
 * failed. The job then fails with the root cause: the rank, its host and what happened to it.
 */
import { spawn, type ChildProcess } from 'child_process';
import { statSync } from 'fs';
import { join } from 'path';
import { runCoordinator } from '../coordinator/run';
import { findCheckpoint } from '../coordinator/checkpoint';
import type { Callback, EpochInfo } from '../coordinator/events';
import type { RunConfig } from '../shared/config';
import { EXIT_JOB_FAILED } from '../shared/protocol';
import { withRingMalloc } from './ring-malloc';

/** The CLI entry this process runs (also right inside a one-file bundle, where ../cli does not exist). */
const CLI = process.argv[1];

/** Where a task's worker connects and runs. */
export interface WorkerSpec {
  /** The coordinator's address. */
  connect: string;
  /** Interface its ring binds. */
  host: string;
  gpu: number;
  /** The task's rank. */
  rank: number;
}

/** What rank 0 runs besides its worker. */
export interface CoordinatorSpec {
  bind: string;
  world: number;
  config: Omit<RunConfig, 'nClasses'>;
  /** A checkpoint (or run folder) to continue, on this job's size (coordinator/resume.ts): the config is then its own but `out`. */
  resume?: string;
}

/** How a child ended: null when it succeeded, else what happened, with its exit code. */
type Ending = { cause: string; code: number | null } | null;

/** Each ring rank's weight hash after an epoch: lets a job's log show that all tasks hold the same model. */
function weightsLine(e: EpochInfo): string {
  return `ringtune run: weights after ${e.phase.name} epoch ${e.epoch}: ${e.rankHashes.map((h, r) => `rank ${r} ${h}`).join(', ')}`;
}

/** Waits for a child process to end. */
function exited(proc: ChildProcess, name: string): Promise<Ending> {
  return new Promise((resolve) => {
    proc.on('error', (e) => resolve({ cause: `${name} could not start: ${e.message}`, code: null }));
    proc.on('exit', (code, signal) =>
      resolve(code === 0 ? null : { cause: `${name} (pid ${proc.pid}) exited with ${signal ? `signal ${signal}` : `code ${code}`}`, code }),
    );
  });
}

/**
 * Starts the task's worker as a supervised child: glibc reads the ring's malloc settings
 * (Note [frame memory] in cli/ring-malloc.ts) only at process start, and the child ends by itself
 * if this task dies. SIGINT/SIGTERM to the task reach the child; `stop` undoes that and ends it.
 */
function superviseWorker(w: WorkerSpec): { done: Promise<Ending>; stop: () => void } {
  const args = [CLI, 'worker', '--connect', w.connect, '--host', w.host, '--task-rank', String(w.rank)];
  const child = spawn(process.execPath, args, {
    env: { ...withRingMalloc(process.env), RINGTUNE_GPU: String(w.gpu), RINGTUNE_SUPERVISOR_PID: String(process.pid) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const done = exited(child, `the worker of rank ${w.rank}`);
  const onSignal = (signal: NodeJS.Signals) => {
    child.kill(signal);
    console.error(`ringtune run: rank ${w.rank} stopped by ${signal}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stop = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  return { done, stop };
}

/** The task's worker, restarted after each failure while restarts are left (Note [restarts]). */
export class WorkerSupervisor {
  private child: ReturnType<typeof superviseWorker> | null = null;
  private stopped = false;

  constructor(
    private readonly w: WorkerSpec,
    private readonly maxRestarts: number,
  ) {}

  /** Resolves when the worker finished the job; throws its last failure. */
  async run(): Promise<void> {
    for (let restart = 1; ; restart++) {
      this.child = superviseWorker(this.w);
      const ending = await this.child.done.finally(this.child.stop);
      if (!ending) return;
      if (this.stopped) throw new Error(ending.cause);
      if (ending.code === EXIT_JOB_FAILED) throw new Error(`${ending.cause}: the coordinator ended the job`);
      const max = this.maxRestarts;
      if (restart > max) throw new Error(ending.cause + (max > 0 ? `; no restarts left (--max-restarts ${max})` : ''));
      console.error(`ringtune run: ${ending.cause}; restarting it (${restart}/${max})`);
    }
  }

  /** Ends the worker and restarts no more. */
  stop(): void {
    this.stopped = true;
    this.child?.stop();
  }
}

/** The coordinator, restarted from the newest checkpoint after each failure while restarts are left (Note [restarts]). */
async function coordinateRestarting(c: CoordinatorSpec, maxRestarts: number): Promise<void> {
  const callbacks: Callback[] = [{ afterEpoch: ({ epochDone: e }) => void (e && console.error(weightsLine(e))) }];
  let resume = c.resume ?? null;
  const out = c.config.out;
  const started = Date.now();
  // Only this job's checkpoints: the output folder may hold an earlier run's.
  const newest = () => {
    const dir = findCheckpoint(out);
    return dir && statSync(join(dir, 'meta.json')).mtimeMs >= started ? dir : null;
  };
  for (let restart = 1; ; restart++) {
    const restartable = restart <= maxRestarts;
    try {
      await runCoordinator({ bind: c.bind, world: c.world, callbacks, restartable, ...(resume ? { resume, out } : { config: c.config }) });
      return;
    } catch (e) {
      const cause = (e as Error).message;
      if (!restartable) throw new Error(maxRestarts > 0 ? `giving up after ${maxRestarts} restart(s); the last failure: ${cause}` : cause);
      resume = newest() ?? c.resume ?? null;
      console.error(
        `ringtune run: restart ${restart}/${maxRestarts} from ${resume ?? 'the beginning (no checkpoint yet)'} after: ${cause}`,
      );
    }
  }
}

/** Rank 0: the coordinator here, and (unless coordinator-only: `worker` null) a worker as a supervised child. */
export async function runRankZero(c: CoordinatorSpec, worker: WorkerSpec | null, maxRestarts: number): Promise<void> {
  // The worker starts now, not once the coordinator listens: its hello then reaches the
  // coordinator about when the other tasks' do (ZeroMQ queues it until the bind).
  const supervisor = worker ? new WorkerSupervisor(worker, maxRestarts) : null;
  const training = supervisor ? supervisor.run() : Promise.resolve();
  training.catch(() => undefined); // raced below; a failure after the coordinator's must not go unhandled
  try {
    // A worker that fails for good before the coordinator hears of it (e.g. before its hello) ends rank 0 at once.
    await Promise.race([coordinateRestarting(c, maxRestarts), training.then(() => new Promise<never>(() => undefined))]);
    await training;
  } finally {
    supervisor?.stop();
  }
}
