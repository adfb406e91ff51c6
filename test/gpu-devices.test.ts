/**
 * Which GPU is which on webgpu (Note [webgpu pinning]): parsing what Dawn and Mesa's
 * device-select layer print, numbering the GPUs, the environment that holds a worker to one, and
 * the refusal of GPUs shared by accident. The lists below are in the exact formats the two print
 * (the lavapipe lines as printed on this machine); the probe is also run for real.
 */
import {
  assignGpus,
  numberGpus,
  parseDawnAdapterList,
  parseDeviceSelectList,
  pinGpu,
  type DawnAdapter,
  type Gpu,
} from '../shared/gpu-devices';
import { probeAdapters } from '../worker/webgpu-probe';
import { webgpuAdapter, withAdapter } from './helpers/webgpu';

const LAVAPIPE = 'llvmpipe (LLVM 15.0.6, 256 bits)';
const H100 = 'NVIDIA H100 80GB HBM3';
/** Two identical GPUs listed out of PCI order, and lavapipe (whose bus the layer prints as zeros). */
const LAYER_LIST = `selectable devices:
  GPU 0: 10de:2330 "${H100}" discrete GPU 0000:19:00.0
  GPU 1: 10de:2330 "${H100}" discrete GPU 0000:18:00.0
  GPU 2: 10005:0 "${LAVAPIPE}" CPU 0000:00:00.0
`;
const dawnSees = (...names: string[]): DawnAdapter[] => names.map((name) => ({ backend: 'vulkan', name }));

describe('parsing', () => {
  test("Dawn's adapter list", () => {
    const message = `no suitable backends found\nAvailable adapters:\n * backend: 'vulkan', name: '${LAVAPIPE}'\n * backend: 'vulkan', name: '${H100}'`;
    expect(parseDawnAdapterList(message)).toEqual(dawnSees(LAVAPIPE, H100));
    expect(parseDawnAdapterList("no adapter with backend 'null' and name 'x' found\nAvailable adapters:")).toEqual([]);
  });

  test("the device-select layer's list, and its absence", () => {
    expect(parseDeviceSelectList(LAYER_LIST)).toEqual([
      { vendorId: 0x10de, deviceId: 0x2330, name: H100, type: 'discrete GPU', pciBus: '0000:19:00.0' },
      { vendorId: 0x10de, deviceId: 0x2330, name: H100, type: 'discrete GPU', pciBus: '0000:18:00.0' },
      { vendorId: 0x10005, deviceId: 0, name: LAVAPIPE, type: 'CPU', pciBus: null },
    ]);
    expect(parseDeviceSelectList(`selectable devices:\n  GPU 0: 10005:0 "${LAVAPIPE}" CPU\n`)).toEqual([
      { vendorId: 0x10005, deviceId: 0, name: LAVAPIPE, type: 'CPU', pciBus: null },
    ]);
    expect(parseDeviceSelectList('Warning: something else\n')).toBeNull();
  });
});

describe('numbering and pinning', () => {
  const gpus = numberGpus(dawnSees(H100, H100, LAVAPIPE), parseDeviceSelectList(LAYER_LIST));

  test('hardware GPUs in PCI order (as nvidia-smi numbers them), software ones last', () => {
    expect(gpus.map((g) => [g.ordinal, g.vulkan?.pciBus ?? null, g.software])).toEqual([
      [0, '0000:18:00.0', false],
      [1, '0000:19:00.0', false],
      [2, null, true],
    ]);
  });

  test('identical GPUs are told apart by PCI address, the only device left to the worker', () => {
    expect(pinGpu(gpus, 1)).toEqual({
      env: { DRI_PRIME: 'pci-0000_19_00_0', MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1' },
      adapterName: H100,
      identity: `GPU 1: ${H100} (10de:2330, PCI 0000:19:00.0), pinned by DRI_PRIME=pci-0000_19_00_0 MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1`,
    });
    expect(pinGpu(gpus, 2).env).toEqual({ MESA_VK_DEVICE_SELECT: '10005:0', MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1' });
    expect(() => pinGpu(gpus, 3)).toThrow(
      /GPU 3 does not exist; Dawn's adapters: GPU 0: NVIDIA H100 80GB HBM3 \(10de:2330, PCI 0000:18:00\.0\); GPU 1/,
    );
  });

  test('a device Dawn cannot open (e.g. a Mesa it refuses) gets no number', () => {
    expect(numberGpus(dawnSees(H100), parseDeviceSelectList(LAYER_LIST)).map((g) => g.vulkan?.pciBus)).toEqual([
      '0000:18:00.0',
      '0000:19:00.0',
    ]);
  });

  test("without the layer: Dawn's names, which hold a worker only to the first of identical GPUs", () => {
    const named = numberGpus(dawnSees(H100, H100), null);
    expect(pinGpu(named, 0)).toMatchObject({ env: {}, adapterName: H100 });
    expect(() => pinGpu(named, 1)).toThrow(/GPU 1: .* and GPU 0: .* share a name.*apt-get install mesa-vulkan-drivers/);
    const distinct = numberGpus(dawnSees('NVIDIA A100-SXM4-40GB', 'NVIDIA L4'), null);
    expect(pinGpu(distinct, 1)).toMatchObject({ env: {}, adapterName: 'NVIDIA L4' });
    expect(numberGpus([{ backend: 'null', name: 'Null backend' }], null)[0].software).toBe(true);
  });

  test('a single adapter needs no pinning', () => {
    expect(pinGpu(numberGpus(dawnSees(LAVAPIPE), null), 0)).toEqual({ env: {}, adapterName: LAVAPIPE, identity: `GPU 0: ${LAVAPIPE}` });
  });
});

describe('which worker gets which GPU', () => {
  const eight: Gpu[] = Array.from({ length: 8 }, (_, ordinal) => ({ ordinal, name: H100, vulkan: null, software: false }));
  const lavapipe: Gpu[] = [{ ordinal: 0, name: LAVAPIPE, vulkan: null, software: true }];

  test('--gpus: one entry per worker; a GPU listed twice is shared on purpose', () => {
    expect(assignGpus({ workers: 2, requested: [3, 1], gpus: eight })).toEqual([3, 1]);
    expect(assignGpus({ workers: 2, requested: [0, 0], gpus: eight })).toEqual([0, 0]);
    expect(assignGpus({ workers: 3, requested: [2, 5, 2] })).toEqual([2, 5, 2]);
  });

  test('a list shorter than the workers would share GPUs by accident: refused, with the list that shares on purpose', () => {
    expect(() => assignGpus({ workers: 3, requested: [0, 1] })).toThrow(
      /--gpus 0,1 lists 2 GPU\(s\) for 3 workers: list one per worker; a GPU listed twice is shared on purpose \(e\.g\. --gpus 0,1,0\)/,
    );
    expect(() => assignGpus({ workers: 2, requested: [0, 8], gpus: eight })).toThrow(/--gpus: there is no GPU 8; Dawn's adapters: GPU 0: /);
  });

  test('without --gpus on webgpu: a GPU each while there are enough, a refusal when not, no pinning on a software adapter', () => {
    expect(assignGpus({ workers: 4, gpus: eight })).toEqual([0, 1, 2, 3]);
    expect(assignGpus({ workers: 1, gpus: eight })).toBeNull();
    expect(() => assignGpus({ workers: 9, gpus: eight })).toThrow(
      /9 workers but 8 GPU\(s\) .*pass --workers 8, or --gpus 0,1,2,3,4,5,6,7,0 to share on purpose/,
    );
    expect(assignGpus({ workers: 2, gpus: lavapipe })).toBeNull();
    expect(assignGpus({ workers: 2 })).toBeNull();
  });
});

withAdapter('the probe finds the real adapter, through Dawn and through the device-select layer', () => {
  const probe = probeAdapters({ flags: [] });
  expect(probe.dawn.map((a) => a.name)).toContain(webgpuAdapter);
  const gpus = numberGpus(probe.dawn, probe.vulkan);
  expect(gpus.map((g) => g.name)).toContain(webgpuAdapter);
  // Dawn's null device is an adapter too (computes nothing), and is never mistaken for a GPU.
  expect(numberGpus(probeAdapters({ flags: ['backend=null'] }).dawn, null)).toEqual([
    { ordinal: 0, name: 'Null backend', vulkan: null, software: true },
  ]);
});
