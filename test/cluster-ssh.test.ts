/**
 * scripts/launch-cluster.sh against a real sshd (Debian openssh-server, key authentication) with
 * the loopback addresses 127.0.0.1 and 127.0.0.2 as two hosts: a tiny fine-tune finishes over
 * CURVE with the job key the script made; and when one remote worker is killed, the script stops
 * every task and exits non-zero.
 * Runs under `npm run test:cluster` as root; skips with the reason otherwise.
 */
import { spawn } from 'child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync, statSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { makeImageFolders } from './helpers/images';
import { Daemon, freePort, missingTools, processesWith, run, waitFor } from './helpers/cluster-daemons';
import { smallRunFlags } from './helpers/small-run';

const REPO = join(__dirname, '..');
const SCRIPT = join(REPO, 'scripts', 'launch-cluster.sh');
const skip = missingTools(['sshd', 'ssh', 'ssh-keygen'], ['openssh-server', 'openssh-client']);
if (skip) console.warn(`cluster-ssh: skipped: ${skip}`);
const maybe = skip ? describe.skip : describe;

interface Launch {
  code: number | null;
  stderr: string;
  logs: string;
  ms: number;
}

maybe('scripts/launch-cluster.sh over ssh to 127.0.0.1 and 127.0.0.2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringtune-ssh-'));
  const hostfile = join(dir, 'hosts');
  let sshd: Daemon;
  let sshCommand = '';

  beforeAll(async () => {
    const keys = join(dir, 'keys');
    mkdirSync(keys, { mode: 0o700 });
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keys, 'host')]);
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keys, 'user')]);
    writeFileSync(join(keys, 'authorized_keys'), readFileSync(join(keys, 'user.pub')), { mode: 0o600 });
    const port = await freePort();
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        'ListenAddress 127.0.0.2',
        `HostKey ${join(keys, 'host')}`,
        `AuthorizedKeysFile ${join(keys, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        `PidFile ${join(dir, 'sshd.pid')}`,
      ].join('\n') + '\n',
    );
    mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation folder
    sshd = Daemon.start('sshd', '/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], join(dir, 'sshd.log'));
    sshCommand = `ssh -i ${join(keys, 'user')} -p ${port} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
    await waitFor(
      'sshd to accept a key login on 127.0.0.2',
      () => {
        if (!sshd.alive) throw new Error(`sshd exited:\n${sshd.output()}`);
        try {
          return run('ssh', [...sshCommand.split(' ').slice(1), '127.0.0.2', 'true'], {}, 10_000) === '';
        } catch {
          return false;
        }
      },
      20_000,
      300,
    );
    writeFileSync(hostfile, '# two "hosts" on loopback\n127.0.0.1 1\n127.0.0.2 2   # two slots\n');
    await makeImageFolders(join(dir, 'data'), { classes: ['a', 'b'], trainPerClass: 16, validPerClass: 4, size: 16 });
  }, 600_000);

  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the launcher; `during` runs while it does (with the out folder), then waits for its exit. */
  async function launch(
    name: string,
    epochs: number,
    during?: (out: string) => Promise<void>,
  ): Promise<Launch & { out: string; port: number }> {
    const out = join(dir, name);
    const port = await freePort();
    const args = [SCRIPT, hostfile, ...smallRunFlags({ data: 'data', epochs, freezeEpochs: 0 }), '--out', name];
    const t0 = Date.now();
    const proc = spawn('bash', args, {
      cwd: dir,
      env: { ...process.env, RINGTUNE_SSH: sshCommand, MASTER_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stdout.on('data', () => undefined);
    proc.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 150_000);
    try {
      if (during) await during(out);
      const code = await exited;
      const logs = [0, 1, 2]
        .map((r) => join(out, 'logs', `rank-${r}.log`))
        .filter(existsSync)
        .map((f) => `== ${f}\n${readFileSync(f, 'utf8')}`)
        .join('\n');
      return { code, stderr, logs, ms: Date.now() - t0, out, port };
    } finally {
      clearTimeout(timer);
    }
  }

  const rankLog = (out: string, r: number) =>
    existsSync(join(out, 'logs', `rank-${r}.log`)) ? readFileSync(join(out, 'logs', `rank-${r}.log`), 'utf8') : '';

  it('runs the coordinator and 3 ranks on two hosts, with one log per rank, to identical final weights', async () => {
    const r = await launch('ok', 1);
    expect({ code: r.code, stderr: r.stderr, logs: r.logs }).toMatchObject({ code: 0 });
    for (const [rank, host, local] of [
      [0, '127.0.0.1', 0],
      [1, '127.0.0.2', 0],
      [2, '127.0.0.2', 1],
    ] as const) {
      expect(rankLog(r.out, rank)).toMatch(
        new RegExp(
          `topology from flags: rank ${rank}, world 3, local rank ${local}, coordinator 127\\.0\\.0\\.1:${r.port}, ring host ${host.replace(/\./g, '\\.')}`,
        ),
      );
    }
    const weights = /weights after unfrozen epoch 0: (.*)/.exec(rankLog(r.out, 0));
    expect(weights).not.toBeNull();
    const hashes = [...weights![1].matchAll(/rank (\d+) (\w+)/g)].map((m) => m[2]);
    expect(hashes).toHaveLength(3);
    expect(new Set(hashes).size).toBe(1);
    expect(existsSync(join(r.out, 'model.json'))).toBe(true);
    expect(r.stderr).toMatch(/all 3 task\(s\) finished/);
    // No key was given: the script made one, every link used it, and it is gone with the job.
    expect(r.stderr).toMatch(/made a job key .*job\.key \(mode 600\)/);
    expect(rankLog(r.out, 0)).toMatch(/coordinator on tcp:\/\/[^ ]+ \(CURVE: authenticated, encrypted\)/);
    expect(existsSync(join(r.out, 'job.key'))).toBe(false);
  }, 200_000);

  it('tears everything down and exits non-zero when a remote worker is killed', async () => {
    let victim = 0;
    const r = await launch('killed', 50, async (out) => {
      await waitFor('the workers to be training', () => /ready on backend/.test(rankLog(out, 0)), 90_000);
      expect(statSync(join(out, 'job.key')).mode & 0o777).toBe(0o600);
      victim = Number(/ringtune: topology from flags: rank 2, .* pid (\d+) \(worker\)/.exec(rankLog(out, 2))?.[1]);
      expect(victim).toBeGreaterThan(0);
      process.kill(victim, 'SIGKILL');
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/rank \d on 127\.0\.0\.\d exited with status \d+ .*stopping every other task/);
    expect(r.ms).toBeLessThan(120_000);
    // Every process of the run, on both "hosts", is gone soon after: ssh clients, remote shells and
    // tasks (their command lines name the run's port) and rank 0's worker (it connects to that port).
    const left = () => [...processesWith(`--master-port ${r.port} `), ...processesWith(`:${r.port} `)];
    await waitFor('every process of the run to exit', () => left().length === 0, 15_000).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(left())}`);
    });
    expect(existsSync(join(r.out, 'model.json'))).toBe(false);
  }, 200_000);

  it('forwards SIGTERM: every remote task stops and the script exits 143', async () => {
    let launcherPid = 0;
    const r = await launch('interrupted', 50, async (out) => {
      await waitFor('the workers to be training', () => /ready on backend/.test(rankLog(out, 0)), 90_000);
      launcherPid =
        processesWith(`${SCRIPT} ${join(dir, 'hosts')}`)
          .map((p) => p.pid)
          .find((pid) => pid > 0) ?? 0;
      expect(launcherPid).toBeGreaterThan(0);
      process.kill(launcherPid, 'SIGTERM');
    });
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/interrupted by SIGTERM; stopping every task/);
    const left = () => [...processesWith(`--master-port ${r.port} `), ...processesWith(`:${r.port} `)];
    await waitFor('every process of the run to exit', () => left().length === 0, 15_000).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(left())}`);
    });
  }, 200_000);
});
