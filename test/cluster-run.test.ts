/**
 * `ringtune run` started the way torchrun-style launchers start it (RANK, WORLD_SIZE, LOCAL_RANK,
 * MASTER_ADDR, MASTER_PORT in the environment), as real processes on loopback; and the errors a
 * task or the ssh launcher gives for a missing rank or a bad hostfile. No daemons needed.
 */
import { spawn } from 'child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { makeImageFolders } from './helpers/images';
import { CLI, runCli } from './helpers/cli';
import { CLUSTER_TESTS, freePort, waitFor } from './helpers/cluster-daemons';
import { childrenOf, waitForSteps } from './helpers/procs';
import { smallRunFlags } from './helpers/small-run';

const SCRIPT = join(__dirname, '..', 'scripts', 'launch-cluster.sh');
if (!CLUSTER_TESTS) console.warn('cluster-run: skipped: cluster tests run with `npm run test:cluster` (RINGTUNE_CLUSTER_TESTS=1)');
const maybe = CLUSTER_TESTS ? describe : describe.skip;

maybe('ringtune run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringtune-run-'));
  const data = join(dir, 'data');
  const tiny = smallRunFlags({ data, freezeEpochs: 0 });
  beforeAll(() => makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 16, validPerClass: 4, size: 16 }));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Starts one task with a clean engine environment plus `env`; it is killed after `limitMs`. */
  function startTask(env: Record<string, string>, args: string[], limitMs = 120_000) {
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(RANK|WORLD_SIZE|LOCAL_RANK|MASTER_|SLURM_|JOB_COMPLETION_INDEX)/.test(k)),
    );
    const proc = spawn(process.execPath, [CLI, 'run', ...args], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.on('data', (d) => (output += d));
    proc.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), limitMs);
    const exit = new Promise<number | null>((r) => proc.on('exit', (code) => (clearTimeout(timer), r(code))));
    return { proc, output: () => output, exit };
  }

  /** Runs one task to its end; resolves with its exit code and output (stdout and stderr). */
  async function task(env: Record<string, string>, args: string[]): Promise<{ code: number | null; output: string }> {
    const t = startTask(env, args);
    const code = await t.exit;
    return { code, output: t.output() };
  }

  it('two tasks from torchrun variables finish a fine-tune with identical weights', async () => {
    const port = String(await freePort());
    const out = join(dir, 'out');
    const common = { WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port };
    const [r0, r1] = await Promise.all([
      task({ ...common, RANK: '0', LOCAL_RANK: '0' }, [...tiny, '--out', out]),
      task({ ...common, RANK: '1', LOCAL_RANK: '1' }, [...tiny, '--out', out]),
    ]);
    expect({ code: r0.code, stderr: r0.output }).toMatchObject({ code: 0 });
    expect(r1.code).toBe(0);
    expect(r0.output).toMatch(
      new RegExp(
        `topology from torchrun: rank 0, world 2, local rank 0, coordinator 127\\.0\\.0\\.1:${port}, .* \\(coordinator \\+ worker\\)`,
      ),
    );
    expect(r1.output).toMatch(
      new RegExp(
        `topology from torchrun: rank 1, world 2, local rank 1, coordinator 127\\.0\\.0\\.1:${port}, ring host 127\\.0\\.0\\.1, gpu 1, .* \\(worker\\)`,
      ),
    );
    const hashes = [...(/weights after unfrozen epoch 0: (.*)/.exec(r0.output)?.[1] ?? '').matchAll(/rank \d+ (\w+)/g)].map((m) => m[1]);
    expect(hashes).toHaveLength(2);
    expect(hashes[0]).toBe(hashes[1]);
    expect(existsSync(join(out, 'model.json'))).toBe(true);
  }, 150_000);

  it('--max-restarts 1: a worker killed once is survived (every rank restarts); killed again, the job fails naming it', async () => {
    const port = String(await freePort());
    const out = join(dir, 'restarts');
    const common = { WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port };
    const args = [
      ...tiny.slice(0, -4),
      '--epochs',
      '30',
      '--freeze-epochs',
      '0',
      '--checkpoint-every',
      '2',
      '--max-restarts',
      '1',
      '--out',
      out,
    ];
    const tasks = [0, 1].map((r) => startTask({ ...common, RANK: String(r), LOCAL_RANK: String(r) }, args, 240_000));
    const workerOf = (t: (typeof tasks)[number]) => childrenOf(t.proc.pid!, 'worker')[0];
    await waitForSteps(join(out, 'metrics.jsonl'), 3, 120_000);
    const first = workerOf(tasks[1]);
    process.kill(first, 'SIGKILL');
    // Every rank restarts: rank 1's task its worker, rank 0 its coordinator (from the newest checkpoint) and its worker.
    await waitFor(
      'the job to restart and train again',
      () => /resuming from .*step-\d+/.test(tasks[0].output()) && workerOf(tasks[1]) !== first,
      120_000,
    );
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"kind":"step"')).length;
    await waitForSteps(join(out, 'metrics.jsonl'), steps + 2, 120_000);
    const second = workerOf(tasks[1]);
    process.kill(second, 'SIGKILL');
    const codes = await Promise.all(tasks.map((t) => t.exit));
    expect(codes).toEqual([1, 1]);
    const [zero, one] = tasks.map((t) => t.output());
    expect(zero).toMatch(
      new RegExp(
        `restart 1/1 from .*step-\\d+ after: worker rank 1 \\(host [^,]+, pid ${first}, last finished step \\d+\\) (disconnected|stopped answering)`,
      ),
    );
    expect(zero).toMatch(
      new RegExp(`ringtune: giving up after 1 restart\\(s\\); the last failure: worker rank 1 \\(host [^,]+, pid ${second}, `),
    );
    expect(one).toMatch(new RegExp(`the worker of rank 1 \\(pid ${first}\\) exited with signal SIGKILL; restarting it \\(1/1\\)`));
    expect(one).toMatch(
      new RegExp(`ringtune: the worker of rank 1 \\(pid ${second}\\) exited with signal SIGKILL; no restarts left \\(--max-restarts 1\\)`),
    );
    expect(existsSync(join(out, 'model.json'))).toBe(false);
  }, 300_000);

  it('refuses to start without a rank, or with a rank outside the world, naming what to set', async () => {
    const none = await task({}, tiny);
    expect(none.code).toBe(1);
    expect(none.output).toMatch(/ringtune: no rank: pass --rank and --world, or run under torchrun \(RANK\), Slurm/);
    const outside = await task({ SLURM_PROCID: '3', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'localhost' }, tiny);
    expect(outside.code).toBe(1);
    expect(outside.output).toMatch(/rank 3 is not below the world size 2/);
    const badData = await runCli(
      ['run', '--rank', '1', '--world', '2', '--master-addr', '127.0.0.1', ...tiny.slice(2), '--data', join(dir, 'missing')],
      30_000,
    );
    expect(badData.code).toBe(1);
    expect(badData.stderr).toMatch(/--data: no such folder/);
  }, 60_000);

  it('refuses to reach beyond loopback without the job key unless --insecure, as the coordinator does', async () => {
    const across = ['run', '--rank', '1', '--world', '2', '--master-addr', '198.18.0.1', '--host', '198.18.0.2', ...tiny];
    const worker = await runCli(across, 30_000, { RINGTUNE_KEY_FILE: '' });
    expect(worker.code).toBe(1);
    expect(worker.stderr).toMatch(
      /the coordinator address 198\.18\.0\.1 is reachable from other hosts but no CURVE keys were given: .*RINGTUNE_KEY_FILE=FILE .* or pass --insecure/,
    );
    const head = await runCli(
      ['run', '--rank', '0', '--world', '2', '--master-addr', '127.0.0.1', '--bind-host', '0.0.0.0', ...tiny],
      30_000,
      {
        RINGTUNE_KEY_FILE: '',
      },
    );
    expect(head.code).toBe(1);
    expect(head.stderr).toMatch(/--bind-host 0\.0\.0\.0 is reachable from other hosts but no CURVE keys were given/);
    const coordinator = await runCli(['coordinator', '--bind', 'tcp://0.0.0.0:0', '--world', '1', ...tiny], 30_000, {
      RINGTUNE_KEY_FILE: '',
    });
    expect(coordinator.code).toBe(1);
    expect(coordinator.stderr).toMatch(/--bind tcp:\/\/0\.0\.0\.0:0 is reachable from other hosts but no CURVE keys were given/);
    // --insecure lets the task past the check: it says who it is and waits for a coordinator that is not there (the timeout ends it).
    const insecure = await runCli([...across, '--insecure'], 10_000, { RINGTUNE_KEY_FILE: '' }).catch((e: Error) => e);
    expect(insecure).toBeInstanceOf(Error);
    expect((insecure as Error).message).toMatch(/did not finish within[^]*topology from flags: rank 1, world 2, .*\(worker\)/);
    expect((insecure as Error).message).not.toMatch(/no CURVE keys/);
  }, 90_000);

  it('launch-cluster.sh rejects a bad hostfile line before starting anything', async () => {
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, 'node1 2\nnode2 two\n');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn('bash', [SCRIPT, hosts, ...tiny], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      p.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 2: expected 'host slots' with slots a whole number >= 1, got 'node2 two'/);
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });
});
