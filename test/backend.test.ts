/** Backend selection: what each --backend choice picks here, and the errors when it cannot. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { releaseBackend, selectBackend, BackendChoice } from '../worker/backend';
import { registerWasmKernels, wasmKernels } from '../worker/kernels';
import { onednnKernelNames } from '../worker/kernels/onednn-kernels';
import { onednnNormKernelNames } from '../worker/kernels/onednn-norm';
import { kernelModes } from './helpers/kernel-modes';
import { webgpuAdapter, withAdapter } from './helpers/webgpu';

const onednnInstalled = kernelModes().includes('oneDNN kernels');

const hasTfjsNode = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'].some((p) => {
  try {
    require.resolve(p);
    return true;
  } catch {
    return false;
  }
});

describe('selectBackend', () => {
  test('cpu', async () => {
    const r = await selectBackend('cpu');
    expect(r.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  test('wasm registers ringtune kernels, replacing the stock Conv2DBackpropInput, and oneDNN kernels over them where installed', async () => {
    const r = await selectBackend('wasm');
    const line = onednnInstalled ? 'wasm + oneDNN kernels (oneDNN 2.' : 'wasm kernels: oneDNN not found, install libdnnl-dev for ~3x';
    expect(r).toEqual({ name: 'wasm', reason: expect.stringContaining(line) });
    expect(tf.getBackend()).toBe('wasm');
    const native = new Set([...onednnKernelNames, ...onednnNormKernelNames]);
    for (const k of wasmKernels) {
      const registered = tf.getKernel(k.kernelName, 'wasm');
      expect([k.kernelName, registered === k]).toEqual([k.kernelName, !(onednnInstalled && native.has(k.kernelName))]);
    }
    for (const name of native)
      expect([name, tf.getKernel(name, 'wasm') != null]).toEqual([name, onednnInstalled || !name.startsWith('Ringtune')]);
    for (const name of [
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'UnsortedSegmentSum',
      'Conv2DBackpropInput',
    ]) {
      expect(wasmKernels.map((k) => k.kernelName)).toContain(name);
    }
    await selectBackend('wasm'); // idempotent
    expect(tf.getBackend()).toBe('wasm');
  });

  test('turning oneDNN off restores the wasm kernels, and on again its own', async () => {
    await selectBackend('wasm');
    expect(registerWasmKernels(false)).toEqual({ onednn: false, detail: 'oneDNN kernels turned off' });
    for (const k of wasmKernels) expect(tf.getKernel(k.kernelName, 'wasm')).toBe(k);
    for (const name of onednnNormKernelNames) expect(tf.getKernel(name, 'wasm')).toBeUndefined();
    const conv = tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, tf.ones([2, 2, 1, 1]) as tf.Tensor4D, 1, 'valid');
    expect(Array.from(await conv.data())).toEqual([4, 4, 4, 4]);
    expect(registerWasmKernels(true).onednn).toBe(onednnInstalled);
  });
  (hasTfjsNode ? test.skip : test)('tensorflow without tfjs-node installed: a clear error with the install recipe', async () => {
    await expect(selectBackend('tensorflow')).rejects.toThrow(/--backend tensorflow.*npm install @tensorflow\/tfjs-node-gpu/s);
  });

  (hasTfjsNode ? test.skip : test)('auto falls back to wasm and says why', async () => {
    const r = await selectBackend('auto');
    expect(r.name).toBe('wasm');
    expect(r.reason).toMatch(/auto: @tensorflow\/tfjs-node\(-gpu\) not installed/);
  });

  test('an unknown choice names the flag and the valid values', async () => {
    await expect(selectBackend('tpu' as BackendChoice)).rejects.toThrow(
      /--backend: unknown backend 'tpu' \(expected one of auto, wasm, cpu, webgpu, tensorflow\)/,
    );
  });

  withAdapter('webgpu with an adapter name that matches nothing lists the adapters found and leaves the current backend', async () => {
    await selectBackend('wasm');
    await expect(selectBackend('webgpu', { dawnFlags: ['adapter=no-such-gpu-ringtune'] })).rejects.toThrow(
      `--backend webgpu: no adapter's name contains 'no-such-gpu-ringtune' (Dawn flag adapter=); Dawn found: '${webgpuAdapter}' (vulkan)`,
    );
    expect(tf.getBackend()).toBe('wasm');
    releaseBackend();
  });
});

describe('oneDNN kernels', () => {
  const built = path.join(__dirname, '..', 'dist', 'worker', 'backend.js');

  test("RINGTUNE_NO_ONEDNN=1 keeps the wasm kernels, says why, and their convolution gradients equal oneDNN's", () => {
    if (!fs.existsSync(built)) throw new Error(`${built} missing: run \`npm run build\` first (npm test does)`);
    // A training step's kernels in a fresh process: forward conv, both its gradients, BatchNorm, ReLU.
    const script = `
      const tf = require('@tensorflow/tfjs');
      require(${JSON.stringify(built)}).selectBackend('wasm').then((r) => {
        console.log(r.reason);
        const x = tf.randomUniform([2, 9, 9, 3], -1, 1, 'float32', 1);
        const w = tf.randomUniform([3, 3, 3, 4], -1, 1, 'float32', 2);
        const loss = (x, w) => tf.relu(tf.batchNorm(tf.conv2d(x, w, 2, 'same'), tf.scalar(0.1), tf.scalar(2), tf.scalar(-0.2), tf.scalar(1.5))).square().sum();
        const [dx, dw] = tf.grads(loss)([x, w]);
        console.log(JSON.stringify([...dx.dataSync(), ...dw.dataSync()]));
      });`;
    const run = (env: Record<string, string>) => {
      const r = spawnSync(process.execPath, ['-e', script], {
        cwd: path.join(__dirname, '..'),
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, ...env },
      });
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
      const [line, grads] = r.stdout.trim().split('\n');
      return { line, grads: JSON.parse(grads) as number[] };
    };
    const off = run({ RINGTUNE_NO_ONEDNN: '1' });
    expect(off.line).toMatch(/wasm kernels: RINGTUNE_NO_ONEDNN=1/);
    const on = run({ RINGTUNE_NO_ONEDNN: '' });
    expect(on.line).toMatch(
      onednnInstalled ? /wasm \+ oneDNN kernels \(oneDNN [\d.]+ \(\w+.*, 1 thread\)\)/ : /wasm kernels: oneDNN not found/,
    );
    expect(off.grads.length).toBe(2 * 9 * 9 * 3 + 3 * 3 * 3 * 4);
    const scale = Math.max(...off.grads.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    off.grads.forEach((g, i) => expect(Math.abs(g - on.grads[i])).toBeLessThanOrEqual(1e-5 * scale));
  });
});

describe('webgpu wiring on Dawn', () => {
  const built = path.join(__dirname, '..', 'dist', 'worker', 'backend.js');

  test('webgpu on a machine without a Vulkan driver: one error that names the fix', () => {
    if (!fs.existsSync(built)) throw new Error(`${built} missing: run \`npm run build\` first (npm test does)`);
    const script = `
      const { selectBackend, releaseBackend } = require(${JSON.stringify(built)});
      selectBackend('webgpu').then(() => console.log('chosen'), (e) => console.log('error', e.message)).finally(releaseBackend);`;
    // The Vulkan loader finds no driver: what a machine without a GPU driver (or without Mesa) looks like.
    const noDriver = { ...process.env, VK_DRIVER_FILES: path.join(__dirname, 'no-such-vulkan-driver.json'), VK_ICD_FILENAMES: '' };
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
      cwd: path.join(__dirname, '..'),
      env: noDriver,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^error --backend webgpu: no GPU adapter: Dawn found none \(Dawn flags: none\)\. WebGPU needs a Vulkan driver: .*mesa-vulkan-drivers.*--backend wasm\n$/,
    );
  });

  test('a process that selects webgpu on a null device and releases it exits by itself', () => {
    if (!fs.existsSync(built)) throw new Error(`${built} missing: run \`npm run build\` first (npm test does)`);
    const script = `
      const tf = require('@tensorflow/tfjs');
      const { selectBackend, releaseBackend } = require(${JSON.stringify(built)});
      selectBackend('webgpu', { dawnFlags: ['backend=null'] })
        .then((r) => { console.log('chosen', r.name, tf.getBackend()); releaseBackend(); })
        .catch((e) => { console.log('error', e.message); releaseBackend(); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000, cwd: path.join(__dirname, '..') });
    expect(r.signal).toBeNull(); // not killed by the timeout: the process exited on its own
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/chosen webgpu webgpu/);
  });
});
