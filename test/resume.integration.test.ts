/**
 * Exact resume with real processes: a run interrupted (SIGKILL) at a random step and resumed ends
 * with weights bitwise identical to an uninterrupted run; a checkpoint write killed half-way leaves
 * the previous checkpoint loadable.
 */
import { spawn } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { makeImageFolders } from './helpers/images';
import { runCli } from './helpers/cli';
import { startLaunch, childrenOf, allGone, waitForSteps } from './helpers/procs';
import { listCheckpoints, readCheckpoint } from '../coordinator/checkpoint';
import { smallRunFlags } from './helpers/small-run';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-resume-'));
const data = join(dir, 'data');
const runArgs = (out: string) => ['--workers', '2', ...smallRunFlags({ data, bs: 4 }), '--checkpoint-every', '2', '--out', out];

beforeAll(async () => {
  await makeImageFolders(data, { classes: ['a', 'b', 'c'], trainPerClass: 16, validPerClass: 4, size: 16 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('a run killed at a random step and resumed ends bitwise identical to an uninterrupted run', async () => {
  const straight = join(dir, 'straight');
  const r1 = await runCli(['launch', ...runArgs(straight)], 180_000);
  expect(r1.code).toBe(0);

  const broken = join(dir, 'broken');
  const run = startLaunch(runArgs(broken));
  // 48 images, 2 workers x bs 4: 6 steps per epoch, 12 in all; interrupt somewhere after the first checkpoint.
  await waitForSteps(join(broken, 'metrics.jsonl'), 2 + Math.floor(Math.random() * 8));
  const pids = [run.proc.pid!, ...childrenOf(run.proc.pid!, 'coordinator'), ...childrenOf(run.proc.pid!, 'worker')];
  process.kill(childrenOf(run.proc.pid!, 'worker')[0], 'SIGKILL');
  await allGone(pids, 15_000);
  expect(existsSync(join(broken, 'weights.bin'))).toBe(false);
  expect(listCheckpoints(join(broken, 'checkpoints')).length).toBeGreaterThan(0);

  const r2 = await runCli(['resume', broken], 180_000);
  expect(r2.stderr + r2.stdout).toMatch(/resuming from .*step-\d+/);
  expect(r2.code).toBe(0);
  expect(readFileSync(join(broken, 'weights.bin')).equals(readFileSync(join(straight, 'weights.bin')))).toBe(true);
});

it('launch --max-restarts: a worker killed mid-run, the job restarts from the newest checkpoint and ends bitwise identical', async () => {
  const straight = join(dir, 'straight');
  if (!existsSync(join(straight, 'weights.bin'))) expect((await runCli(['launch', ...runArgs(straight)], 180_000)).code).toBe(0);
  const out = join(dir, 'restarted');
  const run = startLaunch(['--max-restarts', '2', ...runArgs(out)]);
  await waitForSteps(join(out, 'metrics.jsonl'), 3 + Math.floor(Math.random() * 6));
  const victim = childrenOf(run.proc.pid!, 'worker')[1];
  process.kill(victim, 'SIGKILL');
  expect(await run.exit).toBe(0);
  expect(run.output()).toMatch(new RegExp(`restart 1/2 from .*step-\\d+ after: a worker \\(pid ${victim}\\) exited with signal SIGKILL`));
  expect(run.output()).toMatch(/resuming from .*step-\d+/);
  expect(readFileSync(join(out, 'weights.bin')).equals(readFileSync(join(straight, 'weights.bin')))).toBe(true);
}, 300_000);

it('a checkpoint write killed half-way leaves the previous checkpoint whole and loadable', async () => {
  const root = join(dir, 'ckpts');
  // A child process writes large checkpoints in a loop; we SIGKILL it while a temporary folder exists.
  const script = `
    const { writeCheckpoint } = require(${JSON.stringify(join(__dirname, '..', 'dist', 'coordinator', 'checkpoint.js'))});
    const big = new Uint8Array(64 * 1024 * 1024);
    for (let step = 1; ; step++) {
      big.fill(step % 251);
      const meta = { version: 1, config: {}, world: 1, classes: [], position: { phase: 0, epoch: 0, iter: step, step, runEpoch: 0, smooth: { val: 0, n: 0 } }, adamStep: step, writtenAt: '' };
      writeCheckpoint(${JSON.stringify(root)}, meta, { weights: big, adamM: big, adamV: big, bnStats: [new Uint8Array(8)] }, 2);
    }`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  const t0 = Date.now();
  let killedMidWrite = false;
  while (Date.now() - t0 < 60_000) {
    const entries = existsSync(root) ? readdirSync(root) : [];
    if (entries.some((e) => e.startsWith('.tmp-')) && listCheckpoints(root).length >= 1) {
      child.kill('SIGKILL');
      killedMidWrite = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => child.on('exit', r));
  expect(killedMidWrite).toBe(true);
  const complete = listCheckpoints(root);
  expect(complete.length).toBeGreaterThanOrEqual(1);
  const { meta, data: ckpt } = readCheckpoint(complete[complete.length - 1]);
  expect(ckpt.weights.byteLength).toBe(64 * 1024 * 1024);
  expect(ckpt.weights.every((b) => b === meta.position.step % 251)).toBe(true);
});
