/**
 * Runs a compiled check script in its own process on the real WebGPU adapter (Dawn's instance
 * lives as long as the process that created it) and returns the JSON lines it marked. Without an
 * adapter the tests that use it skip, saying so once.
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

/** Whether Dawn finds an adapter here (a child process asks). */
function probe(): string | null {
  const backend = JSON.stringify(dist('worker/backend.js'));
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `require(${backend}).selectBackend('webgpu').then((c) => { console.log('ADAPTER ' + c.reason); require(${backend}).releaseBackend(); }, (e) => console.log('NONE ' + e.message))`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('ADAPTER ') || l.startsWith('NONE '));
  if (line?.startsWith('ADAPTER ')) return null;
  return line ? line.slice(5) : `the probe exited ${r.status ?? r.signal}`;
}

const missing = probe();
if (missing) process.stdout.write(`webgpu tests skipped: ${missing}\n`);

/** `test` where a WebGPU adapter exists, `test.skip` (after one printed line) where not. */
export const onAdapter: jest.It = missing ? test.skip : test;

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
