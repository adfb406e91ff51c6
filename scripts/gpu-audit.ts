/**
 * The GPU-shape audit of one training step (bench:gpu --audit): per kernel the threads it
 * launched, its FLOPs and the bytes it bound; per step the dispatches, GPU->CPU read-backs and
 * CPU->GPU uploads. Counted on the real device (webgpu-counters.ts), charged to tfjs kernels
 * (kernel-scope.ts). Pure summaries here; the run lives in bench-gpu-run.ts.
 */
import type { KernelCall } from './kernel-scope';
import type { DeviceCounts } from './webgpu-counters';

/** A kernel above this many FLOPs is heavy: it must spread over GOAL_THREADS threads. */
export const HEAVY_FLOPS = 10e6;
/** Threads a heavy kernel must launch (an H100 keeps ~270k resident). */
export const GOAL_THREADS = 65536;

/** One row: the calls of one kernel (as the model issued it: the outermost kernel) in a step. */
export interface AuditRow {
  kernel: string;
  calls: number;
  dispatches: number;
  mflop: number;
  /** Calls above HEAVY_FLOPS. */
  heavy: number;
  /** Fewest threads any heavy call launched in its heaviest dispatch (null: no heavy call). */
  minHeavyThreads: number | null;
  /** Most threads one dispatch of this kernel launched. */
  maxThreads: number;
  /** MB of storage buffers bound, over all its dispatches. */
  mbBound: number;
}

/** The whole step. */
export interface StepAudit {
  rows: AuditRow[];
  dispatches: number;
  readBacks: number;
  uploads: number;
  uploadMb: number;
  uniformWrites: number;
  gflop: number;
  /** Heavy calls below GOAL_THREADS. */
  narrowHeavy: number;
}

interface Leaf {
  flops: number;
  threads: number;
}

/** Summarises one step's kernel calls and device counts. */
export function auditStep(calls: KernelCall[], counts: DeviceCounts): StepAudit {
  // Each dispatch belongs to the innermost call running; each call to its outermost ancestor.
  const leaves = new Map<number, Leaf & { dispatches: number; bytes: number }>();
  for (const d of counts.dispatches) {
    const l = leaves.get(d.call) ?? { flops: d.call >= 0 ? calls[d.call].flops : 0, threads: 0, dispatches: 0, bytes: 0 };
    l.threads = Math.max(l.threads, d.threads);
    l.dispatches++;
    l.bytes += d.bytes;
    leaves.set(d.call, l);
  }
  const outerOf: number[] = [];
  calls.forEach((c, i) => (outerOf[i] = c.path.length === 1 ? i : (outerOf[i - 1] ?? i)));
  const byOuter = new Map<number, (Leaf & { dispatches: number; bytes: number })[]>();
  for (const [i, l] of leaves) {
    const o = i >= 0 ? outerOf[i] : -1;
    byOuter.set(o, [...(byOuter.get(o) ?? []), l]);
  }
  const rows = new Map<string, AuditRow>();
  let narrowHeavy = 0;
  let flops = 0;
  for (const [o, ls] of byOuter) {
    const name = o >= 0 ? calls[o].path[0] : '(outside kernels)';
    const callFlops = o >= 0 ? calls[o].flops : 0;
    flops += callFlops;
    const heaviest = ls.reduce((a, b) => (b.flops > a.flops || (b.flops === a.flops && b.threads > a.threads) ? b : a));
    const r = rows.get(name) ?? {
      kernel: name,
      calls: 0,
      dispatches: 0,
      mflop: 0,
      heavy: 0,
      minHeavyThreads: null,
      maxThreads: 0,
      mbBound: 0,
    };
    r.calls++;
    r.dispatches += ls.reduce((s, l) => s + l.dispatches, 0);
    r.mflop += callFlops / 1e6;
    r.maxThreads = Math.max(r.maxThreads, ...ls.map((l) => l.threads));
    r.mbBound += ls.reduce((s, l) => s + l.bytes, 0) / 2 ** 20;
    if (callFlops > HEAVY_FLOPS) {
      r.heavy++;
      r.minHeavyThreads = Math.min(r.minHeavyThreads ?? Infinity, heaviest.threads);
      if (heaviest.threads < GOAL_THREADS) narrowHeavy++;
    }
    rows.set(name, r);
  }
  return {
    rows: [...rows.values()].sort((a, b) => b.mflop - a.mflop || b.dispatches - a.dispatches),
    dispatches: counts.dispatches.length,
    readBacks: counts.readBacks,
    uploads: counts.uploads,
    uploadMb: counts.uploadBytes / 2 ** 20,
    uniformWrites: counts.uniformWrites,
    gflop: flops / 1e9,
    narrowHeavy,
  };
}

const k = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));

/** Markdown table of the variants' audits side by side (rows: every kernel any of them ran). */
export function auditTable(variants: { name: string; audit: StepAudit }[]): string[] {
  const audits = variants.map((v) => v.audit);
  const rowsOf = (kernel: string) => audits.map((s) => s.rows.find((x) => x.kernel === kernel));
  const kernels = [
    ...new Set(
      audits
        .flatMap((s) => s.rows)
        .sort((x, y) => y.mflop - x.mflop)
        .map((r) => r.kernel),
    ),
  ];
  const cell = (r: AuditRow | undefined) => {
    if (!r) return ['', '', '', ''];
    const threads =
      r.minHeavyThreads == null ? `(${k(r.maxThreads)})` : k(r.minHeavyThreads) + (r.minHeavyThreads < GOAL_THREADS ? ' ✗' : ' ✓');
    return [String(r.calls), String(r.dispatches), threads, r.mbBound.toFixed(1)];
  };
  const head = variants.map((v) => `${v.name}: calls | dispatches | threads | MB bound`).join(' | ');
  const out = [`| kernel | MFLOP | ${head} |`, `|---|---:${'|---:|---:|---:|---:'.repeat(variants.length)}|`];
  for (const kernel of kernels) {
    const rows = rowsOf(kernel);
    const mflop = Math.max(...rows.map((r) => r?.mflop ?? 0));
    out.push(`| ${kernel} | ${mflop.toFixed(1)} | ${rows.map((r) => cell(r).join(' | ')).join(' | ')} |`);
  }
  const step = (s: StepAudit) => [
    `${s.dispatches}`,
    `${s.readBacks}`,
    `${s.uploads} (${s.uploadMb.toFixed(2)} MB)`,
    `${s.uniformWrites}`,
    `${s.narrowHeavy}`,
  ];
  out.push('', `| per step | ${variants.map((v) => v.name).join(' | ')} |`, `|---${'|---:'.repeat(variants.length)}|`);
  const labels = [
    'dispatches',
    'GPU->CPU read-backs',
    'CPU->GPU uploads',
    'uniform writes',
    `kernels > 10 MFLOP under ${k(GOAL_THREADS)} threads`,
  ];
  labels.forEach((l, i) => out.push(`| ${l} | ${audits.map((s) => step(s)[i]).join(' | ')} |`));
  return out;
}
