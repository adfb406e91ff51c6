/**
 * A real one-node Slurm cluster (munged, slurmctld, slurmd from Debian's slurm-wlm and munge) on
 * this machine, configured in a temporary folder. scripts/slurm/ringtune.sbatch is submitted as
 * written, with the job sized to 3 tasks on this node: its `srun ... ringtune run` starts the
 * coordinator and 3 training ranks, which finish a tiny fine-tune with identical final weights; and
 * with --max-restarts, a task's worker killed mid-run is survived: the job ends with the weights
 * of an uninterrupted run.
 * Runs under `npm run test:cluster` as root; skips with the reason otherwise.
 */
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync, chmodSync } from 'fs';
import { tmpdir, hostname, cpus, totalmem } from 'os';
import { join } from 'path';
import { randomBytes } from 'crypto';
import { makeImageFolders } from './helpers/images';
import { CLI } from './helpers/cli';
import { Daemon, freePort, missingTools, run, waitFor } from './helpers/cluster-daemons';
import { childrenOf, waitForSteps } from './helpers/procs';
import { smallRunFlags } from './helpers/small-run';

const REPO = join(__dirname, '..');
const SBATCH = join(REPO, 'scripts', 'slurm', 'ringtune.sbatch');
const skip = missingTools(['munged', 'slurmctld', 'slurmd', 'sbatch', 'srun', 'scontrol', 'sinfo'], ['slurm-wlm', 'munge']);
if (skip) console.warn(`cluster-slurm: skipped: ${skip}`);
const maybe = skip ? describe.skip : describe;

maybe('Slurm: scripts/slurm/ringtune.sbatch on a one-node cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringtune-slurm-'));
  const conf = join(dir, 'slurm.conf');
  const env = { SLURM_CONF: conf, RINGTUNE_KEY_DIR: dir }; // the job key lands in the test's folder, not the checkout
  const daemons: Daemon[] = [];

  /** Writes munge's key and a minimal slurm.conf whose paths all live in `dir`. */
  function configure(ctldPort: number, slurmdPort: number): void {
    for (const d of ['munge', 'state', 'spool', 'log']) mkdirSync(join(dir, d));
    chmodSync(join(dir, 'munge'), 0o755);
    writeFileSync(join(dir, 'munge', 'munge.key'), randomBytes(1024), { mode: 0o400 });
    const host = hostname();
    // CPUs and memory must not exceed the machine's, or slurmd registers the node as invalid.
    const memMb = Math.floor((totalmem() / 2 ** 20) * 0.5);
    writeFileSync(
      conf,
      [
        'ClusterName=ringtune-test',
        `SlurmctldHost=${host}`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${slurmdPort}`,
        'AuthType=auth/munge',
        'CredType=cred/munge',
        `AuthInfo=socket=${join(dir, 'munge', 'socket')}`,
        'SlurmUser=root',
        'SlurmdUser=root',
        `StateSaveLocation=${join(dir, 'state')}`,
        `SlurmdSpoolDir=${join(dir, 'spool')}`,
        `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'MpiDefault=none',
        'ReturnToService=2',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core',
        `NodeName=${host} CPUs=${cpus().length} RealMemory=${memMb} State=UNKNOWN`,
        `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE`,
      ].join('\n') + '\n',
    );
  }

  beforeAll(async () => {
    configure(await freePort(), await freePort());
    const log = (n: string) => join(dir, 'log', `${n}.log`);
    daemons.push(
      Daemon.start(
        'munged',
        'munged',
        [
          '-F',
          '--force',
          `--key-file=${join(dir, 'munge', 'munge.key')}`,
          `--socket=${join(dir, 'munge', 'socket')}`,
          `--pid-file=${join(dir, 'munge', 'munged.pid')}`,
          `--seed-file=${join(dir, 'munge', 'seed')}`,
          `--log-file=${log('munged-file')}`,
        ],
        log('munged'),
      ),
    );
    await waitFor('munged to create its socket', () => existsSync(join(dir, 'munge', 'socket')), 10_000);
    daemons.push(Daemon.start('slurmctld', 'slurmctld', ['-D', '-f', conf], log('slurmctld'), env));
    daemons.push(Daemon.start('slurmd', 'slurmd', ['-D', '-f', conf], log('slurmd'), env));
    await waitFor(
      'the Slurm node to be idle',
      () => {
        for (const d of daemons) if (!d.alive) throw new Error(`${d.name} exited:\n${d.output()}`);
        try {
          return run('sinfo', ['-h', '-N', '-o', '%T'], env, 10_000).trim() === 'idle';
        } catch {
          return false;
        }
      },
      30_000,
      300,
    );
    await makeImageFolders(join(dir, 'data'), { classes: ['a', 'b'], trainPerClass: 16, validPerClass: 4, size: 16 });
  }, 600_000);

  afterAll(async () => {
    try {
      run('scontrol', ['shutdown'], env, 10_000);
    } catch {
      /* the daemons are stopped by pid below either way */
    }
    for (const d of daemons.reverse()) await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Submits the sbatch file as written (sized by sbatch options); returns the job id and its output file. */
  function start(options: string[], args: string[], extraEnv: NodeJS.ProcessEnv): { id: string; output: string } {
    const output = join(dir, `job-${Date.now()}.out`);
    const id = run('sbatch', ['--parsable', `--output=${output}`, ...options, SBATCH, ...args], { ...env, ...extraEnv }, 30_000)
      .trim()
      .split(';')[0];
    return { id, output };
  }

  /** Waits for a job's end state; returns it with the job's output. */
  async function end(job: { id: string; output: string }): Promise<{ state: string; exit: string; output: string }> {
    let state = '';
    let exit = '';
    await waitFor(
      `Slurm job ${job.id} to end`,
      () => {
        const info = run('scontrol', ['show', 'job', job.id], env, 10_000);
        state = /JobState=(\S+)/.exec(info)?.[1] ?? '';
        exit = /\bExitCode=(\S+)/.exec(info)?.[1] ?? '';
        return !['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', ''].includes(state);
      },
      240_000,
      500,
    );
    return { state, exit, output: existsSync(job.output) ? readFileSync(job.output, 'utf8') : '' };
  }

  /** Submits and waits for the end state. */
  const submit = (options: string[], args: string[], extraEnv: NodeJS.ProcessEnv) => end(start(options, args, extraEnv));

  // This node has no GPU and fewer cores than tasks: size the job to it, the script is unchanged.
  const threeTasks = ['--nodes=1', '--ntasks=3', '--gpus-per-task=0', '--cpus-per-task=1', '--overcommit'];

  it('srun -n 3: each task finds its rank from Slurm; coordinator + 3 training ranks finish with identical weights', async () => {
    const out = join(dir, 'out');
    const port = await freePort();
    const job = await submit(threeTasks, [...smallRunFlags({ data: join(dir, 'data'), freezeEpochs: 0 }), '--out', out], {
      RINGTUNE: `${process.execPath} ${CLI}`,
      MASTER_PORT: String(port),
    });
    if (job.state !== 'COMPLETED' || job.exit !== '0:0')
      throw new Error(`job ended ${job.state} with exit code ${job.exit}; its output:\n${job.output}`);
    const host = hostname();
    for (const rank of [0, 1, 2]) {
      const role = rank === 0 ? 'coordinator \\+ worker' : 'worker';
      expect(job.output).toMatch(
        new RegExp(
          `^${rank}: ringtune: topology from slurm: rank ${rank}, world 3, local rank ${rank}, coordinator ${host}:${port}, .*\\(${role}\\)$`,
          'm',
        ),
      );
    }
    const weights = /^0: ringtune run: weights after unfrozen epoch 0: (.*)$/m.exec(job.output);
    expect(weights).not.toBeNull();
    const hashes = [...weights![1].matchAll(/rank (\d+) (\w+)/g)].map((m) => [Number(m[1]), m[2]] as const);
    expect(hashes.map(([r]) => r)).toEqual([0, 1, 2]);
    expect(new Set(hashes.map(([, h]) => h)).size).toBe(1);
    for (const f of ['model.json', 'weights.bin', 'labels.json', 'metrics.jsonl']) expect(existsSync(join(out, f))).toBe(true);
    // No key was given: the batch file made one on the shared folder, the tasks used it, and it went with the job.
    const key = /made a job key (\S+) \(mode 600\)/.exec(job.output)?.[1];
    expect(key).toBeDefined();
    expect(job.output).toMatch(/^0: ringtune: coordinator on tcp:\/\/[^ ]+ \(CURVE: authenticated, encrypted\)/m);
    expect(existsSync(key!)).toBe(false);
  }, 300_000);

  it("--max-restarts: one task's worker killed mid-run, every rank restarts from the newest checkpoint, the weights equal an uninterrupted run's", async () => {
    const data = join(dir, 'data-restart');
    await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 48, validPerClass: 4, size: 16 });
    // 96 images over 3 ranks at bs 8: 4 steps per epoch, 8 in all, a checkpoint every 2.
    const args = (out: string) => [
      ...['--data', data, '--size', '16', '--bs', '8', '--backend', 'wasm', '--no-pretrained', '--epochs', '2', '--freeze-epochs', '0'],
      ...['--checkpoint-every', '2', '--max-restarts', '2', '--out', out],
    ];
    const jobEnv = async () => ({ RINGTUNE: `${process.execPath} ${CLI}`, MASTER_PORT: String(await freePort()) });
    const straight = await submit(threeTasks, args(join(dir, 'straight')), await jobEnv());
    if (straight.state !== 'COMPLETED') throw new Error(`the uninterrupted job ended ${straight.state}:\n${straight.output}`);

    const out = join(dir, 'restarted');
    const job = start(threeTasks, args(out), await jobEnv());
    await waitForSteps(join(out, 'metrics.jsonl'), 3, 180_000);
    const task = Number(/^2: ringtune: topology from slurm: rank 2, .* pid (\d+) \(worker\)$/m.exec(readFileSync(job.output, 'utf8'))?.[1]);
    const [victim] = childrenOf(task, 'worker');
    expect(victim).toBeGreaterThan(0);
    process.kill(victim, 'SIGKILL');
    const ended = await end(job);
    if (ended.state !== 'COMPLETED' || ended.exit !== '0:0') throw new Error(`job ended ${ended.state} (${ended.exit}):\n${ended.output}`);
    expect(ended.output).toMatch(
      new RegExp(
        `^0: ringtune run: restart 1/2 from .*step-\\d+ after: worker rank 2 \\(host ${hostname()}, pid ${victim}, last finished step \\d+\\)`,
        'm',
      ),
    );
    expect(ended.output).toMatch(
      new RegExp(`^2: ringtune run: the worker of rank 2 \\(pid ${victim}\\) exited with signal SIGKILL; restarting it \\(1/2\\)$`, 'm'),
    );
    expect(readFileSync(join(out, 'weights.bin')).equals(readFileSync(join(dir, 'straight', 'weights.bin')))).toBe(true);
  }, 600_000);
});
