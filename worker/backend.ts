/**
 * Backend selection in one place. `auto` prefers libtensorflow (tfjs-node-gpu / tfjs-node, an
 * optional peer the user installs) and otherwise runs on wasm with ringtune's gradient kernels.
 * WebGPU runs on Dawn's Node binding (npm `webgpu`), which must set `navigator.gpu` before the
 * tfjs webgpu backend is loaded.
 */
import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from './kernels';
import { registerWebgpuKernels } from './kernels/webgpu';
import { dawnFlagsFromEnv, GPU_ENV, mergeDawnFlags } from '../shared/gpu';
import { numberGpus, parseDawnAdapterList, pinGpu, type GpuPin } from '../shared/gpu-devices';
import { dawnBindingPath, noAdapterError, noMatchError, probeAdapters } from './webgpu-probe';

import { BACKEND_CHOICES, type BackendChoice } from '../shared/config';

export type { BackendChoice };

/** Options that only some backends use. */
export interface BackendOptions {
  /** Dawn flags for webgpu, e.g. `adapter=<name>` or `backend=null` (a no-op device for wiring tests). */
  dawnFlags?: string[];
}

const TENSORFLOW_RECIPE =
  'install it next to ringtune with `npm install @tensorflow/tfjs-node-gpu@4.22.0` (CUDA 11.2 + cuDNN 8 ' +
  'libraries must be on LD_LIBRARY_PATH: libcudart.so.11.0, libcudnn.so.8) or `npm install @tensorflow/tfjs-node@4.22.0` ' +
  'for CPU libtensorflow; npm 11 also needs `npm install-scripts approve @tensorflow/tfjs-node-gpu` so its ' +
  'install step can download libtensorflow (mirror: TFJS_NODE_CDN_STORAGE)';

/** Loads a module that may be absent without letting bundlers or tsc resolve it. */
function optionalRequire(name: string): { ok: true; mod: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, mod: require(name) };
  } catch (e) {
    return { ok: false, error: (e as Error).message.split('\n')[0] };
  }
}

async function activate(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) throw new Error(`backend '${name}' failed to initialise (tf.setBackend returned ${ok})`);
  await tf.ready();
}

async function useTensorflow(): Promise<{ name: string; reason: string } | { error: string }> {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const r = optionalRequire(pkg);
    if (!r.ok) {
      errors.push(`${pkg}: ${r.error}`);
      continue;
    }
    if (tf.findBackend('tensorflow') == null) {
      errors.push(`${pkg} loaded but registered no 'tensorflow' backend with this @tensorflow/tfjs (versions differ?)`);
      continue;
    }
    await activate('tensorflow');
    return { name: 'tensorflow', reason: `${pkg} loaded (libtensorflow)` };
  }
  return { error: errors.join('; ') };
}

async function useWasm(reason: string): Promise<{ name: string; reason: string }> {
  require('@tensorflow/tfjs-backend-wasm');
  const kernels = registerWasmKernels();
  await activate('wasm');
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
  const line = kernels.onednn ? `wasm + oneDNN kernels (${kernels.detail})` : `wasm kernels: ${kernels.detail}`;
  return { name: 'wasm', reason: `${reason}; one thread, ${simd}, ${line}` };
}

let dawn: { gpu: unknown } | null = null;

type DawnGpu = { requestAdapter(): Promise<unknown> };
type LostInfo = { reason?: string; message?: string };

let signalDeviceLost: (why: string) => void = () => undefined;
/** Resolves, with what Dawn said, if the webgpu device is lost while ringtune uses it; never otherwise. */
export const webgpuDeviceLost: Promise<string> = new Promise((resolve) => (signalDeviceLost = resolve));

/**
 * The GPU this worker is held to, when it was given one (RINGTUNE_GPU, set by `launch --gpus`):
 * applies the Vulkan loader environment that leaves the process that GPU alone (Note [webgpu
 * pinning]). Must run before Dawn's instance exists.
 */
function pinToGpu(flags: string[]): GpuPin | null {
  const ordinal = process.env[GPU_ENV.ordinal];
  if (ordinal === undefined || ordinal === '') return null;
  const probe = probeAdapters({ flags });
  if (probe.dawn.length === 0) throw noAdapterError(flags);
  const gpus = numberGpus(probe.dawn, probe.vulkan);
  // A software adapter runs on the CPU cores and is shared freely: any GPU number (a cluster task's
  // local rank on a node without a GPU) lands on the first one.
  const software = gpus.every((g) => g.software) && Number(ordinal) >= gpus.length;
  let pin: GpuPin;
  try {
    pin = pinGpu(gpus, software ? 0 : Number(ordinal));
  } catch (e) {
    throw new Error(`--backend webgpu, ${GPU_ENV.ordinal}=${ordinal}: ${(e as Error).message}`);
  }
  if (software) pin = { ...pin, identity: `${pin.identity} (for GPU ${ordinal}: no hardware GPU here)` };
  const asked = adapterFlag(flags);
  if (asked && !pin.adapterName.includes(asked))
    throw new Error(`--backend webgpu: ${GPU_ENV.webgpuAdapter}='${asked}' does not name GPU ${ordinal} (${pin.identity})`);
  Object.assign(process.env, pin.env);
  return pin;
}

function dawnBinding(): { create: (flags: string[]) => unknown; globals: Record<string, unknown> } {
  const file = dawnBindingPath();
  try {
    return require(file);
  } catch (e) {
    throw new Error(
      `--backend webgpu: Dawn's binding ${file} did not load: ${(e as Error).message.split('\n')[0]}; run \`npm install webgpu\``,
    );
  }
}

const adapterFlag = (flags: string[]) => flags.find((f) => f.startsWith('adapter='))?.slice('adapter='.length);

async function useWebgpu(opts: BackendOptions): Promise<{ name: string; reason: string }> {
  let flags = mergeDawnFlags(opts.dawnFlags ?? [], dawnFlagsFromEnv());
  let pin: GpuPin | null = null;
  if (tf.findBackend('webgpu') == null) {
    const binding = dawnBinding();
    pin = pinToGpu(flags);
    if (pin) flags = mergeDawnFlags([`adapter=${pin.adapterName}`], flags);
    Object.assign(globalThis, binding.globals);
    dawn = { gpu: binding.create(flags) };
    (globalThis as { navigator?: unknown }).navigator = { gpu: dawn.gpu };
    require('@tensorflow/tfjs-backend-webgpu');
  }
  const gpu = (globalThis as { navigator?: { gpu?: DawnGpu } }).navigator?.gpu;
  let adapter: unknown = null;
  try {
    adapter = gpu ? await gpu.requestAdapter() : null;
  } catch (e) {
    const message = String((e as Error).message ?? e);
    const name = adapterFlag(flags);
    if (name === undefined || !message.includes('Available adapters')) throw e;
    const source = pin
      ? `GPU ${process.env[GPU_ENV.ordinal]}`
      : opts.dawnFlags?.some((f) => f.startsWith('adapter='))
        ? 'Dawn flag adapter='
        : GPU_ENV.webgpuAdapter;
    throw noMatchError(name, source, parseDawnAdapterList(message));
  }
  if (adapter == null) throw noAdapterError(flags);
  registerWebgpuKernels();
  await activate('webgpu');
  watchDeviceLoss();
  failOnDeviceErrors();
  const device = (adapter as { info?: { device?: string } }).info?.device || 'unnamed';
  const shown = pin ? flags.filter((f) => f !== `adapter=${pin.adapterName}`) : flags;
  const where = pin ? ` on ${pin.identity}` : '';
  return {
    name: 'webgpu',
    reason: `Dawn adapter '${device}'${shown.length ? ` (flags: ${shown.join(' ')})` : ''}${where}, ringtune webgpu kernels registered`,
  };
}

/** A device lost while in use (driver reset, GPU fallen off the bus, destroyed) ends the run: see webgpuDeviceLost. */
function watchDeviceLoss(): void {
  const device = (tf.backend() as unknown as { device?: { lost?: Promise<LostInfo> } }).device;
  void device?.lost?.then((info) => {
    if (dawn == null) return; // released on purpose
    signalDeviceLost(`the WebGPU device was lost (${info.reason || 'unknown reason'}: ${info.message || 'no message'})`);
  });
}

/**
 * A WebGPU validation or out-of-memory error is not thrown where it happens: Dawn reports it on
 * the device and every later dispatch that depends on it computes garbage. Make it fatal, naming it.
 */
function failOnDeviceErrors(): void {
  const device = (tf.backend() as unknown as { device: { onuncapturederror: ((ev: { error: { message: string } }) => void) | null } })
    .device;
  device.onuncapturederror = (ev) => {
    throw new Error(`--backend webgpu: the GPU device reported an error (results would be wrong): ${ev.error.message.split('\n')[0]}`);
  };
}

/** Initialises tfjs on the requested backend (registering ringtune's kernels), returns what was chosen and why. */
export async function selectBackend(choice: BackendChoice, opts: BackendOptions = {}): Promise<{ name: string; reason: string }> {
  switch (choice) {
    case 'cpu':
      await activate('cpu');
      return { name: 'cpu', reason: 'requested (pure-JS kernels, slow: for tests and reference numerics)' };
    case 'wasm':
      return useWasm('requested');
    case 'webgpu':
      return useWebgpu(opts);
    case 'tensorflow': {
      const r = await useTensorflow();
      if ('error' in r) throw new Error(`--backend tensorflow: libtensorflow bindings not found (${r.error}); ${TENSORFLOW_RECIPE}`);
      return r;
    }
    case 'auto': {
      const r = await useTensorflow();
      if (!('error' in r)) return { name: r.name, reason: `auto: ${r.reason}` };
      return useWasm('auto: @tensorflow/tfjs-node(-gpu) not installed');
    }
    default:
      throw new Error(`--backend: unknown backend '${String(choice)}' (expected one of ${BACKEND_CHOICES.join(', ')})`);
  }
}

/** Releases what keeps the process alive after training (Dawn's instance); safe to call for any backend. */
export function releaseBackend(): void {
  const held = dawn;
  dawn = null; // first: a device destroyed from here on is released, not lost
  if (tf.getBackend() === 'webgpu') tf.removeBackend('webgpu');
  if (held != null) delete (globalThis as { navigator?: unknown }).navigator;
}
