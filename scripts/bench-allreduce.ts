/**
 * All-reduce benchmark: ringtune's ring (one Node process per rank) against PyTorch gloo and
 * Open MPI (TCP only, and with shared memory) in the same run, on this host, same sizes, same
 * iteration counts. Prints time, algbw and busbw (nccl-tests definitions) and ringtune's ratio to
 * each peer (peer time / ringtune time: above 1 means ringtune is faster), plus CPU milliseconds
 * per all-reduce summed over all ranks and threads, which explains most gaps on a busy 2-core box.
 * Peers that are not installed are skipped, so it also runs ringtune alone.
 *
 *   npm run bench:allreduce -- --ranks 2,4 --sizes 1,16,100
 *   npm run bench:allreduce -- --hosts 2 --per-host 2 --sizes 16,100   # across simulated hosts (bench-allreduce-hosts.ts)
 */
import { spawn, spawnSync } from 'child_process';
import { Command } from 'commander';
import { join } from 'path';
import { addIntoJs, addIntoWasm, hasWasmSimd } from '../worker/reduce/add';
import { RingPeerGroup } from '../test/helpers/ring-peer-group';
import { shmNative } from '../worker/shm/native';
import { WIRE_NAMES, type WireName } from '../worker/ring/frame';
import { freePort } from '../test/helpers/cluster-daemons';
import { benchAcrossHosts } from './bench-allreduce-hosts';
import {
  benchGroup,
  measureRounds,
  printResults,
  row,
  collectJsonLines,
  GLOO_SCRIPT,
  MIB,
  PEER_TIMEOUT_MS,
  pyArgs,
  pyEnv,
  PYTHON,
  type Timings,
} from './allreduce-bench-parts';

interface Options {
  ranks: number[];
  sizes: number[];
  chunkBytes: number;
  transport: string[];
  wire: WireName;
  peers: boolean;
  add: boolean;
  shmSpins?: number;
  shmBlock?: number;
  hosts?: number;
  perHost: number;
  rounds: number;
  linkMbit?: number;
}

function parseList(flag: string, ok: (x: number) => boolean, what: string) {
  return (v: string): number[] => {
    const xs = v.split(',').map(Number);
    if (!xs.length || !xs.every(ok)) throw new Error(`${flag}: expected a comma-separated list of ${what}, got "${v}"`);
    return xs;
  };
}

type Transport = 'shm' | 'ipc' | 'tcp';

async function runRingtune(world: number, transport: Transport, o: Options): Promise<Timings> {
  const shm =
    transport === 'shm'
      ? {
          name: `/ringtune-bench-${process.pid}-${world}`,
          capacity: Math.floor((Math.max(...o.sizes) * MIB) / 4),
          spins: o.shmSpins,
          blockFloats: o.shmBlock,
        }
      : undefined;
  const ring = { transport: transport === 'shm' ? ('auto' as const) : transport, chunkBytes: o.chunkBytes, wire: o.wire, timeoutMs: 60000 };
  return benchGroup(await RingPeerGroup.start(world, ring, PEER_TIMEOUT_MS, shm), o.sizes);
}

async function runGloo(world: number, o: Options): Promise<Timings> {
  const port = await freePort();
  const procs = Array.from({ length: world }, (_, rank) =>
    spawn(PYTHON, [GLOO_SCRIPT, ...pyArgs(o.sizes)], {
      env: {
        ...pyEnv,
        RANK: String(rank),
        WORLD_SIZE: String(world),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        GLOO_SOCKET_IFNAME: 'lo',
      },
    }),
  );
  return collectJsonLines(procs, 'gloo benchmark');
}

function runMpi(world: number, o: Options, btl: string): Promise<Timings> {
  const script = join(__dirname, '..', '..', 'scripts', 'bench_allreduce_mpi.py');
  const args = [
    '--allow-run-as-root',
    '--oversubscribe',
    '-n',
    String(world),
    '--mca',
    'pml',
    'ob1',
    '--mca',
    'btl',
    btl,
    '--mca',
    'btl_tcp_if_include',
    'lo',
    PYTHON,
    script,
    ...pyArgs(o.sizes),
  ];
  return collectJsonLines([spawn('mpirun', args, { env: pyEnv })], `mpirun (btl ${btl})`);
}

function available(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore', timeout: 60000 }).status === 0;
}

/** One-core memory copy bandwidth (bytes copied per second) over a 100 MiB buffer. */
function memcpyGBs(): number {
  const a = new Float32Array((100 * MIB) / 4).fill(1);
  const b = new Float32Array(a.length);
  b.set(a);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 5; i++) b.set(a);
  return (5 * a.byteLength) / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e9;
}

/** Summation speed of one 1 MiB chunk (dst += src), JS loop vs wasm SIMD vs the shm addon's C++, in GB/s of src. */
function addBench(): void {
  const n = MIB / 4;
  const dst = new Float32Array(n).fill(1);
  const src = new Uint8Array(new Float32Array(n).fill(1e-7).buffer);
  const kernels: [string, (d: Float32Array, s: Uint8Array) => void][] = [['js loop', addIntoJs]];
  if (hasWasmSimd()) kernels.push(['wasm simd', addIntoWasm]);
  const native = shmNative().native;
  const srcFloats = new Float32Array(src.buffer, src.byteOffset, n);
  if (native) kernels.push(['native c++', (d) => native.sumInto(d, [d, srcFloats], 1)]);
  for (const [name, f] of kernels) {
    for (let i = 0; i < 20; i++) f(dst, src);
    const reps = 500;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) f(dst, src);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`add ${name.padEnd(10)} ${((reps * src.byteLength) / s / 1e9).toFixed(2)} GB/s (1 MiB chunk, dst += src)`);
  }
}

async function main(): Promise<void> {
  const o = new Command()
    .description('ringtune all-reduce vs gloo and Open MPI on this host')
    .option(
      '--ranks <list>',
      'ranks to run, comma-separated',
      parseList('--ranks', (x) => Number.isInteger(x) && x >= 2, 'integers >= 2'),
      [2, 4],
    )
    .option(
      '--sizes <list>',
      'buffer sizes in MiB, comma-separated',
      parseList('--sizes', (x) => x > 0, 'positive sizes in MiB'),
      [1, 16, 100],
    )
    .option('--chunk-bytes <n>', 'ringtune frame size in bytes', (v) => Number(v), MIB)
    .option(
      '--transport <list>',
      'ringtune transports, comma-separated: shm (shared memory), ipc and tcp (ZeroMQ ring); the first is the one ratios refer to',
      (v) => v.split(','),
      ['shm', 'ipc'],
    )
    .option('--wire <dtype>', `ringtune ring payload encoding: ${WIRE_NAMES.join(', ')} (shm moves fp32 in place)`, 'f32')
    .option('--shm-spins <n>', 'shm: busy-wait iterations before sleeping (default: by cores)', (v) => Number(v))
    .option('--shm-block <floats>', 'shm: floats per pipelined block (default: by cores)', (v) => Number(v))
    .option('--hosts <n>', 'simulate this many hosts (network namespaces; root): hierarchical vs flat ring vs gloo', (v) => Number(v))
    .option('--per-host <n>', 'with --hosts: ranks per host', (v) => Number(v), 2)
    .option('--link-mbit <n>', "with --hosts: rate-limit each host's link (Mbit/s)", (v) => Number(v))
    .option('--rounds <n>', 'run every implementation this many times, interleaved, and print the medians', (v) => Number(v), 1)
    .option('--no-peers', 'run ringtune alone')
    .option('--add', 'also measure the summation kernels')
    .parse(process.argv)
    .opts<Options>();
  const bad = o.transport.find((t) => !['shm', 'ipc', 'tcp'].includes(t));
  if (bad !== undefined) throw new Error(`--transport: expected shm, ipc or tcp, got ${bad}`);
  const shm = shmNative();
  const transports = o.transport.filter((t) => t !== 'shm' || shm.native) as Transport[];
  if (transports.length < o.transport.length) console.log(`shm transport skipped: ${shm.reason}`);
  if (!transports.length) throw new Error('--transport: nothing left to run');
  if (!(WIRE_NAMES as readonly string[]).includes(o.wire)) throw new Error(`--wire must be one of ${WIRE_NAMES.join(', ')}, got ${o.wire}`);
  if (!(o.chunkBytes >= 4)) throw new Error(`--chunk-bytes must be at least 4, got ${o.chunkBytes}`);

  if (!(Number.isInteger(o.rounds) && o.rounds >= 1)) throw new Error(`--rounds must be a whole number >= 1, got ${o.rounds}`);
  if (o.hosts !== undefined) {
    if (!(Number.isInteger(o.hosts) && o.hosts >= 2)) throw new Error(`--hosts must be a whole number >= 2, got ${o.hosts}`);
    if (!(Number.isInteger(o.perHost) && o.perHost >= 1)) throw new Error(`--per-host must be a whole number >= 1, got ${o.perHost}`);
    if (o.linkMbit !== undefined && !(o.linkMbit > 0)) throw new Error(`--link-mbit must be positive, got ${o.linkMbit}`);
    const gloo = o.peers && available(PYTHON, ['-c', 'import torch.distributed']);
    return benchAcrossHosts({ ...o, hosts: o.hosts, gloo });
  }
  if (o.add) addBench();
  const gloo = o.peers && available(PYTHON, ['-c', 'import torch.distributed']);
  const mpi = o.peers && available('mpirun', ['--version']) && available(PYTHON, ['-c', 'import mpi4py, numpy']);
  const copy = memcpyGBs();
  console.log(
    `ringtune transports ${transports.join(', ')}, wire ${o.wire}, chunk ${o.chunkBytes} B; memcpy (one core) ${copy.toFixed(1)} GB/s; ` +
      `peers: gloo ${gloo ? 'yes' : 'absent'}, Open MPI ${mpi ? 'yes' : 'absent'}`,
  );
  console.log(row(['ranks', 'size', 'impl', 'time ms', 'algbw GB/s', 'busbw GB/s', 'cpu ms', 'ringtune speedup']));

  for (const world of o.ranks) {
    const runs: [string, () => Promise<Timings>][] = transports.map((t) => [`ringtune (${t})`, () => runRingtune(world, t, o)]);
    if (gloo) runs.push(['gloo (tcp)', () => runGloo(world, o)]);
    if (mpi) runs.push(['open mpi (tcp)', () => runMpi(world, o, 'tcp,self')], ['open mpi (shm)', () => runMpi(world, o, 'vader,self')]);
    const results = await measureRounds(runs, o.rounds);
    printResults(world, world, o.sizes, results, (bw: number) => `(busbw ${(bw / copy).toFixed(2)} of memcpy)`);
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
