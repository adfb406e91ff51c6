/**
 * One worker per GPU: the `--gpus` list, the environment that pins a worker process to its GPU,
 * and the Dawn flags the webgpu backend takes from the environment.
 *
 * libtensorflow (tfjs-node-gpu) honours CUDA_VISIBLE_DEVICES, read once when the addon loads, so
 * the launcher sets it per child process. Dawn (Vulkan underneath) does not: the NVIDIA Vulkan
 * driver lists every GPU whatever CUDA_VISIBLE_DEVICES says. On webgpu the worker holds itself to
 * GPU RINGTUNE_GPU through the Vulkan loader (Note [webgpu pinning] in gpu-devices.ts).
 */
import { homedir } from 'os';
import { join } from 'path';

/** Environment variables ringtune reads (besides the CUDA ones it sets). */
export const GPU_ENV = {
  /** The GPU this worker was given (`--gpus` entry): webgpu holds the worker to it, and logs say it. */
  ordinal: 'RINGTUNE_GPU',
  /** Dawn adapter name for webgpu (first adapter whose name contains it). */
  webgpuAdapter: 'RINGTUNE_WEBGPU_ADAPTER',
  /** Extra Dawn flags, space-separated, e.g. `backend=null` or `enable-dawn-features=skip_validation`. */
  dawnFlags: 'RINGTUNE_DAWN_FLAGS',
} as const;

/** Parses `--gpus 0,1,...`: GPU ordinals as nvidia-smi numbers them; repeats allowed (`0,0`: two workers share GPU 0). */
export function parseGpuList(text: string, flag = '--gpus'): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === ''))
    throw new Error(`${flag} must be a comma-separated list of GPU numbers like 0,1, got '${text}'`);
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new Error(`${flag}: '${p}' is not a GPU number (whole number >= 0) in '${text}'`);
    return Number(p);
  });
}

/** Where the CUDA driver keeps its JIT cache across runs (PTX for sm_90 takes minutes to compile once). */
export function cudaCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CUDA_CACHE_PATH ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ringtune', 'cuda');
}

/**
 * Environment for a worker process pinned to GPU `gpu`: CUDA_VISIBLE_DEVICES, growth instead of
 * grabbing all GPU memory, a persistent JIT cache (raised to the driver's 4 GiB maximum so
 * libtensorflow's kernels are not evicted), and the ordinal for logs. A user's own
 * CUDA_CACHE_PATH / CUDA_CACHE_MAXSIZE are kept.
 */
export function workerGpuEnv(gpu: number, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    CUDA_VISIBLE_DEVICES: String(gpu),
    TF_FORCE_GPU_ALLOW_GROWTH: 'true',
    CUDA_CACHE_PATH: cudaCacheDir(env),
    CUDA_CACHE_MAXSIZE: env.CUDA_CACHE_MAXSIZE ?? String(4 * 1024 ** 3),
    [GPU_ENV.ordinal]: String(gpu),
  };
}

/** Dawn flags from the environment: `adapter=<RINGTUNE_WEBGPU_ADAPTER>` and RINGTUNE_DAWN_FLAGS. */
export function dawnFlagsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const flags: string[] = [];
  const adapter = env[GPU_ENV.webgpuAdapter]?.trim();
  if (adapter) flags.push(`adapter=${adapter}`);
  for (const f of (env[GPU_ENV.dawnFlags] ?? '').split(/\s+/)) {
    if (f === '') continue;
    if (!/^[a-z-]+=\S+$/.test(f))
      throw new Error(`${GPU_ENV.dawnFlags}: '${f}' is not a Dawn flag of the form name=value (e.g. backend=null)`);
    flags.push(f);
  }
  return flags;
}

/** Joins flags given in code with those from the environment; a flag given in code wins over the same name from the environment. */
export function mergeDawnFlags(explicit: string[], fromEnv: string[]): string[] {
  const named = new Set(explicit.map((f) => f.split('=')[0]));
  return [...explicit, ...fromEnv.filter((f) => !named.has(f.split('=')[0]))];
}
