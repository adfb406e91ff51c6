/** Rank discovery: every engine's variables, the order between them, and the errors that name what is missing. */
import { discoverTopology, describeTopology, firstSlurmHost, gpuIndex, DEFAULT_MASTER_PORT } from '../shared/topology';

const hosts = (list: string) => (list === 'gpu[07-09]' ? ['gpu07', 'gpu08', 'gpu09'] : list.split(','));

describe('discoverTopology', () => {
  it('reads torchrun variables', () => {
    const t = discoverTopology({ env: { RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1', MASTER_ADDR: 'node1', MASTER_PORT: '1234' } });
    expect(t).toEqual({ rank: 3, world: 8, localRank: 1, masterAddr: 'node1', masterPort: 1234, source: 'torchrun' });
  });

  it('reads Slurm variables and takes the first host of the step node list as the coordinator', () => {
    const seen: string[] = [];
    const t = discoverTopology({
      env: {
        SLURM_PROCID: '2',
        SLURM_NTASKS: '6',
        SLURM_LOCALID: '0',
        SLURM_JOB_NODELIST: 'gpu[01-09]',
        SLURM_STEP_NODELIST: 'gpu[07-09]',
      },
      slurmHosts: (l) => (seen.push(l), hosts(l)),
    });
    expect(t).toEqual({ rank: 2, world: 6, localRank: 0, masterAddr: 'gpu07', masterPort: DEFAULT_MASTER_PORT, source: 'slurm' });
    expect(seen).toEqual(['gpu[07-09]']);
  });

  it('falls back to the job node list, and to MASTER_ADDR/MASTER_PORT set in the batch script', () => {
    expect(
      discoverTopology({ env: { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'a,b' }, slurmHosts: hosts }).masterAddr,
    ).toBe('a');
    const t = discoverTopology({
      env: { SLURM_PROCID: '1', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'a,b', MASTER_ADDR: '10.0.0.5', MASTER_PORT: '40000' },
      slurmHosts: hosts,
    });
    expect([t.masterAddr, t.masterPort, t.source]).toEqual(['10.0.0.5', 40000, 'slurm']);
  });

  it('reads a Kubernetes indexed Job: index, WORLD_SIZE, and pod 0 of the headless Service', () => {
    const t = discoverTopology({
      env: { JOB_COMPLETION_INDEX: '2', WORLD_SIZE: '4', HOSTNAME: 'ringtune-train-2', RINGTUNE_SERVICE: 'ringtune' },
    });
    expect(t).toEqual({
      rank: 2,
      world: 4,
      localRank: 0,
      masterAddr: 'ringtune-train-0.ringtune',
      masterPort: DEFAULT_MASTER_PORT,
      source: 'kubernetes',
    });
  });

  it('prefers flags over torchrun over Slurm over Kubernetes', () => {
    const all = {
      RANK: '1',
      WORLD_SIZE: '4',
      LOCAL_RANK: '1',
      MASTER_ADDR: 'm',
      SLURM_PROCID: '3',
      SLURM_NTASKS: '5',
      SLURM_LOCALID: '2',
      SLURM_JOB_NODELIST: 's1',
      JOB_COMPLETION_INDEX: '0',
      HOSTNAME: 'job-0',
      RINGTUNE_SERVICE: 'svc',
    };
    expect(discoverTopology({ env: all, slurmHosts: hosts })).toMatchObject({ rank: 1, world: 4, localRank: 1, source: 'torchrun' });
    const { RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, ...noTorch } = all;
    expect(discoverTopology({ env: noTorch, slurmHosts: hosts })).toMatchObject({
      rank: 3,
      world: 5,
      localRank: 2,
      masterAddr: 's1',
      source: 'slurm',
    });
    const { SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_JOB_NODELIST, ...k8s } = noTorch;
    expect(() => discoverTopology({ env: k8s })).toThrow(/WORLD_SIZE to its completions/);
    expect(discoverTopology({ env: { ...k8s, WORLD_SIZE: '2' } })).toMatchObject({
      rank: 0,
      world: 2,
      masterAddr: 'job-0.svc',
      source: 'kubernetes',
    });
    const flags = { rank: 0, world: 2, localRank: 0, masterAddr: 'here', masterPort: 5555 };
    expect(discoverTopology({ flags, env: all, slurmHosts: hosts })).toEqual({ ...flags, source: 'flags' });
  });

  it('lets single flags override what the engine says', () => {
    const t = discoverTopology({
      flags: { masterPort: 31000, localRank: 0 },
      env: { SLURM_PROCID: '1', SLURM_NTASKS: '2', SLURM_LOCALID: '1', SLURM_JOB_NODELIST: 'n1' },
      slurmHosts: hosts,
    });
    expect(t).toMatchObject({ rank: 1, localRank: 0, masterPort: 31000, source: 'slurm' });
  });

  it('names what is missing or wrong', () => {
    expect(() => discoverTopology({ env: {} })).toThrow(/no rank: pass --rank/);
    expect(() => discoverTopology({ env: { RANK: '0' } })).toThrow(/no world size: pass --world or set WORLD_SIZE/);
    expect(() => discoverTopology({ env: { RANK: '1', WORLD_SIZE: '2' } })).toThrow(
      /no coordinator address: pass --master-addr or set MASTER_ADDR/,
    );
    expect(() => discoverTopology({ env: { JOB_COMPLETION_INDEX: '1', WORLD_SIZE: '2', HOSTNAME: 'x-1' } })).toThrow(/RINGTUNE_SERVICE/);
    expect(() => discoverTopology({ env: { RANK: 'one', WORLD_SIZE: '2' } })).toThrow(/RANK='one' is not a whole number/);
    expect(() => discoverTopology({ env: { SLURM_PROCID: '0', SLURM_NTASKS: '0' } })).toThrow(/SLURM_NTASKS='0'/);
    expect(() => discoverTopology({ env: { RANK: '2', WORLD_SIZE: '2', MASTER_ADDR: 'm' } })).toThrow(
      /rank 2 is not below the world size 2/,
    );
    expect(() => discoverTopology({ env: { RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'm', MASTER_PORT: '70000' } })).toThrow(/port 70000/);
    expect(() =>
      discoverTopology({ env: { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'x' }, slurmHosts: () => [] }),
    ).toThrow(/node list 'x' expands to no host/);
  });

  it('runs a one-task job on loopback without any address', () => {
    expect(discoverTopology({ flags: { rank: 0, world: 1 }, env: {} })).toMatchObject({
      masterAddr: '127.0.0.1',
      masterPort: DEFAULT_MASTER_PORT,
    });
  });
});

describe('firstSlurmHost', () => {
  it('reads the first host of compressed node lists, keeping zero padding', () => {
    expect(firstSlurmHost('gpu[07-09,12],cpu1')).toBe('gpu07');
    expect(firstSlurmHost('node3')).toBe('node3');
    expect(firstSlurmHost('cpu1,gpu[1-2]')).toBe('cpu1');
    expect(firstSlurmHost('n[5,2-3]')).toBe('n5');
    expect(() => firstSlurmHost('')).toThrow(/cannot read the Slurm node list/);
  });
});

describe('gpuIndex', () => {
  it('follows the local rank unless the engine left one device visible', () => {
    expect(gpuIndex(3, {})).toBe(3);
    expect(gpuIndex(3, { CUDA_VISIBLE_DEVICES: '0,1,2,3' })).toBe(3);
    expect(gpuIndex(3, { CUDA_VISIBLE_DEVICES: '5' })).toBe(0);
    expect(gpuIndex(1, { ROCR_VISIBLE_DEVICES: '2' })).toBe(0);
  });
});

describe('describeTopology', () => {
  it('prints source, rank, world, local rank, the coordinator address and the role', () => {
    const line = describeTopology({ rank: 0, world: 3, localRank: 0, masterAddr: 'vm', masterPort: 29500, source: 'slurm' }, { gpu: 0 });
    expect(line).toBe('ringtune: topology from slurm: rank 0, world 3, local rank 0, coordinator vm:29500, gpu 0 (coordinator + worker)');
  });
});
