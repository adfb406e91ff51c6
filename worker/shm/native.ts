/**
 * Loads the optional native addon behind the shared-memory all-reduce (worker/shm/native/shm.cc, built
 * by `npm install` where a C++ compiler is present). Absent or broken, it reports why and the
 * workers use the ZeroMQ ring instead; RINGTUNE_NO_SHM=1 turns it off on purpose.
 */
import { statfsSync } from 'fs';
import { loadAddon } from '../addon';

/** The addon's functions (see shm.cc for their contracts). */
export interface ShmNative {
  map(name: string, bytes: number): ArrayBuffer;
  unlink(name: string): void;
  publish(counters: Int32Array, index: number, value: number): void;
  waitAtLeast(counters: Int32Array, index: number, target: number, spins: number, timeoutMs: number): boolean;
  sumInto(dst: Float32Array, sources: Float32Array[], scale: number): void;
}

let loaded: { native: ShmNative | null; reason: string } | null = null;

/**
 * Why a segment of `bytes` cannot be used here ('' when it can): no addon, or too little room in
 * /dev/shm (Docker's default is 64 MiB), which would otherwise fail the run at its first step.
 */
export function shmUnavailable(bytes: number, dir = '/dev/shm'): string {
  const { native, reason } = shmNative();
  if (!native) return reason;
  let free: number;
  try {
    const s = statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch (e) {
    return `cannot read the free space of ${dir}: ${(e as Error).message}`;
  }
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return free < bytes ? `${dir} has ${mib(free)} free, the all-reduce needs ${mib(bytes)} (Docker: --shm-size)` : '';
}

/** The addon, or null with the reason it cannot be used here. */
export function shmNative(): { native: ShmNative | null; reason: string } {
  if (loaded) return loaded;
  if (process.env.RINGTUNE_NO_SHM === '1') return (loaded = { native: null, reason: 'RINGTUNE_NO_SHM=1' });
  if (process.platform !== 'linux')
    return (loaded = { native: null, reason: `shared-memory all-reduce is Linux-only (this is ${process.platform})` });
  return (loaded = loadAddon<ShmNative>(
    'shm',
    'ringtune_shm',
    'the shared-memory addon was not built (npm install needs a C++ compiler; run `npm run build:native`)',
  ));
}
