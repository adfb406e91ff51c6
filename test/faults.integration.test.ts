/**
 * Faults with real processes and real signals: a dead or frozen worker, or a dead coordinator,
 * must bring every process down within 10 s with a message naming the rank, and a non-zero exit.
 */
import { mkdtempSync, rmSync } from 'fs';
import { shmNative } from '../worker/shm/native';
import { tmpdir } from 'os';
import { join } from 'path';
import { makeImageFolders } from './helpers/images';
import { startLaunch, childrenOf, allGone, waitForSteps, alive } from './helpers/procs';
import { smallRunFlags } from './helpers/small-run';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-faults-'));
const data = join(dir, 'data');
let n = 0;

beforeAll(async () => {
  await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 200, validPerClass: 10, size: 16 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A run long enough to interrupt: ~50 steps per epoch, 3 epochs. */
async function startRun(allreduce = 'auto') {
  const out = join(dir, `out-${n++}`);
  const run = startLaunch(['--workers', '2', ...smallRunFlags({ data, bs: 4, epochs: 2 }), '--out', out, '--allreduce', allreduce]);
  await waitForSteps(join(out, 'metrics.jsonl'), 3 + Math.floor(Math.random() * 5));
  const coordinator = childrenOf(run.proc.pid!, 'coordinator');
  const workers = childrenOf(run.proc.pid!, 'worker');
  expect(coordinator).toHaveLength(1);
  expect(workers).toHaveLength(2);
  return { run, coordinator: coordinator[0], workers, all: [run.proc.pid!, ...coordinator, ...workers] };
}

// auto is shared memory here when the addon is built (its peers wait on futexes, not sockets); ring is the ZeroMQ ring.
for (const [allreduce, used] of [
  ['auto', shmNative().native ? /through shared memory/ : /over the ZeroMQ ring/],
  ['ring', /over the ZeroMQ ring/],
] as const) {
  it(`SIGKILL of a worker mid-epoch (--allreduce ${allreduce}): everything stops within 10 s, naming the rank`, async () => {
    const r = await startRun(allreduce);
    process.kill(r.workers[1], 'SIGKILL');
    const ms = await allGone(r.all, 10_000);
    expect(await r.run.exit).not.toBe(0);
    expect(r.run.output()).toMatch(used);
    expect(r.run.output()).toMatch(/worker rank \d \(host [^,]+, pid \d+, last finished step \d+\) disconnected/);
    expect(ms).toBeLessThan(10_000);
  });
}

it('SIGSTOP of a worker: detected by missing heartbeats, everything stops within 10 s', async () => {
  const r = await startRun();
  process.kill(r.workers[0], 'SIGSTOP');
  try {
    const ms = await allGone(r.all, 10_000);
    expect(ms).toBeLessThan(10_000);
  } finally {
    if (alive(r.workers[0])) process.kill(r.workers[0], 'SIGKILL');
  }
  expect(await r.run.exit).not.toBe(0);
  expect(r.run.output()).toMatch(/worker rank \d \(host [^,]+, pid \d+, last finished step \d+\) stopped answering: no heartbeat/);
});

it('SIGKILL of the coordinator: the workers exit on their own within 10 s', async () => {
  const r = await startRun();
  process.kill(r.coordinator, 'SIGKILL');
  const ms = await allGone(r.workers, 10_000);
  expect(ms).toBeLessThan(10_000);
  await allGone(r.all, 10_000);
  expect(await r.run.exit).not.toBe(0);
});
