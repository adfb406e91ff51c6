/**
 * `npm run bench:start`: `npm start` wall to wall with the oneDNN kernels and with the wasm kernels
 * alone (RINGTUNE_NO_ONEDNN=1), alternating run by run (the first of each round alternates too, so
 * neither side always gets the quieter minute), then a table of every run's wall time and accuracy,
 * the medians and their ratio. It runs the demo's own command (dist/scripts/start.js), so it follows
 * the demo when the demo changes. Arguments besides `--rounds N` (default 3) and `--first onednn|wasm`
 * (which side opens the first round; default onednn) go to `npm start`, e.g.
 * `npm run bench:start -- --rounds 1 --images-per-class 20 --epochs 1` for a quick look. Wall times
 * are the point: run it on a quiet machine.
 */
import { spawn } from 'child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'fs';
import { loadavg } from 'os';
import { join } from 'path';
import { prepareDemoData } from './demo';
import { parseStartArgs } from './start';
import { median } from './stats';
import { finalAccuracy } from './workers-accuracy';

const root = join(__dirname, '..', '..');

interface Side {
  name: string;
  command: string;
  env: Record<string, string>;
  /** What rank 0's backend line must say, so a run that silently took the other kernels fails. */
  backendLine: RegExp;
}

const SIDES: Side[] = [
  { name: 'wasm + oneDNN kernels', command: 'npm start', env: { RINGTUNE_NO_ONEDNN: '' }, backendLine: /wasm \+ oneDNN kernels/ },
  {
    name: 'wasm kernels only',
    command: 'RINGTUNE_NO_ONEDNN=1 npm start',
    env: { RINGTUNE_NO_ONEDNN: '1' },
    backendLine: /wasm kernels: RINGTUNE_NO_ONEDNN=1/,
  },
];

interface Run {
  seconds: number;
  accuracy: number;
  load: number;
}

function parseArgs(argv: string[]): { rounds: number; wasmFirst: boolean; forward: string[] } {
  const forward: string[] = [];
  let rounds = 3;
  let wasmFirst = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') {
      rounds = Number(argv[++i]);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a whole number >= 1, got '${argv[i]}'`);
    } else if (argv[i] === '--first') {
      if (!['onednn', 'wasm'].includes(argv[++i])) throw new Error(`--first must be onednn or wasm, got '${argv[i]}'`);
      wasmFirst = argv[i] === 'wasm';
    } else forward.push(argv[i]);
  }
  return { rounds, wasmFirst, forward };
}

/** One `npm start` (without its build step) with its output in `<out>.log`; resolves with its wall time and final accuracy. */
async function runStart(side: Side, forward: string[], out: string): Promise<Run> {
  rmSync(out, { recursive: true, force: true });
  const logPath = `${out}.log`;
  const log = openSync(logPath, 'w');
  const load = loadavg()[0];
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'dist', 'scripts', 'start.js'), ...forward, '--out', out], {
      env: { ...process.env, ...side.env },
      stdio: ['ignore', log, log],
    });
    child.on('error', reject);
    child.on('exit', (c, signal) => resolve(signal ? null : c));
  });
  const seconds = (performance.now() - t0) / 1000;
  closeSync(log);
  const text = readFileSync(logPath, 'utf8');
  if (code !== 0) throw new Error(`\`${side.command}\` failed (exit ${code}); its output is in ${logPath}`);
  if (!side.backendLine.test(text)) throw new Error(`\`${side.command}\` did not run on ${side.name} (see the backend line in ${logPath})`);
  return { seconds, accuracy: finalAccuracy(out), load };
}

async function main(): Promise<void> {
  const { rounds, wasmFirst, forward } = parseArgs(process.argv.slice(2));
  // Prepared once up front, so no timed run pays for it.
  await prepareDemoData(root, parseStartArgs(forward).data);
  const dir = join(root, 'runs', 'bench-start');
  mkdirSync(dir, { recursive: true });
  const runs: Run[][] = SIDES.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const order = (round % 2 === 0) !== wasmFirst ? [0, 1] : [1, 0];
    for (const s of order) {
      const side = SIDES[s];
      const r = await runStart(side, forward, join(dir, `${s === 0 ? 'onednn' : 'wasm'}-${round + 1}`));
      runs[s].push(r);
      console.log(
        `round ${round + 1}, ${side.name}: ${r.seconds.toFixed(1)} s, accuracy ${r.accuracy.toFixed(4)}, load ${r.load.toFixed(2)}`,
      );
    }
  }
  const extra = forward.length > 0 ? ` -- ${forward.join(' ')}` : '';
  console.log(`\n| kernels | command | wall s, each run | median wall s | accuracy, each run |\n|---|---|---|---:|---|`);
  SIDES.forEach((side, s) => {
    const each = runs[s].map((r) => r.seconds.toFixed(1)).join(', ');
    const acc = runs[s].map((r) => r.accuracy.toFixed(4)).join(', ');
    console.log(`| ${side.name} | \`${side.command}${extra}\` | ${each} | ${median(runs[s].map((r) => r.seconds)).toFixed(1)} | ${acc} |`);
  });
  const [fast, slow] = runs.map((rs) => median(rs.map((r) => r.seconds)));
  console.log(`\nwall time, wasm kernels only / with oneDNN (medians of ${rounds}): ${(slow / fast).toFixed(2)}x`);
  console.log(
    `load average at each run's start: ${runs
      .flat()
      .map((r) => r.load.toFixed(2))
      .join(', ')}; now ${loadavg()[0].toFixed(2)}`,
  );
}

main().catch((e) => {
  console.error(`bench:start: ${(e as Error).message}`);
  process.exit(1);
});
