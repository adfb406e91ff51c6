/**
 * Several "hosts" on this machine, for multi-host tests and benchmarks: each simulated host is its
 * own network namespace and UTS namespace (so its own interfaces, addresses and hostname), and a
 * switch namespace joins them with a bridge and one veth pair per host. Traffic between hosts is
 * real TCP through the kernel's network stack, between namespaces; the addresses (198.18.0.0/24,
 * the range RFC 2544 sets aside for network benchmarks) exist only inside the namespaces made here.
 *
 * Every namespace is held by one `sleep` process started with a parent-death signal, so the
 * namespaces (and with them the veth pairs and the bridge) vanish when the holders die: at
 * destroy(), and also when the process that made them is killed. /dev/shm and the kernel boot id
 * stay shared, as they are between containers of one machine: a host's identity comes from its
 * hostname (worker/ring/endpoint.ts hostKey), which is what makes the simulated hosts count as
 * different machines.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'child_process';
import { readdirSync, readlinkSync } from 'fs';
import { missingTools, systemToolsMissing, waitFor } from './cluster-daemons';

/** The test network: host i is 198.18.0.(i+1). */
const SUBNET = '198.18.0';

/** One simulated host. */
export interface SimHost {
  index: number;
  hostname: string;
  /** Its address on the test network. */
  address: string;
  /** The process holding its namespaces. */
  holder: number;
}

/** Optional shaping of every host's link (tc tbf), to model a network slower than memory. */
export interface LinkShape {
  /** Rate limit per host link, in Mbit/s. */
  rateMbit?: number;
}

/**
 * Why simulated hosts cannot be made here, or null when they can (installs iproute2 and util-linux
 * if missing, as root). Tests ask with `forTests` (they also need `npm run test:cluster`).
 */
export function simHostsUnavailable(forTests = true): string | null {
  const tools: [string[], string[]] = [
    ['ip', 'unshare', 'nsenter', 'setpriv', 'tc'],
    ['iproute2', 'util-linux'],
  ];
  return forTests ? missingTools(...tools) : systemToolsMissing(...tools);
}

/** Runs a command, throwing with its stderr on failure. */
function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
}

function netnsOf(pid: number | 'self'): string {
  return readlinkSync(`/proc/${pid}/ns/net`);
}

/** Starts a process holding a fresh network + UTS namespace; resolves once it is inside them. */
async function startHolder(): Promise<ChildProcess> {
  // setpriv sets the parent-death signal, unshare makes the namespaces and execs sleep: one pid throughout.
  const proc = spawn('setpriv', ['--pdeathsig', 'KILL', 'unshare', '--net', '--uts', '--', 'sleep', 'infinity'], { stdio: 'ignore' });
  const own = netnsOf('self');
  await waitFor(
    'a namespace holder to enter its namespaces',
    () => {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`the namespace holder exited (${proc.exitCode ?? proc.signalCode})`);
      try {
        return netnsOf(proc.pid!) !== own;
      } catch {
        return false;
      }
    },
    10_000,
    20,
  );
  return proc;
}

/** A set of simulated hosts joined by one switch. */
export class SimulatedHosts {
  private readonly started = new Set<ChildProcess>();

  private constructor(
    readonly hosts: SimHost[],
    private readonly holders: ChildProcess[],
  ) {}

  /** Makes `count` hosts named `${prefix}-0`, `${prefix}-1`, ... on one switch. */
  static async create(count: number, prefix = 'simhost', shape: LinkShape = {}): Promise<SimulatedHosts> {
    const holders: ChildProcess[] = [];
    const hosts: SimHost[] = [];
    const made = new SimulatedHosts(hosts, holders);
    try {
      const sw = await startHolder();
      holders.push(sw);
      const inSwitch = (args: string[]) => sh('nsenter', ['--target', String(sw.pid), '--net', '--', 'ip', ...args]);
      inSwitch(['link', 'add', 'br0', 'type', 'bridge']);
      inSwitch(['link', 'set', 'br0', 'up']);
      for (let i = 0; i < count; i++) {
        const holder = await startHolder();
        holders.push(holder);
        const pid = String(holder.pid);
        const host: SimHost = { index: i, hostname: `${prefix}-${i}`, address: `${SUBNET}.${i + 1}`, holder: holder.pid! };
        // Both ends are created inside their namespaces: nothing appears in this machine's own.
        sh('ip', ['link', 'add', 'eth0', 'netns', pid, 'type', 'veth', 'peer', 'name', `port${i}`, 'netns', String(sw.pid)]);
        inSwitch(['link', 'set', `port${i}`, 'master', 'br0', 'up']);
        const inHost = (cmd: string, args: string[]) => sh('nsenter', ['--target', pid, '--net', '--uts', '--', cmd, ...args]);
        inHost('hostname', [host.hostname]);
        inHost('ip', ['addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
        inHost('ip', ['link', 'set', 'eth0', 'up']);
        inHost('ip', ['link', 'set', 'lo', 'up']);
        if (shape.rateMbit) {
          const rate = `${shape.rateMbit}mbit`;
          inHost('tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '50ms']);
        }
        hosts.push(host);
      }
    } catch (e) {
      await made.destroy();
      throw e;
    }
    return made;
  }

  /** The argv that runs `cmd args` inside host `index` (its network and hostname). */
  command(index: number, cmd: string, args: string[]): [string, string[]] {
    const host = this.hosts[index];
    if (!host) throw new Error(`no simulated host ${index} (there are ${this.hosts.length})`);
    return ['nsenter', ['--target', String(host.holder), '--net', '--uts', '--', cmd, ...args]];
  }

  /** Spawns `cmd args` inside host `index`; destroy() ends it if it is still running. */
  spawn(index: number, cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    const [bin, argv] = this.command(index, cmd, args);
    const proc = spawn(bin, argv, options);
    this.started.add(proc);
    proc.on('exit', () => this.started.delete(proc));
    return proc;
  }

  /**
   * Kills what runs inside the hosts (what spawn() started and anything else in their network
   * namespaces, e.g. a worker a task forked), then the holders; the namespaces go with them.
   */
  async destroy(): Promise<void> {
    const namespaces = new Set<string>();
    for (const h of this.holders) {
      try {
        namespaces.add(netnsOf(h.pid!));
      } catch {
        /* already gone */
      }
    }
    const startedGone = [...this.started].map(exited);
    for (const proc of this.started) proc.kill('SIGKILL');
    for (const pid of processesIn(namespaces)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* exited meanwhile */
      }
    }
    const holdersGone = this.holders.map(exited);
    for (const h of this.holders) h.kill('SIGKILL');
    // Node reports a child's exit asynchronously: waiting for the event lets callers read exitCode/signalCode.
    await Promise.all([...startedGone, ...holdersGone]);
    await waitFor('every process in the simulated hosts to exit', () => processesIn(namespaces).length === 0, 10_000, 50);
  }
}

/** Resolves once `proc`'s exit has been reported (at once if it already was). */
function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => proc.once('exit', () => resolve()));
}

/** Pids of the processes (other than holders already exiting) whose network namespace is one of `namespaces`. */
function processesIn(namespaces: Set<string>): number[] {
  if (namespaces.size === 0) return [];
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (namespaces.has(netnsOf(Number(entry)))) out.push(Number(entry));
    } catch {
      /* ended while we looked */
    }
  }
  return out;
}
