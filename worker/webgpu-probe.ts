/**
 * What WebGPU adapters this machine has, seen from a child process: Dawn's instance keeps a
 * process alive as long as it is referenced, and Mesa's device-select layer exits the process
 * once it has printed its list (MESA_VK_DEVICE_SELECT=list), so neither can be asked in-process.
 * The child asks Dawn for an adapter by a name no adapter has (Dawn then lists them all), then
 * asks again with the layer in list mode (see Note [webgpu pinning] in shared/gpu-devices.ts).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { parseDawnAdapterList, parseDeviceSelectList, type DawnAdapter, type VulkanDevice } from '../shared/gpu-devices';

/** What the probe found. */
export interface AdapterProbe {
  /** Adapters Dawn can open, in Dawn's order. */
  dawn: DawnAdapter[];
  /** Vulkan devices from Mesa's device-select layer; null when the layer is not installed. */
  vulkan: VulkanDevice[] | null;
}

/** How to install a driver, for the errors that need one. */
export const VULKAN_DRIVER_RECIPE =
  "WebGPU needs a Vulkan driver: the GPU vendor's (NVIDIA: the driver's Vulkan ICD, nvidia_icd.json), or, to test without a GPU, " +
  "Mesa's software one (Debian 12: add the bookworm-backports suite and `apt-get install -t bookworm-backports mesa-vulkan-drivers`, " +
  'see README "Testing without a GPU"); or train on the CPU with --backend wasm';

/** The path of Dawn's Node binding inside the optional npm package `webgpu`. */
export function dawnBindingPath(): string {
  let dir: string;
  try {
    dir = path.dirname(require.resolve('webgpu/package.json'));
  } catch (e) {
    throw new Error(
      `--backend webgpu: the optional npm package 'webgpu' (Dawn) did not load: ${(e as Error).message.split('\n')[0]}; run \`npm install webgpu\``,
    );
  }
  // The package's index.js is ESM; its native binding is plain CommonJS and loads from here.
  return path.join(dir, 'dist', `${process.platform}-${process.arch}`, 'dawn.node');
}

/** An adapter name no adapter has: Dawn answers a request for it with the list of adapters. */
const NO_SUCH_ADAPTER = 'ringtune-lists-the-adapters';

const CHILD = `
const fs = require('fs');
const [binding, flagsJson] = process.argv.slice(1);
const dawn = require(binding);
Object.assign(globalThis, dawn.globals);
const flags = JSON.parse(flagsJson).filter((f) => !f.startsWith('adapter='));
const say = (o) => fs.writeSync(1, JSON.stringify(o) + '\\n');
(async () => {
  let gpu = dawn.create([...flags, 'adapter=${NO_SUCH_ADAPTER}']);
  try {
    say({ dawn: (await gpu.requestAdapter()) == null ? '' : null });
  } catch (e) {
    say({ dawn: String((e && e.message) || e) });
  }
  gpu = null;
  process.env.MESA_VK_DEVICE_SELECT = 'list';
  const again = dawn.create(flags);
  await again.requestAdapter().catch(() => null);
  say({ layer: false });
  process.exit(0);
})();`;

/** Lists the adapters Dawn (with these flags) and Mesa's device-select layer see in environment `env`. */
export function probeAdapters(o: { flags: string[]; env?: NodeJS.ProcessEnv }): AdapterProbe {
  const r = spawnSync(process.execPath, ['-e', CHILD, dawnBindingPath(), JSON.stringify(o.flags)], {
    encoding: 'utf8',
    env: o.env ?? process.env,
    timeout: 60_000,
  });
  const lines = (r.stdout ?? '')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { dawn?: string | null; layer?: boolean });
  const first = lines.find((l) => 'dawn' in l);
  if (r.error || first === undefined || first.dawn === null) {
    const why = r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status ?? r.signal}`);
    throw new Error(`--backend webgpu: could not list the WebGPU adapters (a child process running Dawn failed: ${why})`);
  }
  return { dawn: parseDawnAdapterList(first.dawn ?? ''), vulkan: parseDeviceSelectList(r.stderr ?? '') };
}

/** The error for a machine where Dawn finds no adapter at all. */
export function noAdapterError(flags: string[]): Error {
  return new Error(`--backend webgpu: no GPU adapter: Dawn found none (Dawn flags: ${flags.join(' ') || 'none'}). ${VULKAN_DRIVER_RECIPE}`);
}

/** The error for an adapter name that matches none of the adapters found. */
export function noMatchError(name: string, source: string, found: DawnAdapter[]): Error {
  const list = found.map((a) => `'${a.name}' (${a.backend})`).join(', ');
  return new Error(
    `--backend webgpu: no adapter's name contains '${name}' (${source}); Dawn found: ${list || 'none'}. Set ${source} to part of one of those names`,
  );
}
