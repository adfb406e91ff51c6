/**
 * `npm run bench:compute`: training throughput of the benchmark net (28x28x1, batch 64), and with
 * --resnet18 of resnet18 (64 px, batch 32; `--nets resnet18` for resnet18 alone), on wasm with each kernel set (oneDNN's where installed,
 * ringtune's wasm kernels) and on cpu, PyTorch on one thread side by side with the ratio; then
 * where one step goes, layer by layer against PyTorch's profiler (bench-kernel-table.ts), and the
 * tensor count over many steps. Each net is timed with tf.train.adam (what the kernel table
 * profiles) and as ringtune's worker step (Replica.step with the fused flat Adam): the latter is what
 * a CPU worker runs.
 *
 * Throughput is given twice: per wall second and per CPU second of the process (both runs are
 * single-threaded), since wall time on a shared machine counts other people's work too.
 */
import { spawnSync } from 'child_process';
import { loadavg } from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { selectBackend } from '../worker/backend';
import { registerWasmKernels } from '../worker/kernels';
import { benchNet, trainStepper } from './bench-nets';
import { netOf, replicaStepper } from './bench-gpu-steps';
import type { Net } from '../worker/models';
import { kernelTable, ringtuneProfile, type OpTime, type StepProfile } from './bench-kernel-table';
import { median } from './stats';

interface Result {
  name: string;
  imgS: number;
  cpuImgS: number;
  stepMs: number[];
}

/** One training step run to completion; dispose() frees what it holds. */
interface Steps {
  run(): Promise<number>;
  dispose(): void | Promise<void>;
}

/** The step with tf.train.adam (one elementwise kernel per variable and operation), as a plain tfjs training loop has it. */
const tfAdamStep = (model: tf.LayersModel) => async (batch: number) => trainStepper(model, batch);

/** ringtune's worker step itself (Replica.step: gradients read back in buckets, a one-rank all-reduce, the fused flat Adam). */
const workerStep = (net: Net) => async (batch: number) => {
  const s = await replicaStepper(net, batch);
  return { run: () => s.step(), dispose: () => s.dispose() };
};

async function measure(
  name: string,
  make: (batch: number) => Promise<Steps>,
  batch: number,
  warmup: number,
  steps: number,
): Promise<Result> {
  const step = await make(batch);
  for (let i = 0; i < warmup; i++) await step.run();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await step.run();
    const c = process.cpuUsage(c0);
    wall.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  await step.dispose();
  return { name, imgS: (1000 * batch) / median(wall), cpuImgS: (1000 * batch) / median(cpu), stepMs: wall };
}

interface TorchPeer {
  results: Record<string, { img_s: number; cpu_img_s: number }>;
  profile: Record<string, { step_cpu_ms: number; ops: { name: string; shapes: number[][]; ms: number }[] }>;
}

function torchPeer(warmup: number, steps: number, nets: NetName[]): TorchPeer | string {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'torch not importable (apt-get install -y python3-torch)';
  const script = path.join(__dirname, '..', '..', 'scripts', 'bench_compute_torch.py');
  const args = [script, '--warmup', String(warmup), '--steps', String(steps), '--profile', '--nets', nets.join(',')];
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', timeout: 15 * 60_000 });
  if (r.status !== 0) return `PyTorch peer failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return JSON.parse(r.stdout) as TorchPeer;
}

const load = () => `load average ${loadavg()[0].toFixed(2)} on this machine`;

const NETS = {
  bench: {
    key: 'bench-net 28x28x1 b64',
    batch: 64,
    title: 'benchmark net: 28x28x1, batch 64, conv3x3 32 + 3x(stride-2 conv, conv) to 256, BN+ReLU, GAP, dense 10, softmax CE, Adam',
  },
  resnet18: {
    key: 'resnet18 64px b32',
    batch: 32,
    title: 'resnet18 (ringtune: fastai head; PyTorch: torchvision-style avgpool + linear), 64 px, batch 32',
  },
};

type NetName = keyof typeof NETS;

/** The nets of --nets (and --resnet18), checked. */
function chosenNets(list: string, resnet18: boolean): NetName[] {
  const names = new Set([...list.split(','), ...(resnet18 ? ['resnet18'] : [])]);
  const unknown = [...names].filter((n) => !(n in NETS));
  if (unknown.length > 0 || names.size === 0)
    throw new Error(`--nets: unknown net(s) ${unknown.join(', ')}; expected bench and/or resnet18`);
  return (Object.keys(NETS) as NetName[]).filter((n) => names.has(n));
}

async function resnet18(): Promise<Net> {
  const { buildNet } = await import('../worker/models');
  return buildNet({ arch: 'resnet18', nClasses: 10, size: 64, seed: 1 });
}

function printRuns(title: string, results: Result[], batch: number, peer: { img_s: number; cpu_img_s: number } | undefined): void {
  console.log(`\n${title}`);
  console.log('| run                           | img/s (wall) | img/s (per CPU s) | median step ms | vs PyTorch 1 thread (CPU s) |');
  console.log('|-------------------------------|-------------:|------------------:|---------------:|----------------------------:|');
  const row = (name: string, wall: number, cpuS: number, ms: string, ratio: string) =>
    console.log(
      `| ${name.padEnd(29)} | ${wall.toFixed(1).padStart(12)} | ${cpuS.toFixed(1).padStart(17)} | ${ms.padStart(14)} | ${ratio.padStart(27)} |`,
    );
  for (const r of results)
    row(r.name, r.imgS, r.cpuImgS, median(r.stepMs).toFixed(0), peer ? `${((100 * r.cpuImgS) / peer.cpu_img_s).toFixed(1)}%` : 'n/a');
  if (peer) row('PyTorch, 1 thread', peer.img_s, peer.cpu_img_s, ((1000 * batch) / peer.img_s).toFixed(0), '100%');
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--warmup <n>', 'warm-up steps', '3')
    .option('--steps <n>', 'timed steps (median reported)', '10')
    .option('--cpu-steps <n>', 'timed steps on the cpu backend (0 skips it; ~minutes per step)', '1')
    .option('--leak-steps <n>', 'steps of the tensor-count check', '200')
    .option('--nets <list>', 'comma-separated nets to run: bench (the benchmark net), resnet18 (64 px, batch 32)', 'bench')
    .option('--resnet18', 'also resnet18 (same as --nets bench,resnet18)')
    .parse()
    .opts();
  const nets = chosenNets(String(o.nets), Boolean(o.resnet18));
  const bench = nets.includes('bench');
  const withResnet = nets.includes('resnet18');
  const warmup = Number(o.warmup);
  const steps = Number(o.steps);
  console.log(`start: ${load()}`);

  const chosen = await selectBackend('wasm');
  console.log(`backend: ${chosen.name} (${chosen.reason})`);
  const onednn = registerWasmKernels(true).onednn;
  const sets: [string, boolean][] = onednn
    ? [
        ['wasm + oneDNN kernels', true],
        ['wasm kernels only', false],
      ]
    : [['wasm kernels', false]];
  const runs: Record<string, Result[]> = { bench: [], resnet18: [] };
  const profiles: Record<string, StepProfile> = {};
  const resnetSteps = Math.max(3, Math.ceil(steps / 3));
  for (const [name, useOnednn] of sets) {
    registerWasmKernels(useOnednn);
    if (bench) runs.bench.push(await measure(name, tfAdamStep(benchNet(28, 1)), 64, warmup, steps));
    if (withResnet) runs.resnet18.push(await measure(`${name}, resnet18`, tfAdamStep((await resnet18()).model), 32, 1, resnetSteps));
  }
  registerWasmKernels(true);
  if (bench) runs.bench.push(await measure(`worker step, ${sets[0][0]}`, workerStep(netOf(benchNet(28, 1))), 64, warmup, steps));
  if (withResnet) runs.resnet18.push(await measure(`worker step, ${sets[0][0]}`, workerStep(await resnet18()), 32, 1, resnetSteps));
  registerWasmKernels(true);
  if (bench) profiles.bench = await ringtuneProfile(benchNet(28, 1), 64);
  if (withResnet) profiles.resnet18 = await ringtuneProfile((await resnet18()).model, 32, 1);

  const leakSteps = Number(o.leakSteps);
  const leak = trainStepper(benchNet(28, 1), 8);
  let after2 = 0;
  for (let i = 0; i < leakSteps; i++) {
    await leak.run();
    if (i === 1) after2 = tf.memory().numTensors;
  }
  const afterN = tf.memory().numTensors;
  leak.dispose();

  if (bench && Number(o.cpuSteps) > 0) {
    await selectBackend('cpu');
    runs.bench.push(await measure('cpu (tfjs pure JS)', tfAdamStep(benchNet(28, 1)), 64, 0, Number(o.cpuSteps)));
    await selectBackend('wasm');
  }

  const torch = torchPeer(warmup, steps, nets);
  if (typeof torch === 'string') console.log(`PyTorch peer: ${torch}`);
  const peer = typeof torch === 'string' ? null : torch;
  for (const [net, spec] of Object.entries(NETS))
    if (runs[net].length > 0) printRuns(spec.title, runs[net], spec.batch, peer?.results[spec.key]);
  for (const [net, spec] of Object.entries(NETS)) {
    const theirs = peer?.profile[spec.key];
    if (profiles[net] == null || theirs == null) continue;
    const torchOps: OpTime[] = theirs.ops;
    console.log(`\nwhere one step of ${net === 'bench' ? 'the benchmark net' : 'resnet18'} goes (${sets[0][0]}; CPU ms per step):`);
    const model = net === 'bench' ? benchNet(28, 1) : (await resnet18()).model;
    for (const line of kernelTable(model, spec.batch, profiles[net], { stepMs: theirs.step_cpu_ms, ops: torchOps })) console.log(line);
    model.dispose();
  }
  console.log(
    `\ntensor count on wasm (batch 8): ${after2} after step 2, ${afterN} after step ${leakSteps}: ${after2 === afterN ? 'flat' : 'LEAK'}`,
  );
  console.log(`end: ${load()}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
