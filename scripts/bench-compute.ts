/**
 * `npm run bench:compute`: training throughput of the benchmark net (28x28x1, batch 64) on wasm
 * (ringtune's kernels) and cpu, PyTorch on one thread side by side, the ratio, the time and
 * GFLOP/s of the heavy kernels, and the tensor count over many steps.
 *
 * Throughput is given twice: per wall second and per CPU second of the process (both runs are
 * single-threaded), since wall time on a shared machine counts other people's work too.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { selectBackend } from '../worker/backend';
import { benchNet, convFlops, trainStepper } from './bench-nets';

interface Result {
  name: string;
  imgS: number;
  cpuImgS: number;
  stepMs: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function measure(name: string, model: tf.LayersModel, batch: number, warmup: number, steps: number): Promise<Result> {
  const step = trainStepper(model, batch);
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
  step.dispose();
  return { name, imgS: (1000 * batch) / median(wall), cpuImgS: (1000 * batch) / median(cpu), stepMs: wall };
}

function torchPeer(warmup: number, steps: number, resnet18: boolean): Record<string, { img_s: number; cpu_img_s: number }> | string {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'torch not importable (apt-get install -y python3-torch)';
  const script = path.join(__dirname, '..', '..', 'scripts', 'bench_compute_torch.py');
  const args = [script, '--warmup', String(warmup), '--steps', String(steps), ...(resnet18 ? ['--resnet18'] : [])];
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', timeout: 15 * 60_000 });
  if (r.status !== 0) return `PyTorch peer failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return JSON.parse(r.stdout).results;
}

/** Time per kernel over one step, with GFLOP/s for the convolution kernels. */
async function kernelTable(model: tf.LayersModel, batch: number): Promise<string[]> {
  const step = trainStepper(model, batch);
  await step.run();
  const flops = convFlops(model, batch);
  const prof = await tf.profile(() => step.run());
  step.dispose();
  const agg = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const a = agg.get(k.name) ?? { ms: 0, n: 0 };
    a.ms += k.kernelTimeMs as number;
    a.n++;
    agg.set(k.name, a);
  }
  const rows = [...agg].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14);
  return rows.map(([name, { ms, n }]) => {
    const f = flops[name as keyof typeof flops];
    const gf = f ? `${(f / ms / 1e6).toFixed(1)} GFLOP/s` : '';
    return `| ${name.padEnd(36)} | ${String(n).padStart(4)} | ${ms.toFixed(1).padStart(9)} | ${gf.padStart(14)} |`;
  });
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--warmup <n>', 'warm-up steps', '3')
    .option('--steps <n>', 'timed steps (median reported)', '10')
    .option('--cpu-steps <n>', 'timed steps on the cpu backend (0 skips it; ~minutes per step)', '1')
    .option('--leak-steps <n>', 'steps of the tensor-count check', '200')
    .option('--resnet18', 'also resnet18 at 64 px, batch 32 (needs worker/models)')
    .parse()
    .opts();
  const warmup = Number(o.warmup);
  const steps = Number(o.steps);
  const results: Result[] = [];

  const chosen = await selectBackend('wasm');
  console.log(`backend: ${chosen.name} (${chosen.reason})`);
  results.push(await measure('wasm (ringtune kernels)', benchNet(28, 1), 64, warmup, steps));
  const kernels = await kernelTable(benchNet(28, 1), 64);

  let resnet: Result | null = null;
  if (o.resnet18) {
    const { buildNet } = await import('../worker/models');
    const net = await buildNet({ arch: 'resnet18', nClasses: 10, size: 64, seed: 1 });
    resnet = await measure('wasm resnet18 64px b32', net.model, 32, 1, Math.max(3, Math.ceil(steps / 3)));
  }

  const leakSteps = Number(o.leakSteps);
  const leak = trainStepper(benchNet(28, 1), 8);
  let after2 = 0;
  for (let i = 0; i < leakSteps; i++) {
    await leak.run();
    if (i === 1) after2 = tf.memory().numTensors;
  }
  const afterN = tf.memory().numTensors;
  leak.dispose();

  if (Number(o.cpuSteps) > 0) {
    await selectBackend('cpu');
    results.push(await measure('cpu (tfjs pure JS)', benchNet(28, 1), 64, 0, Number(o.cpuSteps)));
    await selectBackend('wasm');
  }

  const torch = torchPeer(warmup, steps, Boolean(o.resnet18));
  const peer = typeof torch === 'string' ? null : torch['bench-net 28x28x1 b64'];
  console.log('\nbenchmark net: 28x28x1, batch 64, conv3x3 32 + 3x(stride-2 conv, conv) to 256, BN+ReLU, GAP, dense 10, softmax CE, Adam');
  console.log('| run                           | img/s (wall) | img/s (per CPU s) | median step ms | vs PyTorch 1 thread (CPU s) |');
  console.log('|-------------------------------|-------------:|------------------:|---------------:|----------------------------:|');
  const row = (name: string, wall: number, cpuS: number, ms: string, ratio: string) =>
    console.log(
      `| ${name.padEnd(29)} | ${wall.toFixed(1).padStart(12)} | ${cpuS.toFixed(1).padStart(17)} | ${ms.padStart(14)} | ${ratio.padStart(27)} |`,
    );
  for (const r of results) {
    row(r.name, r.imgS, r.cpuImgS, median(r.stepMs).toFixed(0), peer ? `${((100 * r.cpuImgS) / peer.cpu_img_s).toFixed(1)}%` : 'n/a');
  }
  if (peer) row('PyTorch, 1 thread', peer.img_s, peer.cpu_img_s, (64000 / peer.img_s).toFixed(0), '100%');
  else console.log(`PyTorch peer: ${torch}`);
  if (resnet) {
    const rp = typeof torch === 'string' ? null : torch['resnet18 64px b32'];
    console.log('\nresnet18 (ringtune: fastai head; PyTorch: torchvision-style avgpool + linear), 64 px, batch 32');
    row(
      resnet.name,
      resnet.imgS,
      resnet.cpuImgS,
      median(resnet.stepMs).toFixed(0),
      rp ? `${((100 * resnet.cpuImgS) / rp.cpu_img_s).toFixed(1)}%` : 'n/a',
    );
    if (rp) row('PyTorch resnet18, 1 thread', rp.img_s, rp.cpu_img_s, (32000 / rp.img_s).toFixed(0), '100%');
  }
  console.log('\nwhere one wasm step of the benchmark net goes (tf.profile; nested kernels are also counted inside their parent):');
  console.log(`| ${'kernel'.padEnd(36)} | ${'n'.padStart(4)} | ${'ms'.padStart(9)} | ${'speed'.padStart(14)} |`);
  for (const line of kernels) console.log(line);
  console.log(
    `\ntensor count on wasm (batch 8): ${after2} after step 2, ${afterN} after step ${leakSteps}: ${after2 === afterN ? 'flat' : 'LEAK'}`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
