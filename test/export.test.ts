/**
 * `ringtune export` round trip: a model trained by a real `ringtune launch` run is exported and
 * loaded in a fresh Node process that has nothing but plain @tensorflow/tfjs (as a browser
 * would); its probabilities must equal the trained model's softmax(logits).
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { makeImageFolders } from './helpers/images';
import { runCli } from './helpers/cli';
import { loadModelDir } from '../worker/models/io';
import { Rng } from '../shared/rng';
import { exportModel, topologyClassNames, unknownClasses } from '../cli/commands/export';
import { evaluate } from '../cli/commands/evaluate';
import { EXPORT_SOFTMAX_LAYER, TRAINING_STATS } from '../worker/inference';
import { smallRunFlags } from './helpers/small-run';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-export-'));
const data = join(dir, 'data');
const run = join(dir, 'run');
const exported = join(dir, 'exported');
const size = 16;

beforeAll(async () => {
  await makeImageFolders(data, { classes: ['left', 'middle', 'right'], trainPerClass: 16, validPerClass: 5, size: 20 });
  const r = await runCli(['launch', '--workers', '1', ...smallRunFlags({ data, size, freezeEpochs: 0 }), '--out', run], 180_000);
  if (r.code !== 0) throw new Error(`training for the export tests failed:\n${r.stdout}\n${r.stderr}`);
  const e = await runCli(['export', '--model', run, '--out', exported, '--backend', 'wasm']);
  if (e.code !== 0) throw new Error(`export failed:\n${e.stdout}\n${e.stderr}`);
}, 200_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Loads `modelDir` in a fresh process with only @tensorflow/tfjs and predicts `x`. */
function predictInPlainTfjs(modelDir: string, x: Float32Array, shape: number[]): { probs: number[]; lastLayer: string } {
  const input = join(dir, 'input.json');
  writeFileSync(input, JSON.stringify({ data: Array.from(x), shape }));
  const script = `
    const tf = require('@tensorflow/tfjs'); const fs = require('fs'); const path = require('path');
    const [dir, input] = process.argv.slice(1);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const handler = { load: async () => {
      const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
      return { modelTopology: json.modelTopology, format: json.format, weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
               weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
    } };
    tf.loadLayersModel(handler).then((m) => {
      const x = JSON.parse(fs.readFileSync(input, 'utf8'));
      const y = m.predict(tf.tensor4d(x.data, x.shape));
      console.log('RESULT ' + JSON.stringify({ probs: Array.from(y.dataSync()), lastLayer: m.layers[m.layers.length - 1].getClassName() }));
    });`;
  const r = spawnSync(process.execPath, ['-e', script, modelDir, input], { cwd: join(__dirname, '..'), encoding: 'utf8', timeout: 60_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`plain tfjs could not load ${modelDir}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice(7));
}

describe('ringtune export', () => {
  test('writes model.json, weights.bin (the trained bytes), labels.json and preprocessing.json', () => {
    expect(readdirSync(exported).sort()).toEqual(['labels.json', 'model.json', 'preprocessing.json', 'weights.bin']);
    expect(readFileSync(join(exported, 'weights.bin')).equals(readFileSync(join(run, 'weights.bin')))).toBe(true);
    expect(readFileSync(join(exported, 'labels.json'), 'utf8')).toBe(readFileSync(join(run, 'labels.json'), 'utf8'));
    const prep = JSON.parse(readFileSync(join(exported, 'preprocessing.json'), 'utf8'));
    expect(prep).toMatchObject({
      size,
      mean: TRAINING_STATS.mean,
      std: TRAINING_STATS.std,
      layout: 'NHWC',
      channelOrder: 'RGB',
      pixelScale: 255,
      output: 'probabilities',
    });
    expect(prep.version).toBe(2);
    expect(prep.resize).toEqual({
      method: 'squish',
      to: size + Math.ceil((size * 0.14) / 8) * 8,
      filter: 'bilinear',
      reference: 'PIL.Image.resize',
    });
    expect(prep.crop).toEqual({ kind: 'centre', size });
  });

  test('model.json holds only classes plain TensorFlow.js knows, and ends in a softmax', () => {
    const json = JSON.parse(readFileSync(join(exported, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(unknownClasses(json.modelTopology)).toEqual([]);
    const layers = json.modelTopology.config.layers;
    expect(layers[layers.length - 1]).toMatchObject({
      class_name: 'Activation',
      name: EXPORT_SOFTMAX_LAYER,
      config: { activation: 'softmax' },
    });
  });

  test('round trip: plain tfjs in a fresh process predicts what the trained model predicts', async () => {
    const rng = new Rng(5);
    const n = 4;
    const x = Float32Array.from({ length: n * size * size * 3 }, () => rng.normal());
    const plain = predictInPlainTfjs(exported, x, [n, size, size, 3]);
    expect(plain.lastLayer).toBe('Activation');
    const trained = await loadModelDir(join(run, 'model.json'));
    const ref = tf.tidy(() => Array.from(tf.softmax(trained.predict(tf.tensor4d(x, [n, size, size, 3])) as tf.Tensor2D).dataSync()));
    trained.dispose();
    expect(plain.probs).toHaveLength(n * 3);
    const worst = Math.max(...plain.probs.map((p, i) => Math.abs(p - ref[i])));
    expect(worst).toBeLessThan(1e-6);
  });

  test('evaluate gives the same numbers on the export as on the training output', async () => {
    const opts = { data, split: 'valid' as const, bs: 8, topLosses: 0, backend: 'wasm' as const };
    const a = await evaluate({ ...opts, model: run, out: join(dir, 'eval-run') });
    const b = await evaluate({ ...opts, model: exported, out: join(dir, 'eval-exp') });
    expect(b.summary.loss).toBeCloseTo(a.summary.loss, 6);
    expect(b.summary.confusion).toEqual(a.summary.confusion);
  });

  test('exporting an export keeps one softmax and the same weights', async () => {
    const again = join(dir, 'again');
    await exportModel(exported, again);
    const layers = JSON.parse(readFileSync(join(again, 'model.json'), 'utf8')).modelTopology.config.layers;
    expect(layers.filter((l: { name: string }) => l.name === EXPORT_SOFTMAX_LAYER)).toHaveLength(1);
    expect(readFileSync(join(again, 'weights.bin')).equals(readFileSync(join(run, 'weights.bin')))).toBe(true);
  });
});

describe('bad input', () => {
  test('exporting onto the model folder, a missing model folder or file: exit 1 naming it', async () => {
    const same = await runCli(['export', '--model', run, '--out', run]);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain(`--out ${run} is the model folder itself`);
    const missing = await runCli(['export', '--model', join(dir, 'nope'), '--out', join(dir, 'x')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`model folder ${join(dir, 'nope')} does not exist`);
    const partial = join(dir, 'partial');
    mkdirSync(partial);
    for (const f of ['model.json', 'weights.bin', 'config.json']) copyFileSync(join(run, f), join(partial, f));
    await expect(exportModel(partial, join(dir, 'y'))).rejects.toThrow(`cannot read labels file ${join(partial, 'labels.json')}`);
  });

  test('unknownClasses finds classes plain tfjs lacks, anywhere in the topology', () => {
    const topology = {
      class_name: 'Model',
      config: { layers: [{ class_name: 'Dense', config: { kernel_initializer: { class_name: 'MyInit' } } }, { class_name: 'MyLayer' }] },
    };
    expect(topologyClassNames(topology)).toEqual(['Dense', 'Model', 'MyInit', 'MyLayer']);
    expect(unknownClasses(topology)).toEqual(['MyInit', 'MyLayer']);
  });
});
