/**
 * One worker per GPU: the --gpus list, the environment each worker process gets from a real
 * `launch` (child processes that report what they were given), the refusals, and `ringtune launch
 * --gpus 0,0 --backend webgpu` on the real adapter (where there is one) and on Dawn's null device
 * (wiring only: that device computes nothing). The selection logic itself: gpu-devices.test.ts.
 */
import { RING_MALLOC_TUNABLES } from '../cli/ring-malloc';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { cudaCacheDir, dawnFlagsFromEnv, mergeDawnFlags, parseGpuList, workerGpuEnv } from '../shared/gpu';
import { launch } from '../cli/launch';
import { runCli } from './helpers/cli';
import { makeImageFolders } from './helpers/images';
import { writeTinyBody } from './helpers/tiny-body';
import { webgpuAdapter, withAdapter } from './helpers/webgpu';
import { smallRunFlags } from './helpers/small-run';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-gpu-pin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--gpus list', () => {
  test('parses ordinals, repeats allowed', () => {
    expect(parseGpuList('0')).toEqual([0]);
    expect(parseGpuList('0,1,3')).toEqual([0, 1, 3]);
    expect(parseGpuList(' 0 , 0 ')).toEqual([0, 0]);
  });

  test.each(['', '0,', ',1', '0,a', '-1', '1.5', '0;1'])('rejects %p naming the flag', (text) => {
    expect(() => parseGpuList(text)).toThrow(/--gpus/);
  });
});

describe('worker environment', () => {
  test('pins CUDA, allows growth, keeps a persistent JIT cache', () => {
    const env = workerGpuEnv(3, { XDG_CACHE_HOME: '/var/cache/me' });
    expect(env).toEqual({
      CUDA_VISIBLE_DEVICES: '3',
      TF_FORCE_GPU_ALLOW_GROWTH: 'true',
      CUDA_CACHE_PATH: '/var/cache/me/ringtune/cuda',
      CUDA_CACHE_MAXSIZE: String(4 * 1024 ** 3),
      RINGTUNE_GPU: '3',
    });
  });

  test("keeps the user's own cache settings", () => {
    const env = workerGpuEnv(0, { CUDA_CACHE_PATH: '/scratch/jit', CUDA_CACHE_MAXSIZE: '1000' });
    expect(env.CUDA_CACHE_PATH).toBe('/scratch/jit');
    expect(env.CUDA_CACHE_MAXSIZE).toBe('1000');
    expect(cudaCacheDir({ HOME: '/h' })).toMatch(/ringtune\/cuda$/);
  });

  test('Dawn flags come from RINGTUNE_WEBGPU_ADAPTER and RINGTUNE_DAWN_FLAGS; flags in code win', () => {
    expect(dawnFlagsFromEnv({})).toEqual([]);
    const fromEnv = dawnFlagsFromEnv({
      RINGTUNE_WEBGPU_ADAPTER: 'NVIDIA H100 80GB HBM3',
      RINGTUNE_DAWN_FLAGS: ' backend=vulkan  enable-dawn-features=skip_validation,disable_robustness ',
    });
    expect(fromEnv).toEqual(['adapter=NVIDIA H100 80GB HBM3', 'backend=vulkan', 'enable-dawn-features=skip_validation,disable_robustness']);
    expect(mergeDawnFlags(['backend=null'], fromEnv)).toEqual([
      'backend=null',
      'adapter=NVIDIA H100 80GB HBM3',
      'enable-dawn-features=skip_validation,disable_robustness',
    ]);
    expect(() => dawnFlagsFromEnv({ RINGTUNE_DAWN_FLAGS: 'backend' })).toThrow(/RINGTUNE_DAWN_FLAGS: 'backend' is not a Dawn flag/);
  });

  test('launch gives each worker process its GPU and leaves the coordinator alone', async () => {
    const probeDir = join(dir, 'probe');
    const probe = join(dir, 'probe.js');
    // Stands in for the CLI: each child writes down its role and the GPU variables it was started with.
    writeFileSync(
      probe,
      `
      const fs = require('fs');
      const keys = ['CUDA_VISIBLE_DEVICES', 'TF_FORCE_GPU_ALLOW_GROWTH', 'CUDA_CACHE_PATH', 'RINGTUNE_GPU', 'GLIBC_TUNABLES'];
      fs.mkdirSync(process.env.PROBE_DIR, { recursive: true });
      const env = Object.fromEntries(keys.map((k) => [k, process.env[k] ?? null]));
      fs.writeFileSync(process.env.PROBE_DIR + '/' + process.pid + '.json', JSON.stringify({ role: process.argv[2], env }));`,
    );
    const code = await launch({
      cli: probe,
      workers: 3,
      gpus: [2, 5, 2],
      runArgs: [],
      env: { PROBE_DIR: probeDir, CUDA_VISIBLE_DEVICES: 'as-launched', CUDA_CACHE_PATH: '/tmp/jit' },
      log: () => undefined,
    });
    expect(code).toBe(0);
    const seen = readdirSync(probeDir).map((f) => JSON.parse(readFileSync(join(probeDir, f), 'utf8')));
    const coordinator = seen.filter((s) => s.role === 'coordinator');
    const workers = seen.filter((s) => s.role === 'worker');
    expect(coordinator).toHaveLength(1);
    expect(coordinator[0].env.CUDA_VISIBLE_DEVICES).toBe('as-launched');
    expect(coordinator[0].env.RINGTUNE_GPU).toBeNull();
    expect(workers.map((w) => w.env.CUDA_VISIBLE_DEVICES).sort()).toEqual(['2', '2', '5']);
    for (const w of workers) {
      expect(w.env.RINGTUNE_GPU).toBe(w.env.CUDA_VISIBLE_DEVICES);
      expect(w.env.TF_FORCE_GPU_ALLOW_GROWTH).toBe('true');
      expect(w.env.CUDA_CACHE_PATH).toBe('/tmp/jit');
      expect(w.env.GLIBC_TUNABLES).toBe(RING_MALLOC_TUNABLES); // the ring's malloc settings, read by glibc at start
    }
  });
});

describe('ringtune launch --gpus', () => {
  test('a bad list is refused before any process starts, naming the flag', async () => {
    const r = await runCli(['launch', '--gpus', '0,x', '--data', dir], 30_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--gpus: 'x' is not a GPU number/);
  });

  test('fewer GPUs than workers (sharing by accident) is refused before any process starts', async () => {
    const r = await runCli(['launch', '--gpus', '0', '--workers', '2', '--backend', 'wasm', '--data', dir], 30_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'ringtune: --gpus 0 lists 1 GPU(s) for 2 workers: list one per worker; a GPU listed twice is shared on purpose (e.g. --gpus 0,0)\n',
    );
  });

  withAdapter('on webgpu a GPU that does not exist is refused, listing the GPUs Dawn found', async () => {
    const r = await runCli(['launch', '--gpus', '0,1', '--backend', 'webgpu', '--data', dir], 30_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^ringtune: --gpus: there is no GPU 1; Dawn's adapters: GPU 0: ${webgpuAdapter!.replace(/[()]/g, '\\$&')}`),
    );
  });

  withAdapter('--gpus 0,0 on the real adapter: both workers held to GPU 0, each naming it', async () => {
    const data = join(dir, 'tiny-data');
    await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 8, validPerClass: 2, size: 8 });
    const arch = await writeTinyBody(join(dir, 'tiny-body'), 8);
    const r = await runCli(
      [
        ...['launch', '--gpus', '0,0', '--backend', 'webgpu', '--data', data, '--arch', arch],
        ...['--size', '8', '--bs', '4', '--lin-ftrs', '', '--out', join(dir, 'tiny-out')],
      ],
      120_000,
    );
    expect(r.code).toBe(0);
    for (const rank of [0, 1]) expect(r.stderr).toContain(`ringtune: rank ${rank}: backend webgpu (Dawn adapter '`);
    expect(r.stderr.split(` on GPU 0: ${webgpuAdapter}`)).toHaveLength(3);
  });

  test('--gpus 0,0 --backend webgpu starts one worker per entry on the Dawn adapter with ringtune kernels (null device)', async () => {
    const data = join(dir, 'data');
    await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 16, validPerClass: 4, size: 16 });
    const r = await runCli(
      ['launch', '--gpus', '0,0', ...smallRunFlags({ data, backend: 'webgpu', epochs: 0, freezeEpochs: 1 }), '--out', join(dir, 'out')],
      120_000,
      { RINGTUNE_DAWN_FLAGS: 'backend=null' },
    );
    const text = r.stdout + r.stderr;
    for (const rank of [0, 1])
      expect(text).toContain(
        `rank ${rank}: backend webgpu (Dawn adapter 'null-backend' (flags: backend=null) on GPU 0: Null backend, ringtune webgpu kernels registered)`,
      );
    expect(text).toMatch(/2 worker\(s\) ready on backend webgpu/);
    expect(text).toMatch(/fine_tune: frozen phase/);
    // The null device returns arbitrary bytes on read-back, so the run may stop at the replica
    // check; what matters here is that every process ended by itself (runCli fails on a hang).
    expect(r.signal).toBeNull();
  });
});
