/**
 * Rank discovery for `ringtune run`: which task this process is, how many tasks the job has,
 * which local GPU is its own and where rank 0 (the coordinator's host) listens. Pure: the
 * environment and the Slurm host-list resolver are passed in, so every engine's variables can be
 * tested without the engine.
 *
 * Order: explicit flags > torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) >
 * Slurm (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, first host of the node list) > Kubernetes
 * indexed Job (JOB_COMPLETION_INDEX, WORLD_SIZE, the headless Service address of index 0).
 */

/** Where the rank came from. */
export type TopologySource = 'flags' | 'torchrun' | 'slurm' | 'kubernetes';

/** One task's place in the job. */
export interface Topology {
  /** 0 hosts the coordinator. */
  rank: number;
  /** Number of tasks in the job. */
  world: number;
  /** Index of this task among those on its node: picks its GPU. */
  localRank: number;
  /** Host of rank 0, where the coordinator listens. */
  masterAddr: string;
  masterPort: number;
  source: TopologySource;
}

/** The explicit `ringtune run` flags (any subset). */
export interface TopologyFlags {
  rank?: number;
  world?: number;
  localRank?: number;
  masterAddr?: string;
  masterPort?: number;
}

type Env = Record<string, string | undefined>;

/** torchrun's default rendezvous port, used when nothing names one. */
export const DEFAULT_MASTER_PORT = 29500;

/** Discovery needs: the flags, the environment and a way to expand a Slurm node list. */
export interface DiscoverInput {
  flags?: TopologyFlags;
  env: Env;
  /** Expands a Slurm node list (e.g. `node[01-03]`) to host names, in order; `scontrol show hostnames` in production. */
  slurmHosts?: (nodelist: string) => string[];
}

/** Parses an integer variable or throws naming it. */
function intVar(env: Env, name: string, min: number): number | undefined {
  const text = env[name];
  if (text === undefined || text.trim() === '') return undefined;
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name}='${text}' is not a whole number >= ${min}`);
  return v;
}

interface Partial {
  source: TopologySource;
  rank: number;
  world?: number;
  localRank?: number;
  masterAddr?: string;
}

function fromTorchrun(env: Env): Partial | null {
  const rank = intVar(env, 'RANK', 0);
  if (rank === undefined) return null;
  return { source: 'torchrun', rank, world: intVar(env, 'WORLD_SIZE', 1), localRank: intVar(env, 'LOCAL_RANK', 0) };
}

function fromSlurm(env: Env, slurmHosts: DiscoverInput['slurmHosts']): Partial | null {
  const rank = intVar(env, 'SLURM_PROCID', 0);
  if (rank === undefined) return null;
  // The step's node list names where this srun's tasks are; task 0 runs on its first host.
  const list = env.SLURM_STEP_NODELIST || env.SLURM_JOB_NODELIST || env.SLURM_NODELIST;
  let masterAddr: string | undefined;
  if (list) {
    const hosts = (slurmHosts ?? ((l: string) => [firstSlurmHost(l)]))(list);
    if (hosts.length === 0 || !hosts[0]) throw new Error(`the Slurm node list '${list}' expands to no host`);
    masterAddr = hosts[0];
  }
  return {
    source: 'slurm',
    rank,
    world: intVar(env, 'SLURM_NTASKS', 1) ?? intVar(env, 'SLURM_NPROCS', 1),
    localRank: intVar(env, 'SLURM_LOCALID', 0),
    masterAddr,
  };
}

function fromKubernetes(env: Env): Partial | null {
  const rank = intVar(env, 'JOB_COMPLETION_INDEX', 0);
  if (rank === undefined) return null;
  // An indexed Job's pod is named <job>-<index>; with the pod's subdomain set to the headless
  // Service, index 0 answers at <job>-0.<service>.
  let masterAddr: string | undefined;
  const service = env.RINGTUNE_SERVICE;
  const host = env.HOSTNAME ?? '';
  const suffix = `-${rank}`;
  if (service && host.endsWith(suffix)) masterAddr = `${host.slice(0, -suffix.length)}-0.${service}`;
  return { source: 'kubernetes', rank, world: intVar(env, 'WORLD_SIZE', 1), localRank: intVar(env, 'LOCAL_RANK', 0) ?? 0, masterAddr };
}

/** Finds this task's topology; throws a message naming the missing flag or variable. */
export function discoverTopology(input: DiscoverInput): Topology {
  const flags = input.flags ?? {};
  const env = input.env;
  const found = fromTorchrun(env) ?? fromSlurm(env, input.slurmHosts) ?? fromKubernetes(env);
  const source: TopologySource = flags.rank !== undefined || !found ? 'flags' : found.source;
  const rank = flags.rank ?? found?.rank;
  const world = flags.world ?? found?.world;
  if (rank === undefined) {
    throw new Error(
      'no rank: pass --rank and --world, or run under torchrun (RANK), Slurm (srun: SLURM_PROCID) or a Kubernetes indexed Job (JOB_COMPLETION_INDEX)',
    );
  }
  if (world === undefined) {
    const hint = found?.source === 'kubernetes' ? ' (a Kubernetes indexed Job must set WORLD_SIZE to its completions)' : '';
    throw new Error(`no world size: pass --world or set ${found?.source === 'slurm' ? 'SLURM_NTASKS' : 'WORLD_SIZE'}${hint}`);
  }
  if (rank >= world) throw new Error(`rank ${rank} is not below the world size ${world}`);
  const localRank = flags.localRank ?? found?.localRank ?? intVar(env, 'LOCAL_RANK', 0) ?? 0;
  const masterAddr = flags.masterAddr ?? (env.MASTER_ADDR || undefined) ?? found?.masterAddr ?? (world === 1 ? '127.0.0.1' : undefined);
  if (masterAddr === undefined) {
    const hint =
      found?.source === 'kubernetes' ? ', or set RINGTUNE_SERVICE to the headless Service (with the pod subdomain set to it)' : '';
    throw new Error(`no coordinator address: pass --master-addr or set MASTER_ADDR${hint}`);
  }
  const masterPort = flags.masterPort ?? intVar(env, 'MASTER_PORT', 1) ?? DEFAULT_MASTER_PORT;
  if (masterPort > 65535) throw new Error(`the coordinator port ${masterPort} is above 65535`);
  return { rank, world, localRank, masterAddr, masterPort, source };
}

/**
 * The first host of a Slurm node list without scontrol, for hosts that lack it:
 * `gpu[07-09,12],cpu1` -> `gpu07` (zero padding kept).
 */
export function firstSlurmHost(nodelist: string): string {
  const m = /^([^,[]*)(?:\[([^\]]*)\])?/.exec(nodelist.trim());
  if (!m || (!m[1] && !m[2])) throw new Error(`cannot read the Slurm node list '${nodelist}'`);
  if (m[2] === undefined) return m[1];
  const first = m[2].split(',')[0].split('-')[0];
  return `${m[1]}${first}`;
}

/**
 * The GPU index this task uses: its local rank, unless the engine already narrowed the visible
 * devices to a single one (Slurm --gpus-per-task, Kubernetes device plugins), which is then index 0.
 */
export function gpuIndex(localRank: number, env: Env): number {
  for (const name of ['CUDA_VISIBLE_DEVICES', 'ROCR_VISIBLE_DEVICES', 'GPU_DEVICE_ORDINAL']) {
    const v = env[name];
    if (v !== undefined && v.trim() !== '' && v.split(',').length === 1) return 0;
  }
  return localRank;
}

/** One line for the log: everything a user needs to see that the engine's variables were read right. */
export function describeTopology(
  t: Topology,
  extra: Record<string, string | number> = {},
  role = t.rank === 0 ? 'coordinator + worker' : 'worker',
): string {
  const fields = { rank: t.rank, world: t.world, 'local rank': t.localRank, coordinator: `${t.masterAddr}:${t.masterPort}`, ...extra };
  return `ringtune: topology from ${t.source}: ${Object.entries(fields)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')} (${role})`;
}
