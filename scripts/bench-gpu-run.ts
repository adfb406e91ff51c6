/**
 * One bench:gpu variant in its own process (Dawn flags are fixed per process, and stock vs
 * ringtune kernels should not share shader caches): training img/s of each net, where one step's
 * time goes (tf.profile kernel time against wall time), and the tensor count across steps.
 */
import * as tf from '@tensorflow/tfjs';
import { releaseBackend, selectBackend } from '../worker/backend';
import { restoreStockWebgpuKernels, webgpuFlags } from '../worker/kernels/webgpu';
import { FlatAdam, type Segment } from '../shared/optim';
import { buildNet } from '../worker/models';
import { benchNet } from './bench-nets';

/** What a variant changes: ringtune's kernels or stock ones, the step's optimizer path, Dawn flags. */
export interface VariantSpec {
  kernels: boolean;
  /** 'tf-adam': tf.train.adam on the GPU (per-variable ops); 'flat': ringtune's worker step (one gradient read-back, FlatAdam on the CPU, one upload). */
  step: 'tf-adam' | 'flat';
  dawn: string[];
}

/** The variants bench:gpu knows. */
export const VARIANTS: Record<string, VariantSpec> = {
  stock: { kernels: false, step: 'tf-adam', dawn: [] },
  'ringtune-kernels': { kernels: true, step: 'tf-adam', dawn: [] },
  ringtune: { kernels: true, step: 'flat', dawn: [] },
  'ringtune+toggles': { kernels: true, step: 'flat', dawn: ['enable-dawn-features=skip_validation,disable_robustness'] },
};

/** Sizes of the two benchmark nets (smaller ones make a quick wiring run). */
export interface NetSizes {
  cnnSize: number;
  cnnBatch: number;
  mobilenetSize: number;
  mobilenetBatch: number;
}

/** One net's numbers under one variant. */
export interface NetResult {
  net: string;
  batch: number;
  imgS: number;
  stepMs: number[];
  /** One step timed apart: wall ms, GPU ms its dispatches took (tf.time), kernels dispatched, the costliest kernels (tf.profile). */
  profile: { wallMs: number; kernelMs: number | null; kernels: number; top: { name: string; n: number; ms: number }[] };
  tensorsFlat: boolean;
}

/**
 * A training step split where tfjs can time it: `dispatch` runs synchronously and issues all of
 * the step's GPU work (tf.time sees exactly those dispatches); `finish` awaits the read-backs.
 */
interface Stepper {
  dispatch(): tf.Tensor[];
  finish(read: tf.Tensor[]): Promise<void>;
  dispose(): void;
}

function batchOf(model: tf.LayersModel, batch: number) {
  const x = tf.randomNormal([batch, ...(model.inputs[0].shape.slice(1) as number[])], 0, 1, 'float32', 7);
  const labels = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 8) as tf.Tensor1D, 10));
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const loss = () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
  return {
    x,
    labels,
    vars,
    loss,
    dispose: () => {
      tf.dispose([x, labels]);
      model.dispose();
    },
  };
}

/** Stock tfjs training: tf.train.adam updates every variable on the GPU (per-variable ops); the loss is read back. */
function tfAdamStepper(model: tf.LayersModel, batch: number): Stepper {
  const b = batchOf(model, batch);
  const opt = tf.train.adam(1e-3);
  return {
    dispatch: () => [opt.minimize(b.loss, true, b.vars)!],
    async finish([loss]) {
      await loss.data();
      loss.dispose();
    },
    dispose() {
      opt.dispose();
      b.dispose();
    },
  };
}

/** ringtune's worker step: grads -> one flat read-back -> FlatAdam on the CPU -> one upload, split on the device. */
async function flatStepper(model: tf.LayersModel, batch: number): Promise<Stepper> {
  const b = batchOf(model, batch);
  const segments: Segment[] = [];
  let offset = 0;
  for (const v of b.vars) {
    segments.push({ offset, length: v.size, group: 0, decay: true });
    offset += v.size;
  }
  const params = new Float32Array(offset);
  for (let i = 0; i < b.vars.length; i++) params.set((await b.vars[i].data()) as Float32Array, segments[i].offset);
  const adam = new FlatAdam(segments);
  let uploaded = false;
  const upload = () =>
    tf.tidy(() => {
      const parts = tf.split(
        tf.tensor1d(params),
        b.vars.map((v) => v.size),
      );
      parts.forEach((p, i) => b.vars[i].assign(tf.reshape(p, b.vars[i].shape)));
    });
  return {
    // The previous step's upload opens this one, so every GPU dispatch of a step is in dispatch().
    dispatch() {
      if (uploaded) upload();
      const { value, grads } = tf.variableGrads(b.loss, b.vars);
      const flat = tf.tidy(() => tf.concat(b.vars.map((v) => tf.reshape(grads[v.name], [-1]))));
      tf.dispose(Object.values(grads));
      return [value, flat];
    },
    async finish([loss, flat]) {
      const [, g] = await Promise.all([loss.data(), flat.data()]);
      tf.dispose([loss, flat]);
      adam.step(params, g as Float32Array, [{ lr: 1e-3, mom: 0.9 }]);
      uploaded = true;
    },
    dispose: b.dispose,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const run = async (step: Stepper) => step.finish(step.dispatch());

/** Kernel names that only wrap other kernels (ringtune's composites, tfjs custom-gradient scopes): tf.profile counts their inner kernels too. */
const COMPOSITE = new Set(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter']);

async function whereTimeGoes(step: Stepper, composites: boolean): Promise<NetResult['profile']> {
  const t0 = performance.now();
  let read: tf.Tensor[] = [];
  const timing = await tf.time(() => {
    read = step.dispatch();
  });
  await step.finish(read);
  const wallMs = performance.now() - t0;
  const kernelMs = typeof timing.kernelMs === 'number' ? timing.kernelMs : null; // null: no timestamp queries
  const prof = await tf.profile(() => run(step));
  const agg = new Map<string, { n: number; ms: number }>();
  let kernels = 0;
  for (const k of prof.kernels) {
    if (k.name.endsWith('__op') || k.name === 'Identity' || (composites && COMPOSITE.has(k.name))) continue;
    kernels++;
    const a = agg.get(k.name) ?? { n: 0, ms: 0 };
    a.n++;
    a.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    agg.set(k.name, a);
  }
  const top = [...agg]
    .sort((a, b) => b[1].ms - a[1].ms || b[1].n - a[1].n)
    .slice(0, 8)
    .map(([name, a]) => ({ name, ...a }));
  return { wallMs, kernelMs, kernels, top };
}

async function measure(
  net: string,
  model: tf.LayersModel,
  batch: number,
  spec: VariantSpec,
  warmup: number,
  steps: number,
): Promise<NetResult> {
  const step = spec.step === 'flat' ? await flatStepper(model, batch) : tfAdamStepper(model, batch);
  try {
    for (let i = 0; i < warmup; i++) await run(step);
    const before = tf.memory().numTensors;
    const stepMs: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await run(step);
      stepMs.push(performance.now() - t0);
    }
    const tensorsFlat = tf.memory().numTensors === before;
    const profile = await whereTimeGoes(step, spec.kernels);
    return { net, batch, imgS: (1000 * batch) / median(stepMs), stepMs, profile, tensorsFlat };
  } finally {
    step.dispose();
  }
}

/** Runs `variant` on the chosen nets; resolves with the adapter's description and one result per net. */
export async function runVariant(
  variant: string,
  nets: string[],
  sizes: NetSizes,
  warmup: number,
  steps: number,
): Promise<{ variant: string; backend: string; flags: Record<string, unknown>; results: NetResult[] }> {
  const spec = VARIANTS[variant];
  if (!spec) throw new Error(`--variants: unknown variant '${variant}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  const chosen = await selectBackend('webgpu', { dawnFlags: spec.dawn });
  if (!spec.kernels) restoreStockWebgpuKernels();
  const flags = Object.fromEntries(Object.keys(webgpuFlags).map((f) => [f, tf.env().get(f)]));
  const results: NetResult[] = [];
  try {
    for (const net of nets) {
      if (net === 'cnn') {
        results.push(await measure(`small CNN ${sizes.cnnSize}px`, benchNet(sizes.cnnSize, 3), sizes.cnnBatch, spec, warmup, steps));
      } else if (net === 'mobilenet_v2') {
        const built = await buildNet({ arch: 'mobilenet_v2', nClasses: 10, size: sizes.mobilenetSize, seed: 1 });
        results.push(
          await measure(
            `mobilenet_v2 ${sizes.mobilenetSize}px`,
            built.model,
            sizes.mobilenetBatch,
            spec,
            Math.min(warmup, 2),
            Math.max(2, Math.ceil(steps / 2)),
          ),
        );
      } else {
        throw new Error(`--nets: unknown net '${net}' (known: cnn, mobilenet_v2)`);
      }
    }
  } finally {
    releaseBackend();
  }
  return { variant, backend: chosen.reason, flags, results };
}

async function gradients(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): Promise<Float32Array[]> {
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    vars,
  );
  const out = await Promise.all(vars.map(async (v) => (await grads[v.name].data()) as Float32Array));
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

/**
 * Numerics on the GPU: one training step's gradients of each net on webgpu (ringtune's kernels,
 * or stock with `stock`) against the cpu backend, same weights and batch. Returns the worst
 * max-abs-error / max-abs-value over the variables of each net.
 */
export async function checkNumerics(stock: boolean): Promise<{ net: string; worstRelError: number; variable: number }[]> {
  const cases = [
    { net: 'small CNN 16px b4', build: async () => benchNet(16, 3), shape: [4, 16, 16, 3] },
    {
      net: 'mobilenet_v2 32px b2',
      build: async () =>
        (await buildNet({ arch: 'mobilenet_v2', nClasses: 10, size: 32, seed: 1, head: { linFtrs: [16], ps: 0, firstBn: true } })).model,
      shape: [2, 32, 32, 3],
    },
  ];
  const out: { net: string; worstRelError: number; variable: number }[] = [];
  await selectBackend('cpu');
  const nets = [];
  for (const c of cases) {
    const model = await c.build();
    const x = tf.randomNormal(c.shape, 0, 1, 'float32', 3);
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: c.shape[0] }, (_, i) => i % 10),
        'int32',
      ),
      10,
    );
    nets.push({ ...c, model, x, y, want: await gradients(model, x, y) });
  }
  await selectBackend('webgpu');
  if (stock) restoreStockWebgpuKernels();
  try {
    for (const n of nets) {
      const got = await gradients(n.model, n.x, n.y);
      let worst = 0;
      let variable = -1;
      got.forEach((g, i) => {
        let num = 0;
        let den = 1e-12;
        for (let k = 0; k < g.length; k++) {
          num = Math.max(num, Math.abs(g[k] - n.want[i][k]));
          den = Math.max(den, Math.abs(n.want[i][k]));
        }
        if (!(num / den <= worst)) [worst, variable] = [num / den, i]; // NaN counts as worst
      });
      out.push({ net: n.net, worstRelError: worst, variable });
      tf.dispose([n.x, n.y]);
      n.model.dispose();
    }
  } finally {
    releaseBackend();
  }
  return out;
}
