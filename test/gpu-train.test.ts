/**
 * Training on a real WebGPU adapter (Mesa's lavapipe in CI; skipped with one printed line where
 * there is none). `ringtune launch --workers 2 --backend webgpu` fine_tunes a tiny body for 200
 * steps (the read-back race of Note [read-back ownership] killed a worker by step 6), against the
 * same run on wasm; lr-find, evaluate, predict and export run on webgpu; and a device destroyed
 * mid-run is named like any dead worker while every process goes within 10 s.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { runCli, type CliResult } from './helpers/cli';
import { makeImageFolders } from './helpers/images';
import { writeTinyBody } from './helpers/tiny-body';
import { withAdapter } from './helpers/webgpu';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-gpu-train-'));
const data = join(dir, 'data');
let arch = '';
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  await makeImageFolders(data, { classes: ['a', 'b', 'c', 'd'], trainPerClass: 100, validPerClass: 10, size: 8, pattern: 'tint' });
  arch = await writeTinyBody(join(dir, 'body'), 8);
}, 60_000);

/** 400 images, 2 workers x 4 per step: 50 steps an epoch, 1 frozen + 3 unfrozen epochs = 200 steps. */
const run = (backend: string, out: string) => [
  ...['--backend', backend, '--data', data, '--arch', arch, '--size', '8', '--bs', '4', '--lin-ftrs', ''],
  ...['--freeze-epochs', '1', '--epochs', '3', '--base-lr', '0.03', '--no-flip', '--out', out],
];

type Step = { kind: 'step'; tensors: number };
type Epoch = { kind: 'epoch'; accuracy: number; valid_loss: number; rank_hashes: string[] };

function metrics(out: string): { steps: Step[]; epochs: Epoch[] } {
  const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  return { steps: records.filter((r) => r.kind === 'step'), epochs: records.filter((r) => r.kind === 'epoch') };
}

/** Fails with what the command printed unless it exited 0. */
function succeeded(r: CliResult): void {
  if (r.code !== 0 || r.signal !== null) throw new Error(`exit ${r.code ?? r.signal}; it printed:\n${r.stdout}\n${r.stderr}`);
}

/** The model the first test trains on webgpu; the second evaluates, predicts with and exports it. */
const trained = join(dir, 'webgpu');

withAdapter(
  '2 workers, 200 steps on webgpu: replicas identical every epoch, tensor count flat, accuracy as on wasm, clean exit',
  async () => {
    const gpu = await runCli(['launch', '--workers', '2', ...run('webgpu', trained)], 400_000);
    const text = gpu.stdout + gpu.stderr;
    succeeded(gpu);
    for (const rank of [0, 1]) expect(text).toMatch(new RegExp(`ringtune: rank ${rank}: backend webgpu \\(Dawn adapter '`));
    const g = metrics(trained);
    expect(g.steps).toHaveLength(200);
    expect(new Set(g.steps.slice(1).map((s) => s.tensors)).size).toBe(1);
    expect(g.epochs).toHaveLength(4);
    for (const e of g.epochs) {
      expect(e.rank_hashes).toHaveLength(2);
      expect(e.rank_hashes[1]).toBe(e.rank_hashes[0]);
    }

    const cpu = await runCli(['launch', '--workers', '2', ...run('wasm', join(dir, 'wasm'))], 300_000);
    succeeded(cpu);
    const w = metrics(join(dir, 'wasm'));
    // Same seeds, same batches: the backends differ only in float rounding (summation order), which on
    // 40 validation images may flip a borderline prediction or two, and moves the loss by far less than 5%.
    const [last, ref] = [g.epochs[3], w.epochs[3]];
    expect(ref.accuracy).toBeGreaterThan(0.6); // it learned something to compare
    expect(Math.abs(last.accuracy - ref.accuracy)).toBeLessThanOrEqual(2 / 40);
    expect(Math.abs(last.valid_loss - ref.valid_loss) / ref.valid_loss).toBeLessThan(0.05);
  },
  720_000,
);

withAdapter(
  'lr-find, evaluate, predict and export on webgpu agree with wasm',
  async () => {
    const lrFind = await runCli(['lr-find', '--workers', '2', '--num-it', '20', ...run('webgpu', join(dir, 'lr-find'))], 300_000);
    succeeded(lrFind);
    expect(lrFind.stdout + lrFind.stderr).toMatch(/lr_find: \d+ iterations from 1\.00e-7; weights restored/);
    expect(existsSync(join(dir, 'lr-find', 'lr_find.png'))).toBe(true);

    const evaluation = async (backend: string) => {
      const out = join(dir, `eval-${backend}`);
      const r = await runCli(['evaluate', '--model', trained, '--data', data, '--backend', backend, '--out', out, '--top-losses', '0']);
      succeeded(r);
      return JSON.parse(readFileSync(join(out, 'evaluation.json'), 'utf8')) as { loss: number; accuracy: number; images: number };
    };
    const [eg, ew] = [await evaluation('webgpu'), await evaluation('wasm')];
    expect(eg.images).toBe(40);
    expect(eg.accuracy).toBe(ew.accuracy);
    expect(eg.loss).toBeCloseTo(ew.loss, 4);

    const images = ['a', 'b', 'c', 'd'].map((c) => join(data, 'valid', c, '0.png'));
    const predict = async (backend: string) => {
      const r = await runCli(['predict', '--model', trained, ...images, '--json', '--top', '4', '--backend', backend]);
      succeeded(r);
      return JSON.parse(r.stdout) as { class: string; top: { class: string; probability: number }[] }[];
    };
    const [pg, pw] = [await predict('webgpu'), await predict('wasm')];
    for (let i = 0; i < images.length; i++) {
      expect(pg[i].class).toBe(pw[i].class);
      for (const t of pw[i].top) expect(pg[i].top.find((u) => u.class === t.class)!.probability).toBeCloseTo(t.probability, 4);
    }

    const exported = join(dir, 'exported');
    const ex = await runCli(['export', '--model', trained, '--out', exported, '--backend', 'webgpu']);
    succeeded(ex);
    expect(readFileSync(join(exported, 'weights.bin'))).toEqual(readFileSync(join(trained, 'weights.bin')));
  },
  600_000,
);

withAdapter(
  'a WebGPU device lost mid-run: the worker is named, every process is gone within 10 s',
  async () => {
    const out = join(dir, 'lost');
    const mark = join(dir, 'lost-at');
    const hook = join(dir, 'lose-gpu.js');
    // Preloaded into every process of the run: in a worker, once the run has logged 3 steps, the
    // first worker to take the mark destroys its real WebGPU device (WebGPU's GPUDevice.destroy()).
    writeFileSync(
      hook,
      `
      if (process.argv.includes('worker')) {
        const fs = require('fs');
        const tf = require(${JSON.stringify(require.resolve('@tensorflow/tfjs'))});
        const timer = setInterval(() => {
          const backend = tf.engine().registry.webgpu;
          let steps = 0;
          try { steps = fs.readFileSync(${JSON.stringify(join(out, 'metrics.jsonl'))}, 'utf8').split('"kind":"step"').length - 1; } catch {}
          if (!backend || !backend.device || steps < 3) return;
          clearInterval(timer);
          try { fs.writeFileSync(${JSON.stringify(mark)}, String(Date.now()), { flag: 'wx' }); } catch { return; }
          backend.device.destroy();
        }, 20);
        timer.unref();
      }`,
    );
    const r = await runCli(['launch', '--workers', '2', ...run('webgpu', out)], 300_000, { NODE_OPTIONS: `--require ${hook}` });
    const ended = Date.now();
    expect(existsSync(mark)).toBe(true);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /ringtune: worker rank [01] \(host [^,]+, pid \d+, last finished step \d+\) failed: the WebGPU device was lost \(destroyed: /,
    );
    // runCli returns when launch has exited, and launch exits only after every child has.
    expect(ended - Number(readFileSync(mark, 'utf8'))).toBeLessThan(10_000);
  },
  400_000,
);
