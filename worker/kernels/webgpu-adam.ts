/**
 * fastai's Adam (shared/optim.ts, the same four steppers fused) over the flat parameter buffer,
 * on the GPU: params, m and v stay resident in [3P] tensors; each step uploads only the
 * all-reduced gradient and returns the new state. One [3P] tensor per chunk of parameters, each
 * within the device's largest storage binding (128 MiB on lavapipe: resnet18's 11.2M parameters
 * need 134 MB, and a binding over the limit is a device error, fatal by design); a chunk may
 * start or end inside a segment. One thread per parameter finds its segment
 * (group, decay) by binary search in a table made once per phase; per-group factors arrive as
 * uniforms, so a step uploads no hyper-parameter tensor. Deterministic: the same state and
 * gradient give the same bits on the same GPU and driver (replicas stay identical); against the
 * cpu's FlatAdam, which rounds from float64 intermediates, values agree to float32 rounding.
 */
import * as tf from '@tensorflow/tfjs';
import { resolveHypers, type AdamState, type GroupHypers, type Segment } from '../../shared/optim';
import type { GpuBackend, ProgramUniform } from './webgpu-program';
import { program } from './webgpu-program';
import { readOwned } from '../readback';

/** Per-group factors of one step, computed in float64 as FlatAdam does. */
export interface AdamStepFactors {
  /** Decoupled weight-decay factor 1 - lr wd, per group. */
  decay: number[];
  /** -lr / (1 - mom^t), per group. */
  scale: number[];
  mom: number;
  sqrMom: number;
  eps: number;
  /** 1 / (1 - sqrMom^t). */
  invDebias2: number;
}

function adamCode(groups: number): string {
  const pick = (name: string) =>
    `fn ${name}(g : i32) -> f32 { switch g { ${Array.from({ length: groups }, (_, g) => `case ${g}: { return uniforms.${name}${g}; }`).join(' ')} default: { return 0.0; } } }`;
  return `
  ${pick('decay')}
  ${pick('scale')}
  fn main(index : i32) {
    let i = i32(globalId.x) + i32(globalId.y) * ${65535 * 256};
    let P = uniforms.P;
    if (i >= P) { return; }
    var lo = 0;
    var hi = uniforms.segments - 1;
    while (lo < hi) {
      let mid = (lo + hi + 1) / 2;
      if (segments[2 * mid] <= i) { lo = mid; } else { hi = mid - 1; }
    }
    let info = segments[2 * lo + 1];
    let group = info / 2;
    let g = grads[uniforms.base + i];
    let m = uniforms.mom * state[P + i] + (1.0 - uniforms.mom) * g;
    let v = uniforms.sqrMom * state[2 * P + i] + (1.0 - uniforms.sqrMom) * g * g;
    let f = select(1.0, decay(group), info % 2 == 1);
    result[i] = state[i] * f + scale(group) * m / (sqrt(v * uniforms.invDebias2) + uniforms.eps);
    result[P + i] = m;
    result[2 * P + i] = v;
  }`;
}

function adam({ inputs, backend, attrs }: { inputs: Record<string, tf.TensorInfo>; backend: GpuBackend; attrs: Record<string, unknown> }) {
  const { state, grads, segments } = inputs;
  const h = attrs.factors as AdamStepFactors;
  const P = state.shape[0] / 3;
  const G = h.scale.length;
  const ints = { P, base: attrs.base as number, segments: segments.shape[0] / 2 };
  const floats: [string, number][] = [
    ['mom', h.mom],
    ['sqrMom', h.sqrMom],
    ['eps', h.eps],
    ['invDebias2', h.invDebias2],
    ...h.decay.map((d, g): [string, number] => [`decay${g}`, d]),
    ...h.scale.map((s, g): [string, number] => [`scale${g}`, s]),
  ];
  const groupsOf = Math.ceil(P / 256);
  const uniforms: ProgramUniform[] = [
    ...Object.values(ints).map((v) => ({ type: 'int32' as const, data: [v] })),
    ...floats.map(([, v]) => ({ type: 'float32' as const, data: [v] })),
  ];
  const p = program({
    key: `adam_${G}`,
    inputs: ['state', 'grads', 'segments'],
    outputShape: [3 * P],
    workgroupSize: [256, 1, 1],
    dispatch: [Math.min(groupsOf, 65535), Math.ceil(groupsOf / 65535), 1],
    uniforms: `P : i32, base : i32, segments : i32, ${floats.map(([k]) => `${k} : f32,`).join(' ')}`,
    code: adamCode(G),
  });
  return backend.runWebGPUProgram(p, [state, grads, segments], 'float32', uniforms);
}

export const adamKernel: tf.KernelConfig = {
  kernelName: 'RingtuneAdam',
  backendName: 'webgpu',
  kernelFunc: adam as unknown as tf.KernelFunc,
};

/** Largest storage binding of the current webgpu device, in bytes. */
function maxBindingBytes(): number {
  const backend = tf.backend() as unknown as { device?: { limits: { maxStorageBufferBindingSize: number } } };
  return backend.device?.limits.maxStorageBufferBindingSize ?? 2 ** 27;
}

/** One chunk of the state: parameters [start, end) as [params | m | v], and its segment table. */
interface Chunk {
  start: number;
  end: number;
  state: tf.Tensor1D;
  table: tf.Tensor1D;
}

/** The segment table of parameters [start, end): offsets relative to start, a segment cut by the chunk starts at 0. */
function tableOf(segments: Segment[], start: number, end: number): tf.Tensor1D {
  const rows = segments
    .filter((s) => s.offset < end && s.offset + s.length > start)
    .flatMap((s) => [Math.max(s.offset, start) - start, 2 * s.group + (s.decay ? 1 : 0)]);
  return tf.tensor1d(rows, 'int32');
}

/** fastai Adam with its state on the GPU; the layout (segments) is fixed per phase, like FlatAdam's. */
export class GpuAdam {
  private readonly chunks: Chunk[] = [];
  readonly size: number;
  private steps = 0;

  /**
   * `params`: the flat trainable parameters (copied into the state; the caller keeps its tensor).
   * `chunkFloats`: parameters per chunk (default: as many as one binding of 3 floats each holds).
   */
  constructor(
    readonly segments: Segment[],
    params: tf.Tensor1D,
    chunkFloats = Math.floor(maxBindingBytes() / 12),
  ) {
    this.size = params.size;
    if (4 * this.size > maxBindingBytes())
      throw new Error(
        `GpuAdam: ${this.size} trainable parameters exceed this GPU's largest storage binding (${maxBindingBytes()} bytes) for the gradient`,
      );
    const sorted = [...segments].sort((a, b) => a.offset - b.offset);
    for (let start = 0; start < this.size; start += chunkFloats) {
      const end = Math.min(this.size, start + chunkFloats);
      const state = tf.tidy(() => tf.concat([tf.slice(params, start, end - start), tf.zeros([2 * (end - start)])]) as tf.Tensor1D);
      this.chunks.push({ start, end, state, table: tableOf(sorted, start, end) });
    }
  }

  /** One step on the summed gradient; returns each segment's new parameters, in segment order (the caller owns them). */
  step(grads: Float32Array, hypers: GroupHypers[]): tf.Tensor1D[] {
    if (grads.length !== this.size) throw new Error(`GpuAdam.step: ${grads.length} gradients for ${this.size} parameters`);
    const full = hypers.map((h, g) => resolveHypers(h, g));
    for (const s of this.segments)
      if (!full[s.group]) throw new Error(`GpuAdam.step: no hyper-parameters for group ${s.group} (got ${hypers.length} groups)`);
    const t = this.steps + 1;
    const { mom, sqrMom, eps } = full[0];
    if (full.some((h) => h.mom !== mom || h.sqrMom !== sqrMom || h.eps !== eps))
      throw new Error('GpuAdam.step: every group must share mom, sqrMom and eps (only lr and wd may differ)');
    const factors: AdamStepFactors = {
      decay: full.map((h) => 1 - h.lr * h.wd),
      scale: full.map((h) => -h.lr / (1 - Math.pow(mom, t))),
      mom,
      sqrMom,
      eps,
      invDebias2: 1 / (1 - Math.pow(sqrMom, t)),
    };
    const g = tf.tensor1d(grads);
    for (const c of this.chunks) {
      const next = tf.engine().runKernel('RingtuneAdam', { state: c.state, grads: g, segments: c.table }, {
        factors,
        base: c.start,
      } as unknown as tf.NamedAttrMap) as tf.Tensor1D;
      c.state.dispose();
      c.state = next;
    }
    g.dispose();
    this.steps = t;
    return this.segments.map((seg) => tf.tidy(() => this.params(seg.offset, seg.offset + seg.length)));
  }

  /** Parameters [start, end) from the chunks that hold them. */
  private params(start: number, end: number): tf.Tensor1D {
    const parts = this.chunks
      .filter((c) => c.start < end && c.end > start)
      .map((c) => tf.slice(c.state, Math.max(start, c.start) - c.start, Math.min(end, c.end) - Math.max(start, c.start)));
    return (parts.length === 1 ? parts[0] : tf.concat(parts)) as tf.Tensor1D;
  }

  /** Steps since construction or the last load. */
  get stepCount(): number {
    return this.steps;
  }

  /** The moments and step count, read back (for checkpoints). */
  async stateDict(): Promise<AdamState> {
    const m = new Float32Array(this.size);
    const v = new Float32Array(this.size);
    for (const c of this.chunks) {
      const all = (await readOwned(tf.clone(c.state))) as Float32Array; // the clone, not the state a step may replace meanwhile
      const n = c.end - c.start;
      m.set(all.subarray(n, 2 * n), c.start);
      v.set(all.subarray(2 * n), c.start);
    }
    return { step: this.steps, m, v };
  }

  /** Restores moments and step count saved by stateDict() (or FlatAdam's) around the current parameters. */
  loadStateDict(s: AdamState): void {
    if (s.m.length !== this.size || s.v.length !== this.size)
      throw new Error(`GpuAdam.loadStateDict: state has ${s.m.length}/${s.v.length} values, optimizer has ${this.size}`);
    for (const c of this.chunks) {
      const n = c.end - c.start;
      const next = tf.tidy(
        () =>
          tf.concat([
            tf.slice(c.state, 0, n),
            tf.tensor1d(s.m.subarray(c.start, c.end)),
            tf.tensor1d(s.v.subarray(c.start, c.end)),
          ]) as tf.Tensor1D,
      );
      c.state.dispose();
      c.state = next;
    }
    this.steps = s.step;
  }

  dispose(): void {
    tf.dispose(this.chunks.flatMap((c) => [c.state, c.table]));
  }
}
