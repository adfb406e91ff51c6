/**
 * Which GPU is which on webgpu, and how one worker process is held to one of them.
 *
 * Note [webgpu pinning]: Dawn's Node binding opens the first adapter whose name contains its
 * `adapter=` flag, and WebGPU exposes no PCI address or UUID, so identical GPUs cannot be told
 * apart from inside Dawn. The Vulkan loader can: Mesa's device-select layer (an implicit Vulkan
 * layer shipped with mesa-vulkan-drivers, active for every Vulkan driver, NVIDIA's included)
 * lists every device with its PCI address (MESA_VK_DEVICE_SELECT=list), picks one by PCI address
 * (DRI_PRIME=pci-dddd_bb_dd_f) or by vendor:device id (MESA_VK_DEVICE_SELECT=vvvv:dddd), and with
 * MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1 shows the process that one device only. So GPU i is
 * the i-th hardware device in PCI order (nvidia-smi's numbering), software devices (lavapipe)
 * after them; a worker gets the environment that leaves it only its own device, plus Dawn's
 * `adapter=<name>` so the adapter it opens is checked by name. Without the layer, only Dawn's
 * adapter names are known, and GPUs are told apart by name only when their names differ.
 */

/** An adapter as Dawn lists it. */
export interface DawnAdapter {
  backend: string;
  name: string;
}

/** A Vulkan device as Mesa's device-select layer lists it. */
export interface VulkanDevice {
  vendorId: number;
  deviceId: number;
  name: string;
  /** 'discrete GPU', 'integrated GPU', 'virtual GPU', 'CPU' or 'other'. */
  type: string;
  /** dddd:bb:dd.f, or null when the driver does not report one. */
  pciBus: string | null;
}

/** One GPU as ringtune numbers them: `--gpus` entry `ordinal`. */
export interface Gpu {
  ordinal: number;
  name: string;
  /** The Vulkan device, when Mesa's device-select layer listed it. */
  vulkan: VulkanDevice | null;
  /** True for a device that runs on the CPU (lavapipe): sharing it is sharing CPU cores. */
  software: boolean;
}

/** How a worker process is held to its GPU: environment for the Vulkan loader, and the Dawn adapter name. */
export interface GpuPin {
  env: Record<string, string>;
  adapterName: string;
  /** For logs: 'GPU 1: NVIDIA H100 80GB HBM3 (10de:2330, PCI 0000:19:00.0), pinned by DRI_PRIME=...'. */
  identity: string;
}

/** Names of adapters that run on the CPU, for when only Dawn's names are known (Dawn's null device computes nothing at all). */
const SOFTWARE = /llvmpipe|lavapipe|swiftshader/i;

/** Parses the adapter list of Dawn's "no adapter ... found / Available adapters:" message. */
export function parseDawnAdapterList(message: string): DawnAdapter[] {
  const out: DawnAdapter[] = [];
  for (const line of message.split('\n')) {
    const m = /^ \* backend: '([^']*)', name: '(.*)'$/.exec(line);
    if (m) out.push({ backend: m[1], name: m[2] });
  }
  return out;
}

/** Parses what Mesa's device-select layer prints for MESA_VK_DEVICE_SELECT=list (null: it printed nothing). */
export function parseDeviceSelectList(text: string): VulkanDevice[] | null {
  if (!text.includes('selectable devices:')) return null;
  const out: VulkanDevice[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*GPU \d+: ([0-9a-f]+):([0-9a-f]+) "(.*)" (.+?)(?: ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]))?\s*$/i.exec(line);
    if (!m) continue;
    const software = m[4] === 'CPU';
    out.push({
      vendorId: parseInt(m[1], 16),
      deviceId: parseInt(m[2], 16),
      name: m[3],
      type: m[4],
      pciBus: m[5] && !software ? m[5].toLowerCase() : null,
    });
  }
  return out;
}

/**
 * Numbers the GPUs Dawn can open: with the layer's list, hardware devices in PCI order, then
 * devices without an address, then software ones (a device Dawn does not list, e.g. a Mesa it
 * refuses, is left out); without it, Dawn's adapters in Dawn's order.
 */
export function numberGpus(dawn: DawnAdapter[], vulkan: VulkanDevice[] | null): Gpu[] {
  if (vulkan == null || dawn.some((a) => a.backend !== 'vulkan'))
    return dawn.map((a, ordinal) => ({ ordinal, name: a.name, vulkan: null, software: a.backend === 'null' || SOFTWARE.test(a.name) }));
  const usable = vulkan.filter((d) => dawn.some((a) => a.name === d.name));
  const rank = (d: VulkanDevice) => (d.type === 'CPU' ? 2 : d.pciBus ? 0 : 1);
  const ordered = usable
    .map((d, i) => ({ d, i }))
    .sort((a, b) => rank(a.d) - rank(b.d) || (a.d.pciBus ?? '').localeCompare(b.d.pciBus ?? '') || a.i - b.i)
    .map(({ d }) => d);
  return ordered.map((d, ordinal) => ({ ordinal, name: d.name, vulkan: d, software: d.type === 'CPU' }));
}

const hex4 = (n: number) => n.toString(16).padStart(4, '0');

/** Describes a GPU for logs and error messages. */
export function describeGpu(g: Gpu): string {
  const v = g.vulkan;
  const ids = v ? ` (${hex4(v.vendorId)}:${hex4(v.deviceId)}${v.pciBus ? `, PCI ${v.pciBus}` : ''}${g.software ? ', software' : ''})` : '';
  return `GPU ${g.ordinal}: ${g.name}${ids}`;
}

/** Lists the GPUs for an error message. */
export function describeGpus(gpus: Gpu[]): string {
  return gpus.length ? gpus.map(describeGpu).join('; ') : 'none';
}

/** The environment and adapter name that hold a worker to `gpus[ordinal]` (Note [webgpu pinning]). */
export function pinGpu(gpus: Gpu[], ordinal: number): GpuPin {
  const g = gpus[ordinal];
  if (g == null) throw new Error(`GPU ${ordinal} does not exist; Dawn's adapters: ${describeGpus(gpus)}`);
  const pinned = (env: Record<string, string>): GpuPin => {
    const how = Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return { env, adapterName: g.name, identity: `${describeGpu(g)}${how ? `, pinned by ${how}` : ''}` };
  };
  if (gpus.length === 1) return pinned({});
  const force = { MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1' };
  const v = g.vulkan;
  if (v?.pciBus) {
    const [domain, bus, rest] = v.pciBus.split(':');
    const [dev, fn] = rest.split('.');
    return pinned({ DRI_PRIME: `pci-${domain}_${bus}_${dev}_${fn}`, ...force });
  }
  const sameIds = gpus.filter((o) => o.vulkan && v && o.vulkan.vendorId === v.vendorId && o.vulkan.deviceId === v.deviceId);
  if (v && sameIds.length === 1)
    return pinned({ MESA_VK_DEVICE_SELECT: `${v.vendorId.toString(16)}:${v.deviceId.toString(16)}`, ...force });
  // Dawn opens the first adapter whose name contains the one asked for: without the layer the
  // numbering is Dawn's order, so only an earlier adapter can get in the way.
  const clash = gpus.find((o) => o !== g && o.name.includes(g.name) && (v != null || o.ordinal < g.ordinal));
  if (clash == null) return pinned({});
  throw new Error(
    `cannot hold a worker to GPU ${ordinal} alone: ${describeGpu(g)} and ${describeGpu(clash)} share a name, and ` +
      (v
        ? 'the Vulkan driver reports no PCI address to tell them apart'
        : "only Mesa's Vulkan device-select layer can tell identical GPUs apart and it is not installed (Debian: apt-get install mesa-vulkan-drivers; it works for every Vulkan driver)"),
  );
}

/**
 * The GPU of each of `workers` workers. With `--gpus`, worker i gets list entry i; every entry must
 * exist, and there must be one entry per worker (a GPU listed twice is shared on purpose, one
 * reached by cycling a short list would be shared by accident). Without it, on webgpu (`gpus`
 * known), worker i gets GPU i when there are enough hardware GPUs; no pinning when there is no
 * hardware GPU (a software adapter runs on the CPU cores); a refusal otherwise.
 */
export function assignGpus(o: { workers: number; requested?: number[]; gpus?: Gpu[] }): number[] | null {
  const { workers, requested, gpus } = o;
  if (requested) {
    if (requested.length < workers)
      throw new Error(
        `--gpus ${requested.join(',')} lists ${requested.length} GPU(s) for ${workers} workers: list one per worker; ` +
          `a GPU listed twice is shared on purpose (e.g. --gpus ${Array.from({ length: workers }, (_, i) => requested[i % requested.length]).join(',')})`,
      );
    const missing = gpus ? requested.find((r) => r >= gpus.length) : undefined;
    if (missing !== undefined) throw new Error(`--gpus: there is no GPU ${missing}; Dawn's adapters: ${describeGpus(gpus!)}`);
    return requested.slice(0, workers);
  }
  if (!gpus || workers === 1) return null;
  const hardware = gpus.filter((g) => !g.software);
  if (hardware.length === 0) return null;
  if (hardware.length < workers)
    throw new Error(
      `${workers} workers but ${hardware.length} GPU(s) (${describeGpus(hardware)}): workers would share a GPU; ` +
        `pass --workers ${hardware.length}, or --gpus ${Array.from({ length: workers }, (_, i) => hardware[i % hardware.length].ordinal).join(',')} to share on purpose`,
    );
  return hardware.slice(0, workers).map((g) => g.ordinal);
}
