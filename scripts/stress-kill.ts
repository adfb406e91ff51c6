/**
 * `npm run stress:kill`: the SIGKILL-a-worker fault, repeated (20 times by default): each time a
 * 2-worker run is started, one worker is SIGKILLed at a random step, and the time until every
 * process is gone is measured. Prints each time and the worst; exits non-zero if any took 10 s or
 * more or left a process behind. Usage: node dist/scripts/stress-kill.js [--times N]
 */
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { makeImageFolders } from '../test/helpers/images';
import { startLaunch, childrenOf, allGone, waitForSteps } from '../test/helpers/procs';
import { smallRunFlags } from '../test/helpers/small-run';

async function main(): Promise<void> {
  const at = process.argv.indexOf('--times');
  const times = at > 0 ? Number(process.argv[at + 1]) : 20;
  const dir = mkdtempSync(join(tmpdir(), 'ringtune-stress-'));
  const data = join(dir, 'data');
  await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 200, validPerClass: 10, size: 16 });
  const results: number[] = [];
  try {
    for (let i = 0; i < times; i++) {
      const out = join(dir, `out-${i}`);
      const run = startLaunch(['--workers', '2', ...smallRunFlags({ data, bs: 4, epochs: 2 }), '--out', out]);
      await waitForSteps(join(out, 'metrics.jsonl'), 1 + Math.floor(Math.random() * 20));
      const workers = childrenOf(run.proc.pid!, 'worker');
      const pids = [run.proc.pid!, ...childrenOf(run.proc.pid!, 'coordinator'), ...workers];
      process.kill(workers[Math.floor(Math.random() * workers.length)], 'SIGKILL');
      const ms = await allGone(pids, 30_000);
      const named = /worker rank \d \(host [^,]+, pid \d+, last finished step \d+\)/.test(run.output());
      results.push(ms);
      console.log(`run ${i + 1}/${times}: all processes gone after ${ms} ms; exit ${await run.exit}; rank named: ${named}`);
      if (!named) process.exitCode = 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const sorted = [...results].sort((a, b) => a - b);
  console.log(
    `\n| runs | median ms | worst ms |\n|---|---|---|\n| ${results.length} | ${sorted[Math.floor(sorted.length / 2)]} | ${sorted[sorted.length - 1]} |`,
  );
  if (sorted[sorted.length - 1] >= 10_000) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`stress: ${(e as Error).message}`);
  process.exit(1);
});
