/**
 * What the cluster tests need around them: Debian packages (installed when missing and root),
 * free ports, daemons started as child processes and stopped by pid, and polling with a deadline.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { createServer } from 'net';
import { existsSync, readdirSync, readFileSync, openSync, closeSync } from 'fs';
import { join } from 'path';

/** The cluster tests run only under `npm run test:cluster`, which sets this variable. */
export const CLUSTER_TESTS = process.env.RINGTUNE_CLUSTER_TESTS === '1';

function onPath(bin: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'];
  return dirs.some((d) => d && existsSync(join(d, bin)));
}

function apt(args: string[]): boolean {
  const r = spawnSync('apt-get', args, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 600_000,
  });
  return r.status === 0;
}

/**
 * Why the tests that need these programs cannot run, or null when they can: installs the Debian
 * packages first if a program is missing and we are root.
 */
export function missingTools(binaries: string[], packages: string[]): string | null {
  if (!CLUSTER_TESTS) return 'cluster tests run with `npm run test:cluster` (RINGTUNE_CLUSTER_TESTS=1)';
  return systemToolsMissing(binaries, packages);
}

/** missingTools without the cluster-test switch (for benchmarks a user starts on purpose). */
export function systemToolsMissing(binaries: string[], packages: string[]): string | null {
  if (process.platform !== 'linux') return `needs Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'needs root (it starts system daemons)';
  const missing = () => binaries.filter((b) => !onPath(b));
  if (missing().length > 0) {
    const install = ['install', '-y', '--no-install-recommends', ...packages];
    if (!apt(install)) apt(['update']) && apt(install);
  }
  const still = missing();
  return still.length ? `missing ${still.join(', ')} (apt-get install ${packages.join(' ')} failed)` : null;
}

/** A TCP port nobody listens on right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls until `check` is true; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A daemon run in the foreground as our child, output to a log file, stopped by its pid. */
export class Daemon {
  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    readonly log: string,
  ) {}

  /** Starts `cmd args` with output appended to `log`. */
  static start(name: string, cmd: string, args: string[], log: string, env: NodeJS.ProcessEnv = {}): Daemon {
    const fd = openSync(log, 'a');
    const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const d = new Daemon(name, proc, log);
    running.add(d);
    return d;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    running.delete(this);
    if (!this.alive) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  /** The daemon's log so far (for failure messages). */
  output(): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8') : '';
  }
}

const running = new Set<Daemon>();
// Jest killed or a test threw before its afterAll: leave no daemon behind.
process.on('exit', () => {
  for (const d of running) if (d.alive) d.proc.kill('SIGKILL');
});

/** Processes whose command line contains `token` (read from /proc), e.g. a run's unique folder or port. */
export function processesWith(token: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (cmd.includes(token)) out.push({ pid: Number(entry), cmd });
    } catch {
      /* the process ended while we looked */
    }
  }
  return out;
}

/** Runs a command to completion; throws with its output if it fails. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): string {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `status ${r.status}`}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
