/**
 * bench:compute's per-kernel table: CPU ms per training step of each convolution layer (forward,
 * and both gradients together) and of the BatchNorm and ReLU passes, ringtune against PyTorch's
 * profiler on the same shapes, and the rest of the step (optimizer, loss, head, framework).
 *
 * ringtune's side is tf.profile with each kernel timed in CPU time of the process; PyTorch's is its
 * profiler's self time per op, scaled to the step's CPU time (bench_compute_torch.py --profile).
 */
import * as tf from '@tensorflow/tfjs';
import { trainStepper } from './bench-nets';

/** One op's CPU ms per step, with its input shapes (NHWC for ringtune, NCHW for PyTorch). */
export interface OpTime {
  name: string;
  shapes: number[][];
  /** ringtune only: the kernel's (first) output shape. */
  outputShape?: number[];
  ms: number;
}

export interface StepProfile {
  stepMs: number;
  ops: OpTime[];
}

/**
 * CPU ms of every kernel of one training step (the mean of `steps` profiled steps) and of a whole
 * unprofiled step. As on PyTorch's side, the kernels are scaled by the unprofiled step's CPU time
 * over the profiled steps': profiling costs CPU of its own, and on a shared machine the CPU time
 * of the same work drifts from minute to minute, so unscaled kernels could add up to more than the
 * step they are part of.
 */
export async function ringtuneProfile(model: tf.LayersModel, batch: number, steps = 3): Promise<StepProfile> {
  const backend = tf.backend() as unknown as { time(f: () => void): Promise<{ kernelMs: number }> };
  const wallClock = backend.time;
  const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
  backend.time = async (f) => {
    const c0 = process.cpuUsage();
    f();
    return { kernelMs: cpuMs(process.cpuUsage(c0)) };
  };
  try {
    const step = trainStepper(model, batch);
    await step.run();
    const c0 = process.cpuUsage();
    for (let i = 0; i < steps; i++) await step.run();
    const stepMs = cpuMs(process.cpuUsage(c0)) / steps;
    const kernels: Awaited<ReturnType<typeof tf.profile>>['kernels'] = [];
    const p0 = process.cpuUsage();
    for (let i = 0; i < steps; i++) kernels.push(...(await tf.profile(() => step.run())).kernels);
    const scale = stepMs / (cpuMs(process.cpuUsage(p0)) / steps);
    step.dispose();
    const ops = kernels.map((k) => ({
      name: k.name,
      shapes: k.inputShapes.map((s) => s ?? []),
      outputShape: k.outputShapes[0],
      ms: ((k.kernelTimeMs as number) * scale) / steps,
    }));
    return { stepMs, ops };
  } finally {
    backend.time = wallClock;
  }
}

/** A conv layer as both sides can match it: kernel size, channels in and out, output size (with its stride and count). */
interface ConvLayer {
  k: number;
  cin: number;
  cout: number;
  oh: number;
  ow: number;
  s: number;
  n: number;
}

const label = (l: ConvLayer) =>
  `conv ${l.k}x${l.k}${l.s > 1 ? '/2' : ''} ${l.cin}->${l.cout} to ${l.oh}x${l.ow}${l.n > 1 ? ` (${l.n} layers)` : ''}`;

/** The model's distinct conv layers, in order. */
function convLayers(model: tf.LayersModel): ConvLayer[] {
  const found = new Map<string, ConvLayer>();
  for (const l of model.layers) {
    if (l.getClassName() !== 'Conv2D') continue;
    const [k, , cin, cout] = l.getWeights()[0].shape;
    const [, oh, ow] = l.outputShape as number[];
    const s = (l as unknown as { strides: number[] }).strides[0];
    const key = [k, cin, cout, oh, ow].join();
    const seen = found.get(key);
    if (seen) seen.n++;
    else found.set(key, { k, cin, cout, oh, ow, s, n: 1 });
  }
  return [...found.values()];
}

const same = (a: number[] | undefined, b: number[]) => a != null && a.length === b.length && a.every((d, i) => d === b[i]);

/** The ms of the ops `pick` takes; each taken op goes into `taken` where given. */
function sum(ops: OpTime[], pick: (o: OpTime) => boolean, taken?: Set<OpTime>): number {
  const picked = ops.filter(pick);
  for (const o of picked) taken?.add(o);
  return picked.reduce((t, o) => t + o.ms, 0);
}

/** ringtune's kernels that no row took, by name, biggest first: what "everything else" is made of. */
function unclaimed(ops: OpTime[], taken: Set<OpTime>, count: number): string {
  const byName = new Map<string, number>();
  // tf.profile also times customGrad ops (fusedConv2d__op, ...) around the kernels they run: counted there.
  for (const o of ops) if (!taken.has(o) && !o.name.endsWith('__op')) byName.set(o.name, (byName.get(o.name) ?? 0) + o.ms);
  return [...byName.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => `${name} ${ms.toFixed(1)}`)
    .join(', ');
}

/** Rows of the table (markdown), conv layers first. */
export function kernelTable(model: tf.LayersModel, batch: number, ours: StepProfile, torch: StepProfile): string[] {
  const rows: [string, number, number, number][] = [];
  const taken = new Set<OpTime>();
  const claimed = { ours: 0, torch: 0 };
  const add = (name: string, a: number, b: number, flops = 0) => {
    rows.push([name, a, b, flops]);
    claimed.ours += a;
    claimed.torch += b;
  };
  for (const l of convLayers(model)) {
    const f = [l.k, l.k, l.cin, l.cout];
    const out = (shape: number[] | undefined) => shape != null && shape[1] === l.oh && shape[2] === l.ow && shape[3] === l.cout;
    const fwd = sum(ours.ops, (o) => ['FusedConv2D', 'Conv2D'].includes(o.name) && same(o.shapes[1], f) && out(o.outputShape), taken);
    const bwd =
      sum(
        ours.ops,
        (o) => o.name === 'Conv2DBackpropFilter' && o.shapes[0]?.[3] === l.cin && out(o.shapes[1]) && same(o.outputShape, f),
        taken,
      ) + sum(ours.ops, (o) => o.name === 'Conv2DBackpropInput' && out(o.shapes[0]) && same(o.shapes[1], f), taken);
    const tw = [l.cout, l.cin, l.k, l.k];
    // PyTorch's convs pad k // 2 on each side.
    const torchOut = (x: number[] | undefined) =>
      x != null &&
      Math.floor((x[2] + 2 * Math.floor(l.k / 2) - l.k) / l.s) + 1 === l.oh &&
      Math.floor((x[3] + 2 * Math.floor(l.k / 2) - l.k) / l.s) + 1 === l.ow;
    const tFwd = sum(torch.ops, (o) => o.name === 'aten::mkldnn_convolution' && same(o.shapes[1], tw) && torchOut(o.shapes[0]));
    const tBwd = sum(
      torch.ops,
      (o) => o.name === 'aten::convolution_backward' && same(o.shapes[2], tw) && o.shapes[0]?.[2] === l.oh && o.shapes[0]?.[3] === l.ow,
    );
    const flops = 2 * batch * l.oh * l.ow * l.cout * l.k * l.k * l.cin * l.n;
    add(`${label(l)} forward`, fwd, tFwd, flops);
    add(`${label(l)} dx + dW`, bwd, tBwd, 2 * flops);
  }
  const groups: [string, string[], string[]][] = [
    [
      'BatchNorm forward (all layers)',
      ['RingtuneBatchNorm', 'FusedBatchNorm', 'Mean', 'Square', 'SquaredDifference'],
      ['aten::native_batch_norm'],
    ],
    ['BatchNorm backward (all layers)', ['RingtuneBatchNormGrad'], ['aten::native_batch_norm_backward']],
    ['ReLU forward', ['Relu'], ['aten::clamp_min_', 'aten::relu_', 'aten::clamp_min']],
    ['ReLU backward', ['RingtuneReluGrad', 'Step'], ['aten::threshold_backward']],
  ];
  for (const [name, ourNames, torchNames] of groups)
    add(
      name,
      sum(ours.ops, (o) => ourNames.includes(o.name), taken),
      sum(torch.ops, (o) => torchNames.includes(o.name)),
    );
  rows.push(['everything else (optimizer, loss, head, framework)', ours.stepMs - claimed.ours, torch.stepMs - claimed.torch, 0]);
  rows.push(['whole step', ours.stepMs, torch.stepMs, 0]);
  const ratio = (a: number, b: number) => (b > 0.05 ? `${(a / b).toFixed(2)}x` : '');
  const speed = (ms: number, flops: number) => (flops > 0 && ms > 0 ? (flops / ms / 1e6).toFixed(1) : '');
  const cells = (c: string[]) =>
    `| ${c[0].padEnd(52)} | ${c
      .slice(1)
      .map((v, i) => v.padStart([15, 14, 18, 16, 15][i]))
      .join(' | ')} |`;
  return [
    cells(['part of one training step', 'ringtune CPU ms', 'PyTorch CPU ms', 'ringtune / PyTorch', 'ringtune GFLOP/s', 'PyTorch GFLOP/s']),
    `|${'-'.repeat(54)}|----------------:|---------------:|-------------------:|-----------------:|----------------:|`,
    ...rows.map(([name, a, b, f]) => cells([name, a.toFixed(1), b.toFixed(1), ratio(a, b), speed(a, f), speed(b, f)])),
    `ringtune's "everything else", biggest kernels (CPU ms per step): ${unclaimed(ours.ops, taken, 8)}`,
  ];
}
