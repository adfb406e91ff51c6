/**
 * One bench:gpu variant in its own process (Dawn flags are fixed per process, and stock vs
 * ringtune kernels should not share shader caches): training img/s of each net, where one step's
 * time goes (tf.profile kernel time against wall time), and the tensor count across steps.
 */
import * as tf from '@tensorflow/tfjs';
import { releaseBackend, selectBackend } from '../worker/backend';
import { restoreStockWebgpuKernels, webgpuFlags } from '../worker/kernels/webgpu';
import { buildNet, type Net } from '../worker/models';
import { bucketize } from '../worker/buckets';
import { benchNet } from './bench-nets';
import { BUCKET_FLOATS, netOf, replicaStepper, stockStepper, type Stepper } from './bench-gpu-steps';
import { scopeKernels } from './kernel-scope';
import { countDevice } from './webgpu-counters';
import { auditStep, type StepAudit } from './gpu-audit';
import { median } from './stats';

/** What a variant changes: ringtune's kernels or stock ones, the step's optimizer path, Dawn flags. */
export interface VariantSpec {
  kernels: boolean;
  /** 'tf-adam': tf.train.adam on the GPU (per-variable ops); 'replica': ringtune's worker step itself (Replica.step). */
  step: 'tf-adam' | 'replica';
  dawn: string[];
}

/** The variants bench:gpu knows. */
export const VARIANTS: Record<string, VariantSpec> = {
  stock: { kernels: false, step: 'tf-adam', dawn: [] },
  'ringtune-kernels': { kernels: true, step: 'tf-adam', dawn: [] },
  ringtune: { kernels: true, step: 'replica', dawn: [] },
  'ringtune+toggles': { kernels: true, step: 'replica', dawn: ['enable-dawn-features=skip_validation,disable_robustness'] },
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

/** Kernel names that only wrap other kernels (ringtune's composites): tf.profile counts their inner kernels too. */
const COMPOSITE = new Set(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter']);

async function whereTimeGoes(step: Stepper, composites: boolean): Promise<NetResult['profile']> {
  const t0 = performance.now();
  const prof = await tf.profile(() => step.step());
  const wallMs = performance.now() - t0;
  const agg = new Map<string, { n: number; ms: number }>();
  let kernels = 0;
  let kernelMs: number | null = 0;
  for (const k of prof.kernels) {
    if (k.name.endsWith('__op') || k.name === 'Identity' || (composites && COMPOSITE.has(k.name))) continue;
    kernels++;
    const a = agg.get(k.name) ?? { n: 0, ms: 0 };
    a.n++;
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : null; // null: no timestamp queries
    a.ms += ms ?? 0;
    kernelMs = ms == null || kernelMs == null ? null : kernelMs + ms;
    agg.set(k.name, a);
  }
  const top = [...agg]
    .sort((a, b) => b[1].ms - a[1].ms || b[1].n - a[1].n)
    .slice(0, 8)
    .map(([name, a]) => ({ name, ...a }));
  return { wallMs, kernelMs, kernels, top };
}

/** The step of `spec` for one net. */
async function stepperFor(net: Net, batch: number, spec: VariantSpec): Promise<Stepper> {
  return spec.step === 'replica' ? replicaStepper(net, batch) : stockStepper(net.model, batch);
}

async function measure(net: string, built: Net, batch: number, spec: VariantSpec, warmup: number, steps: number): Promise<NetResult> {
  const step = await stepperFor(built, batch, spec);
  try {
    for (let i = 0; i < warmup; i++) await step.step();
    const before = tf.memory().numTensors;
    const stepMs: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await step.step();
      stepMs.push(performance.now() - t0);
    }
    const tensorsFlat = tf.memory().numTensors === before;
    const profile = await whereTimeGoes(step, spec.kernels);
    return { net, batch, imgS: (1000 * batch) / median(stepMs), stepMs, profile, tensorsFlat };
  } finally {
    await step.dispose();
  }
}

/** A benchmark net by its --nets name; `quick`: run half as many steps (mobilenet_v2 is slow). */
async function benchNetNamed(name: string, sizes: NetSizes): Promise<{ label: string; net: Net; batch: number; quick: boolean }> {
  if (name === 'cnn')
    return { label: `small CNN ${sizes.cnnSize}px`, net: netOf(benchNet(sizes.cnnSize, 3)), batch: sizes.cnnBatch, quick: false };
  if (name === 'mobilenet_v2') {
    const net = await buildNet({ arch: 'mobilenet_v2', nClasses: 10, size: sizes.mobilenetSize, seed: 1 });
    return { label: `mobilenet_v2 ${sizes.mobilenetSize}px`, net, batch: sizes.mobilenetBatch, quick: true };
  }
  throw new Error(`--nets: unknown net '${name}' (known: cnn, mobilenet_v2)`);
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
    for (const name of nets) {
      const { label, net, batch, quick } = await benchNetNamed(name, sizes);
      const w = quick ? Math.min(warmup, 2) : warmup;
      results.push(await measure(label, net, batch, spec, w, quick ? Math.max(2, Math.ceil(steps / 2)) : steps));
    }
  } finally {
    releaseBackend();
  }
  return { variant, backend: chosen.reason, flags, results };
}

/** One net's audited step under one variant; `buckets`: gradient buckets ringtune's step reads back. */
export interface NetAudit {
  net: string;
  batch: number;
  buckets: number;
  audit: StepAudit;
}

/**
 * Audits one training step of each net under `variant` (after `warmup` unaudited steps, so
 * pipelines are compiled and buffers pooled): the counters wrap Dawn's classes before the first
 * op, the kernel scope wraps the variant's kernels once they are in place.
 */
export async function auditVariant(
  variant: string,
  nets: string[],
  sizes: NetSizes,
  warmup: number,
): Promise<{ variant: string; backend: string; nets: NetAudit[] }> {
  const spec = VARIANTS[variant];
  if (!spec) throw new Error(`--variants: unknown variant '${variant}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  const chosen = await selectBackend('webgpu', { dawnFlags: spec.dawn });
  if (!spec.kernels) restoreStockWebgpuKernels();
  const scope = scopeKernels('webgpu');
  const device = countDevice(globalThis as unknown as Record<string, { prototype: unknown }>, scope.cursor);
  const out: NetAudit[] = [];
  try {
    for (const name of nets) {
      const { label, net, batch } = await benchNetNamed(name, sizes);
      const buckets = bucketize(
        net.params.map((p) => p.variable.read().size),
        BUCKET_FLOATS,
      ).length;
      const step = await stepperFor(net, batch, spec);
      try {
        for (let i = 0; i < Math.max(1, warmup); i++) await step.step();
        scope.reset();
        device.reset();
        await step.step();
        out.push({ net: label, batch, buckets, audit: auditStep(scope.calls, device.counts) });
      } finally {
        await step.dispose();
      }
    }
  } finally {
    device.uninstall();
    scope.uninstall();
    releaseBackend();
  }
  return { variant, backend: chosen.reason, nets: out };
}
