/**
 * `ringtune launch`: the coordinator and N workers as child processes of one supervisor on this
 * machine. It forwards Ctrl-C/SIGTERM to every child, and when any child fails it stops the rest,
 * so no process is left waiting for a peer that is gone. Exit status: 0 only if all succeeded.
 */
import { withRingMalloc } from './ring-malloc';
import { spawn, type ChildProcess } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { WORKER_SILENT_MS } from '../shared/protocol';
import { findCheckpoint } from '../coordinator/checkpoint';
import { generateJobKeys, KEYS_ENV } from '../shared/curve';
import { workerGpuEnv } from '../shared/gpu';
import { assignGpus } from '../shared/gpu-devices';

/** What to launch: the CLI entry, run arguments forwarded to the coordinator, and the worker count. */
export interface LaunchOptions {
  cli: string;
  workers: number;
  runArgs: string[];
  /** Extra environment for the children. */
  env?: NodeJS.ProcessEnv;
  /** After a failure, restart from the newest checkpoint under `out` up to this many times. */
  maxRestarts?: number;
  out?: string;
  /** Authenticate and encrypt every link with a fresh job key pair (CURVE), even on this host. */
  secure?: boolean;
  /** GPU ordinals, one per worker (a GPU listed twice is shared on purpose): worker i is pinned to gpus[i] (see shared/gpu.ts). */
  gpus?: number[];
  log?: (line: string) => void;
}

/** Grace period between SIGTERM and SIGKILL when tearing children down. */
const KILL_GRACE_MS = 3000;

/** Runs coordinator + workers, restarting from checkpoints on failure; resolves with the exit code. */
export async function launch(o: LaunchOptions): Promise<number> {
  const log = o.log ?? ((l: string) => console.error(l));
  let result = await launchOnce(o, o.runArgs);
  for (let attempt = 1; result.code !== 0 && !result.interrupted && attempt <= (o.maxRestarts ?? 0); attempt++) {
    const ckpt = o.out ? findCheckpoint(o.out) : null;
    if (!ckpt) {
      log(`ringtune launch: no checkpoint under ${o.out}/checkpoints to restart from; giving up (root cause: ${result.cause})`);
      return 1;
    }
    log(`ringtune launch: restart ${attempt}/${o.maxRestarts} from ${ckpt} after: ${result.cause}`);
    result = await launchOnce(o, ['--resume', ckpt]);
  }
  if (result.code !== 0 && (o.maxRestarts ?? 0) > 0 && !result.interrupted)
    log(`ringtune launch: giving up after ${o.maxRestarts} restart(s); last failure: ${result.cause}`);
  return result.code;
}

/** One coordinator + workers run. */
async function launchOnce(o: LaunchOptions, runArgs: string[]): Promise<{ code: number; cause: string; interrupted: boolean }> {
  const log = o.log ?? ((l: string) => console.error(l));
  const gpus = assignGpus({ workers: o.workers, requested: o.gpus });
  const dir = mkdtempSync(join(tmpdir(), 'ringtune-'));
  const address = `ipc://${join(dir, 'control')}`;
  const keys = o.secure ? generateJobKeys() : null;
  const curveEnv = keys ? { [KEYS_ENV.publicKey]: keys.publicKey, [KEYS_ENV.secretKey]: keys.secretKey } : {};
  const env = { ...process.env, RINGTUNE_SUPERVISOR_PID: String(process.pid), ...curveEnv, ...o.env };
  const children: { name: string; proc: ChildProcess }[] = [];
  const start = (name: string, args: string[], stdio: 'inherit' | 'pipe', extraEnv: Record<string, string> = {}) => {
    const proc = spawn(process.execPath, [o.cli, ...args], {
      env: { ...env, ...extraEnv },
      stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'inherit', 'inherit'],
    });
    children.push({ name, proc });
    return proc;
  };
  start('coordinator', ['coordinator', '--bind', address, '--world', String(o.workers), ...runArgs], 'inherit');
  // Workers get the ring's malloc settings (Note [frame memory] in cli/ring-malloc.ts): glibc reads them at start.
  const ringMalloc = { GLIBC_TUNABLES: withRingMalloc(env).GLIBC_TUNABLES ?? '' };
  for (let r = 0; r < o.workers; r++)
    start('a worker', ['worker', '--connect', address], 'pipe', {
      ...ringMalloc,
      ...(gpus ? workerGpuEnv(gpus[r], env) : {}),
    });

  let failed: string | null = null;
  let interrupted = false;
  let stopping = false;
  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill(signal);
    setTimeout(() => {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    }, KILL_GRACE_MS).unref();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    failed = failed ?? `interrupted by ${signal}`;
    interrupted = true;
    stopAll(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            c.proc.on('exit', (code, signal) => {
              if ((code !== 0 || signal) && !stopping) {
                failed = failed ?? `${c.name} (pid ${c.proc.pid}) exited with ${signal ? `signal ${signal}` : `code ${code}`}`;
                // A dead worker: let the coordinator notice, name the rank and stop the others
                // itself; step in only if it has not within the liveness window.
                if (c.name === 'coordinator') stopAll('SIGTERM');
                else setTimeout(() => stopAll('SIGTERM'), WORKER_SILENT_MS + 2000).unref();
              }
              resolve();
            });
            c.proc.on('error', (e) => {
              failed = failed ?? `${c.name} could not start: ${e.message}`;
              stopAll('SIGTERM');
              resolve();
            });
          }),
      ),
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed) {
    log(`ringtune launch: ${failed}; stopped every other process`);
    return { code: 1, cause: failed, interrupted };
  }
  return { code: 0, cause: '', interrupted };
}
