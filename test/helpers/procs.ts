/** Real process trees for fault tests: start `ringtune launch`, find its children, wait for all to be gone. */
import { spawn, execFileSync, type ChildProcess } from 'child_process';
import { existsSync, readFileSync } from 'fs';
import { CLI } from './cli';

export interface Launched {
  proc: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

/** Starts `ringtune launch ...args` as a real process, collecting stdout+stderr. */
export function startLaunch(args: string[]): Launched {
  const proc = spawn(process.execPath, [CLI, 'launch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout!.on('data', (d) => (text += d));
  proc.stderr!.on('data', (d) => (text += d));
  const exit = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, output: () => text, exit };
}

/** Direct children of `pid` whose command line contains `role` ('coordinator' or 'worker'). */
export function childrenOf(pid: number, role: string): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out
    .split('\n')
    .filter((l) => l.includes(` ${role} `) || l.endsWith(` ${role}`) || l.includes(` ${role}\t`))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
    .filter((n) => n > 0);
}

/** True while the process exists (zombies count as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Waits until every pid is gone; returns the milliseconds it took, or throws after limitMs. */
export async function allGone(pids: number[], limitMs: number): Promise<number> {
  const t0 = Date.now();
  while (pids.some(alive)) {
    if (Date.now() - t0 > limitMs) throw new Error(`processes still alive after ${limitMs} ms: ${pids.filter(alive).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

/** Waits until metrics.jsonl has at least `steps` step records. */
export async function waitForSteps(file: string, steps: number, limitMs = 120_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (
      existsSync(file) &&
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"kind":"step"')).length >= steps
    )
      return;
    if (Date.now() - t0 > limitMs) throw new Error(`${file} never reached ${steps} steps`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
