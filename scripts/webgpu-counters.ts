/**
 * Counts what a process really sends to its WebGPU device, by wrapping the methods of Dawn's
 * classes (the `webgpu` package's GPUDevice, GPUQueue, GPUComputePassEncoder, GPUBuffer
 * prototypes): every compute dispatch with its workgroup count, workgroup size (parsed from the
 * pipeline's WGSL) and the bytes of the storage buffers it binds; every GPU->CPU read-back
 * (a buffer mapped for reading); every CPU->GPU upload of data (a buffer mapped for writing, or
 * queue.writeBuffer into a non-uniform buffer) and, apart, the uniform writes. Each dispatch is
 * charged to the tfjs kernel that issued it (see kernel-scope.ts).
 */

/** One compute dispatch as the device saw it. */
export interface Dispatch {
  /** The tfjs kernels active when it was issued, outermost first. */
  kernels: string[];
  /** Index of the innermost kernel call it belongs to (see KernelScope.calls). */
  call: number;
  /** The pipeline's label (tfjs-webgpu names it after the program class). */
  program: string;
  workgroups: [number, number, number];
  workgroupSize: [number, number, number];
  threads: number;
  /** Bytes of the storage buffers bound (inputs and output): what the dispatch may touch. */
  bytes: number;
}

/** Everything counted since the last reset. */
export interface DeviceCounts {
  dispatches: Dispatch[];
  readBacks: number;
  readBackBytes: number;
  uploads: number;
  uploadBytes: number;
  /** Each upload's bytes and the kernels running when it was made (outside any: []). */
  uploadLog: { bytes: number; kernels: string[] }[];
  uniformWrites: number;
}

/** Which kernel call is running, for dispatches to be charged to (kernel-scope.ts provides it). */
export interface KernelCursor {
  path(): string[];
  callIndex(): number;
}

type Method = (this: object, ...args: never[]) => unknown;
type Proto = Record<string, Method>;
interface BufferLike {
  size: number;
  usage: number;
}
interface BindingEntry {
  resource: { buffer?: BufferLike; size?: number; offset?: number };
}

const USAGE_UNIFORM = 0x40;
const MAP_READ = 0x1;

function workgroupSizeOf(code: string): [number, number, number] {
  const m = /@workgroup_size\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?(?:,\s*(\d+)\s*)?\)/.exec(code);
  if (!m) throw new Error('webgpu-counters: a compute shader without a literal @workgroup_size');
  return [Number(m[1]), Number(m[2] ?? 1), Number(m[3] ?? 1)];
}

function wrap(proto: Proto, name: string, after: (self: object, args: unknown[], result: unknown) => void): () => void {
  const original = proto[name];
  if (typeof original !== 'function') throw new Error(`webgpu-counters: Dawn binding has no ${name}`);
  proto[name] = function (this: object, ...args: never[]) {
    const result = original.apply(this, args);
    after(this, args, result);
    return result;
  };
  return () => {
    proto[name] = original;
  };
}

/**
 * Starts counting on the Dawn classes in `globals` (the binding's globals, installed on
 * globalThis by worker/backend.ts). Pipelines created before this call are not known: install it
 * before the first tfjs op on webgpu. Returns the counts, a reset and an uninstall.
 */
export function countDevice(
  globals: Record<string, { prototype: unknown }>,
  cursor: KernelCursor,
): { counts: DeviceCounts; reset(): void; uninstall(): void } {
  const proto = (name: string) => {
    const cls = globals[name];
    if (!cls) throw new Error(`webgpu-counters: Dawn binding has no class ${name}`);
    return cls.prototype as Proto;
  };
  const counts: DeviceCounts = {
    dispatches: [],
    readBacks: 0,
    readBackBytes: 0,
    uploads: 0,
    uploadBytes: 0,
    uploadLog: [],
    uniformWrites: 0,
  };
  const upload = (bytes: number) => {
    counts.uploads++;
    counts.uploadBytes += bytes;
    counts.uploadLog.push({ bytes, kernels: cursor.path() });
  };
  const moduleSize = new WeakMap<object, [number, number, number]>();
  const pipelineInfo = new WeakMap<object, { size: [number, number, number]; label: string }>();
  const bindBytes = new WeakMap<object, number>();
  const passState = new WeakMap<object, { pipeline?: object; bytes: number }>();
  const mappedForRead = new WeakSet<object>();
  const writeMapped = new WeakSet<object>();
  const stateOf = (pass: object) => passState.get(pass) ?? passState.set(pass, { bytes: 0 }).get(pass)!;
  const undo = [
    wrap(proto('GPUDevice'), 'createShaderModule', (_d, [desc], module) => {
      const code = (desc as { code: string }).code;
      if (/@compute/.test(code)) moduleSize.set(module as object, workgroupSizeOf(code));
    }),
    ...['createComputePipeline', 'createComputePipelineAsync'].map((name) =>
      wrap(proto('GPUDevice'), name, (_d, [desc], result) => {
        const d = desc as { compute: { module: object }; label?: string };
        const info = { size: moduleSize.get(d.compute.module) ?? ([0, 0, 0] as [number, number, number]), label: d.label ?? '' };
        if (result instanceof Promise) void result.then((p: object) => pipelineInfo.set(p, info));
        else pipelineInfo.set(result as object, info);
      }),
    ),
    wrap(proto('GPUDevice'), 'createBindGroup', (_d, [desc], group) => {
      let bytes = 0;
      for (const e of (desc as { entries: BindingEntry[] }).entries) {
        const b = e.resource.buffer;
        if (b && !(b.usage & USAGE_UNIFORM)) bytes += e.resource.size ?? b.size - (e.resource.offset ?? 0);
      }
      bindBytes.set(group as object, bytes);
    }),
    wrap(proto('GPUDevice'), 'createBuffer', (_d, [desc], buffer) => {
      if ((desc as { mappedAtCreation?: boolean }).mappedAtCreation) writeMapped.add(buffer as object);
    }),
    wrap(proto('GPUComputePassEncoder'), 'setPipeline', (pass, [pipeline]) => {
      stateOf(pass).pipeline = pipeline as object;
    }),
    wrap(proto('GPUComputePassEncoder'), 'setBindGroup', (pass, [, group]) => {
      stateOf(pass).bytes = bindBytes.get(group as object) ?? 0;
    }),
    wrap(proto('GPUComputePassEncoder'), 'dispatchWorkgroups', (pass, args) => {
      const st = stateOf(pass);
      const info = st.pipeline ? pipelineInfo.get(st.pipeline) : undefined;
      const wg = [0, 1, 2].map((i) => Number(args[i] ?? 1)) as [number, number, number];
      const size = info?.size ?? [0, 0, 0];
      counts.dispatches.push({
        kernels: cursor.path(),
        call: cursor.callIndex(),
        program: info?.label ?? '?',
        workgroups: wg,
        workgroupSize: size,
        threads: wg[0] * wg[1] * wg[2] * size[0] * size[1] * size[2],
        bytes: st.bytes,
      });
    }),
    wrap(proto('GPUBuffer'), 'mapAsync', (buffer, [mode]) => {
      if (Number(mode) & MAP_READ) {
        mappedForRead.add(buffer);
        counts.readBacks++;
        counts.readBackBytes += (buffer as unknown as BufferLike).size;
      } else writeMapped.add(buffer);
    }),
    wrap(proto('GPUBuffer'), 'unmap', (buffer) => {
      if (writeMapped.has(buffer) && !mappedForRead.has(buffer)) upload((buffer as unknown as BufferLike).size);
      writeMapped.delete(buffer);
      mappedForRead.delete(buffer);
    }),
    wrap(proto('GPUQueue'), 'writeBuffer', (_q, [buffer, , data, , size]) => {
      const b = buffer as BufferLike;
      if (b.usage & USAGE_UNIFORM) counts.uniformWrites++;
      else upload(Number(size ?? (data as ArrayBuffer).byteLength));
    }),
  ];
  return {
    counts,
    reset() {
      counts.dispatches = [];
      counts.uploadLog = [];
      counts.readBacks = counts.readBackBytes = counts.uploads = counts.uploadBytes = counts.uniformWrites = 0;
    },
    uninstall() {
      for (const u of undo) u();
    },
  };
}
