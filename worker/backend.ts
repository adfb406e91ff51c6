/**
 * Backend selection in one place. `auto` prefers libtensorflow (tfjs-node-gpu / tfjs-node, an
 * optional peer the user installs) and otherwise runs on wasm with ringtune's gradient kernels.
 * WebGPU runs on Dawn's Node binding (npm `webgpu`), which must set `navigator.gpu` before the
 * tfjs webgpu backend is loaded.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from './kernels';
import { registerWebgpuKernels } from './kernels/webgpu';
import { dawnFlagsFromEnv, GPU_ENV, mergeDawnFlags } from '../shared/gpu';

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
  registerWasmKernels();
  await activate('wasm');
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
  return { name: 'wasm', reason: `${reason}; one thread, ${simd}, ringtune gradient kernels registered` };
}

let dawn: { gpu: unknown } | null = null;

function dawnBinding(): { create: (flags: string[]) => unknown; globals: Record<string, unknown> } {
  // The package's index.js is ESM; its native binding is plain CommonJS and loads from here.
  const dir = path.dirname(require.resolve('webgpu/package.json'));
  return require(path.join(dir, 'dist', `${process.platform}-${process.arch}`, 'dawn.node'));
}

async function useWebgpu(opts: BackendOptions): Promise<{ name: string; reason: string }> {
  const flags = mergeDawnFlags(opts.dawnFlags ?? [], dawnFlagsFromEnv());
  if (tf.findBackend('webgpu') == null) {
    let binding;
    try {
      binding = dawnBinding();
    } catch (e) {
      throw new Error(
        `--backend webgpu: the optional npm package 'webgpu' (Dawn) did not load: ${(e as Error).message.split('\n')[0]}; run \`npm install webgpu\``,
      );
    }
    Object.assign(globalThis, binding.globals);
    dawn = { gpu: binding.create(flags) };
    (globalThis as { navigator?: unknown }).navigator = { gpu: dawn.gpu };
    require('@tensorflow/tfjs-backend-webgpu');
  }
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  if (adapter == null) {
    throw new Error(
      `--backend webgpu: Dawn found no GPU adapter (flags: ${flags.join(' ') || 'none'}); it needs a Vulkan ` +
        `driver (libvulkan.so.1 and a GPU ICD); pass --backend wasm to train on the CPU`,
    );
  }
  registerWebgpuKernels();
  await activate('webgpu');
  const device = (adapter as { info?: { device?: string } }).info?.device || 'unnamed';
  const ordinal = process.env[GPU_ENV.ordinal];
  const pin =
    ordinal && ordinal !== '0' && !process.env[GPU_ENV.webgpuAdapter]
      ? `; GPU ${ordinal} asked for, but Dawn picks adapters by name only (set ${GPU_ENV.webgpuAdapter})`
      : '';
  return {
    name: 'webgpu',
    reason: `Dawn adapter '${device}'${flags.length ? ` (flags: ${flags.join(' ')})` : ''}, ringtune webgpu kernels registered${pin}`,
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
  if (tf.getBackend() === 'webgpu') tf.removeBackend('webgpu');
  if (dawn != null) {
    delete (globalThis as { navigator?: unknown }).navigator;
    dawn = null;
  }
}
