/**
 * Optimizer step benchmark: ringtune's FlatAdam (fused fastai Adam over one Float32Array, with the
 * pass workers run: the oneDNN addon's where it loads) against its JS pass, the same steppers run
 * one after another, and TensorFlow.js's own Adam (tf.train.adam, one variable per layer-sized
 * chunk) on the wasm and cpu backends. Same parameter counts, same number of steps; prints ms per
 * step and each peer's time as a multiple of ringtune's.
 *
 *   npm run bench:optim -- --sizes 1,10,25 --steps 20
 */
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { adamLoop, adamStep, averageGrad, averageSqrGrad, FlatAdam, Segment, weightDecay, type AdamLoop } from '../shared/optim';
import { Rng } from '../shared/rng';
import { selectBackend } from '../worker/backend';
import { nativeAdamLoop } from '../worker/kernels/onednn-adam';

const SEGMENT = 250_000; // a layer-sized chunk: resnet34 has ~100 tensors of mean size ~200k

function layout(n: number): Segment[] {
  const segs: Segment[] = [];
  for (let off = 0, k = 0; off < n; off += SEGMENT, k++)
    segs.push({ offset: off, length: Math.min(SEGMENT, n - off), group: k % 3, decay: k % 4 !== 3 });
  return segs;
}

function randomArray(n: number, rng: Rng, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.next() - 0.5) * scale;
  return a;
}

/** Mean ms per call of `step` after `warm` untimed calls. */
function time(step: () => void, steps: number, warm = 3): number {
  for (let i = 0; i < warm; i++) step();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) step();
  return Number(process.hrtime.bigint() - t0) / 1e6 / steps;
}

const hypers = [0, 1, 2].map((g) => ({ lr: 1e-3 * (g + 1), mom: 0.9, sqrMom: 0.99, eps: 1e-5, wd: 0.01 }));

function benchFlat(n: number, steps: number, loop: AdamLoop): number {
  const rng = new Rng(1);
  const p = randomArray(n, rng, 1),
    g = randomArray(n, rng, 0.1);
  const opt = new FlatAdam(layout(n), loop);
  return time(() => opt.step(p, g, hypers), steps);
}

function benchChain(n: number, steps: number): number {
  const rng = new Rng(1);
  const p = randomArray(n, rng, 1),
    g = randomArray(n, rng, 0.1),
    m = new Float32Array(n),
    v = new Float32Array(n);
  const segs = layout(n);
  let t = 0;
  return time(() => {
    t++;
    for (const s of segs) {
      const h = hypers[s.group];
      if (s.decay) weightDecay(p, s.offset, s.length, h.lr, h.wd);
      averageGrad(m, g, s.offset, s.length, h.mom);
      averageSqrGrad(v, g, s.offset, s.length, h.sqrMom);
      adamStep(p, m, v, s.offset, s.length, h, t);
    }
  }, steps);
}

async function benchTf(backend: 'wasm' | 'cpu', n: number, steps: number): Promise<number> {
  await selectBackend(backend);
  const rng = new Rng(1);
  const vars = layout(n).map((s, i) => tf.variable(tf.tensor1d(randomArray(s.length, rng, 1)), true, `p${i}`));
  const grads = vars.map((v) => ({ name: v.name, tensor: tf.tensor1d(randomArray(v.shape[0], rng, 0.1)) }));
  const opt = tf.train.adam(1e-3, 0.9, 0.99, 1e-5);
  const ms = time(
    () => {
      opt.applyGradients(grads);
      tf.backend().readSync(vars[vars.length - 1].dataId); // wait for the step to finish
    },
    steps,
    2,
  );
  opt.dispose();
  tf.dispose([...vars, ...grads.map((x) => x.tensor)]);
  return ms;
}

async function main(): Promise<void> {
  const o = new Command('bench-optim')
    .option('--sizes <millions>', 'parameter counts in millions, comma-separated', (v) => v.split(',').map(Number), [1, 10, 25])
    .option('--steps <n>', 'timed steps per size', Number, 20)
    .option('--no-tf', 'skip the tfjs peers')
    .parse(process.argv)
    .opts<{ sizes: number[]; steps: number; tf: boolean }>();
  if (!o.sizes.every((s) => s > 0) || !(o.steps >= 1)) throw new Error('--sizes must be positive numbers and --steps >= 1');
  const native = nativeAdamLoop();
  console.log(
    `ringtune: FlatAdam with ${native ? "the oneDNN addon's pass (what workers run)" : 'the JS pass (the oneDNN addon is not loaded)'}`,
  );
  const cols = ['params', 'ringtune ms', 'JS pass ms', 'x', 'chain ms', 'x', 'tf-wasm ms', 'x', 'tf-cpu ms', 'x'];
  console.log(cols.map((c) => c.padStart(12)).join(''));
  for (const mil of o.sizes) {
    const n = Math.round(mil * 1e6);
    const flat = benchFlat(n, o.steps, native ?? adamLoop);
    const js = native ? benchFlat(n, o.steps, adamLoop) : flat;
    const chain = benchChain(n, o.steps);
    const wasm = o.tf ? await benchTf('wasm', n, Math.max(1, Math.round(o.steps / 4))) : NaN;
    const cpu = o.tf ? await benchTf('cpu', n, Math.max(1, Math.round(o.steps / 4))) : NaN;
    const cells = [
      `${mil}M`,
      flat.toFixed(2),
      js.toFixed(2),
      (js / flat).toFixed(2),
      chain.toFixed(2),
      (chain / flat).toFixed(2),
      wasm.toFixed(2),
      (wasm / flat).toFixed(2),
      cpu.toFixed(2),
      (cpu / flat).toFixed(2),
    ];
    console.log(cells.map((c) => c.padStart(12)).join(''));
  }
  console.log(
    'x = peer time / ringtune time (higher is better for ringtune). tf.train.adam is PyTorch-style Adam (no weight decay), so it does slightly less work.',
  );
}

main().catch((e) => {
  console.error(`bench-optim: ${(e as Error).message}`);
  process.exit(1);
});
