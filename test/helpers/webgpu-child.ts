/**
 * Runs a compiled check script in its own process on the real WebGPU adapter (Dawn's instance
 * lives as long as the process that created it) and returns the JSON lines it marked. Tests that
 * use it run under withAdapter (helpers/webgpu.ts): skipped, said once, where there is none.
 */
import { spawnSync } from 'child_process';
import { existsSync } from 'fs';
import { join } from 'path';

const root = join(__dirname, '..', '..');

function dist(script: string): string {
  const path = join(root, 'dist', script);
  if (!existsSync(path)) throw new Error(`${path} missing: run \`npm run build\` first (npm test does)`);
  return path;
}

/** Runs dist/<script> with `args`; returns the parsed JSON of every stdout line starting with `mark`. */
export function runMarked<T>(script: string, args: string[], mark: string, timeoutMs: number): T[] {
  const r = spawnSync(process.execPath, [dist(script), ...args], { encoding: 'utf8', timeout: timeoutMs, cwd: root });
  const lines = (r.stdout ?? '')
    .split('\n')
    .filter((l) => l.startsWith(mark))
    .map((l) => JSON.parse(l.slice(mark.length)) as T);
  if (lines.length === 0)
    throw new Error(`${script} ${args.join(' ')}: no result (exit ${r.status ?? r.signal}): ${(r.stderr ?? '').slice(-2000)}`);
  return lines;
}
