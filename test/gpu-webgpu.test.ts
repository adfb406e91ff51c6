/**
 * webgpu wiring on Dawn's null device (initialises, runs every dispatch's validation, computes
 * nothing): selection registers ringtune's kernels and flags, a training step of a net with
 * every layer kind goes through them with no tensor leak, stock kernels come back on request,
 * and the process exits by itself. Runs the compiled modules in a child process, since Dawn's
 * instance lives as long as the process that created it.
 */
import { spawnSync } from 'child_process';
import { existsSync } from 'fs';
import { join } from 'path';

const root = join(__dirname, '..');
const dist = (p: string) => JSON.stringify(join(root, 'dist', p));

function runNode(script: string, env: NodeJS.ProcessEnv = {}) {
  if (!existsSync(join(root, 'dist', 'worker', 'backend.js'))) throw new Error('dist/ missing: run `npm run build` first (npm test does)');
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 90_000, cwd: root, env: { ...process.env, ...env } });
}

test('selecting webgpu registers ringtune kernels and flags; a training step runs through them; stock comes back; the process exits', () => {
  const script = `
    const tf = require('@tensorflow/tfjs');
    const { selectBackend, releaseBackend } = require(${dist('worker/backend.js')});
    const { webgpuKernels, webgpuFlags, restoreStockWebgpuKernels, registerWebgpuKernels } = require(${dist('worker/kernels/webgpu.js')});
    const { fusedBatchNormGradConfig } = require(${dist('worker/kernels/batchnorm-grad.js')});
    const out = (k, v) => console.log(k + '=' + JSON.stringify(v));
    (async () => {
      const stockBnGrad = tf.getGradient('FusedBatchNorm');
      const r = await selectBackend('webgpu');
      out('backend', [r.name, tf.getBackend(), r.reason]);
      out('registered', webgpuKernels.every((k) => tf.getKernel(k.kernelName, 'webgpu') === k));
      out('flags', Object.keys(webgpuFlags).every((f) => tf.env().get(f) === webgpuFlags[f]));
      out('bnGrad', tf.getGradient('FusedBatchNorm') === fusedBatchNormGradConfig);
      const inp = tf.input({ shape: [16, 16, 3] });
      let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(inp);
      x = tf.layers.reLU().apply(tf.layers.batchNormalization().apply(x));
      x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(x);
      x = tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false }).apply(x);
      const model = tf.model({ inputs: inp, outputs: tf.layers.dense({ units: 4 }).apply(tf.layers.globalAveragePooling2d({}).apply(x)) });
      const vars = model.trainableWeights.map((w) => w.val);
      const xs = tf.randomNormal([4, 16, 16, 3]);
      const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
      const calls = {};
      const step = async () => {
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true })), vars);
        const shapes = vars.map((v) => grads[v.name].shape.join('x'));
        const flat = tf.tidy(() => tf.concat(vars.map((v) => tf.reshape(grads[v.name], [-1]))));
        await flat.data();
        tf.dispose([value, flat, ...Object.values(grads)]);
        return shapes;
      };
      const before = (await step(), await step(), tf.memory().numTensors);
      const shapes = await step();
      await step();
      out('gradShapes', shapes);
      out('tensorsFlat', tf.memory().numTensors === before);
      restoreStockWebgpuKernels();
      // Kernels that replace a stock one give it back; ringtune's own (Ringtune*) stay for the fused ops.
      const replacing = webgpuKernels.filter((k) => !k.kernelName.startsWith('Ringtune'));
      out('stockBack', replacing.every((k) => tf.getKernel(k.kernelName, 'webgpu') !== k && tf.getKernel(k.kernelName, 'webgpu') != null)
        && tf.env().get('WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE') === true && tf.getGradient('FusedBatchNorm') === stockBnGrad);
      await step();
      registerWebgpuKernels();
      out('again', webgpuKernels.every((k) => tf.getKernel(k.kernelName, 'webgpu') === k));
      releaseBackend();
    })().catch((e) => { console.log('error=' + JSON.stringify(e.stack)); releaseBackend(); });`;
  const r = runNode(script, { RINGTUNE_DAWN_FLAGS: 'backend=null' });
  expect(r.signal).toBeNull(); // not killed by the timeout: it exited on its own
  expect(r.status).toBe(0);
  const got = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), JSON.parse(l.slice(l.indexOf('=') + 1))]),
  );
  expect(got.error).toBeUndefined();
  expect(got.backend).toEqual([
    'webgpu',
    'webgpu',
    expect.stringMatching(/^Dawn adapter 'null-backend' \(flags: backend=null\), ringtune webgpu kernels registered$/),
  ]);
  expect(got).toMatchObject({ registered: true, flags: true, bnGrad: true, tensorsFlat: true, stockBack: true, again: true });
  expect(got.gradShapes).toEqual(['3x3x3x8', '8', '8', '3x3x8x1', '1x1x8x16', '16x4', '4']);
});

test('a worker given a GPU holds itself to it and names it; on a software adapter any GPU number lands on it', () => {
  const script = `
    const { selectBackend, releaseBackend } = require(${dist('worker/backend.js')});
    selectBackend('webgpu').then((r) => { console.log(r.reason); releaseBackend(); }, (e) => { console.log('error', e.message); releaseBackend(); });`;
  const on0 = runNode(script, { RINGTUNE_DAWN_FLAGS: 'backend=null', RINGTUNE_GPU: '0' });
  expect(on0.status).toBe(0);
  expect(on0.stdout).toBe("Dawn adapter 'null-backend' (flags: backend=null) on GPU 0: Null backend, ringtune webgpu kernels registered\n");
  // A cluster task's local rank on a node without a GPU: Dawn's null device, like lavapipe, computes on no GPU.
  const on1 = runNode(script, { RINGTUNE_DAWN_FLAGS: 'backend=null', RINGTUNE_GPU: '1' });
  expect(on1.status).toBe(0);
  expect(on1.stdout).toBe(
    "Dawn adapter 'null-backend' (flags: backend=null) on GPU 0: Null backend (for GPU 1: no hardware GPU here), ringtune webgpu kernels registered\n",
  );
});
