/**
 * Before any process starts: how many local workers, and which GPU each gets. On webgpu this also
 * checks that Dawn finds an adapter (and the one RINGTUNE_WEBGPU_ADAPTER names), so a machine
 * without one fails at once with one line, not after the coordinator and the workers have started.
 */
import { dawnFlagsFromEnv, GPU_ENV } from '../shared/gpu';
import { assignGpus, numberGpus, pinGpu } from '../shared/gpu-devices';
import { noAdapterError, noMatchError, probeAdapters } from '../worker/webgpu-probe';

/** What the command line asked for. */
export interface WorkerRequest {
  backend: string;
  /** --workers, or its default (one per CPU core) when `workersGiven` is false. */
  workers: number;
  workersGiven: boolean;
  /** --gpus */
  requested?: number[];
}

/**
 * The worker count (one per --gpus entry, or on webgpu one per hardware GPU, unless --workers is
 * given) and each worker's GPU (undefined: no pinning); an error names the flag and the GPUs found.
 */
export function planWorkers(o: WorkerRequest): { workers: number; gpus?: number[] } {
  let workers = o.requested && !o.workersGiven ? o.requested.length : o.workers;
  if (o.backend !== 'webgpu') return { workers, gpus: assignGpus({ workers, requested: o.requested }) ?? undefined };
  const flags = dawnFlagsFromEnv();
  const probe = probeAdapters({ flags });
  if (probe.dawn.length === 0) throw noAdapterError(flags);
  const named = process.env[GPU_ENV.webgpuAdapter]?.trim();
  if (named && !probe.dawn.some((a) => a.name.includes(named))) throw noMatchError(named, GPU_ENV.webgpuAdapter, probe.dawn);
  // A name chosen by hand picks the adapter; numbering GPUs on top of it is for --gpus only.
  const gpus = named && !o.requested ? undefined : numberGpus(probe.dawn, probe.vulkan);
  const hardware = gpus?.filter((g) => !g.software).length ?? 0;
  if (!o.workersGiven && !o.requested && hardware > 0) workers = hardware;
  const assigned = assignGpus({ workers, requested: o.requested, gpus });
  if (gpus && assigned && new Set(assigned).size > 1) for (const g of new Set(assigned)) pinGpu(gpus, g); // fails if they cannot be held apart
  return { workers, gpus: assigned ?? undefined };
}
