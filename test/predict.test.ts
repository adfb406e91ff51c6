/**
 * `ringtune predict` on a model folder built with buildNet + saveModelDir: the CLI's
 * probabilities must equal a reference computed here from preprocessing's own definition
 * (decode, fastai's validation squash + centre crop, /255, ImageNet mean/std, softmax of the logits).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import sharp from 'sharp';
import { buildNet } from '../worker/models';
import { loadModelDir, saveModelDir } from '../worker/models/io';
import { runCli } from './helpers/cli';
import { makeImageFolders } from './helpers/images';
import { disposeClassifier, loadClassifier, scoreFiles, TRAINING_STATS } from '../worker/inference';
import { formatPredictions, topK } from '../cli/commands/predict';
import { decodeRgb } from '../worker/data/decode';
import { validationPlan } from '../worker/data/augment';
import { resizeCropRgb } from '../worker/data/resample';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-predict-'));
const model = join(dir, 'model');
const labels = ['circle', 'square', 'triangle'];
const size = 16;
let images: string[];

beforeAll(async () => {
  const net = await buildNet({ arch: 'resnet-small', nClasses: 3, size, seed: 7 });
  expect(net.stats).toEqual(TRAINING_STATS); // inference assumes buildNet's statistics when config.json has none
  await saveModelDir(net.model, model, { 'labels.json': JSON.stringify(labels), 'config.json': JSON.stringify({ size }) });
  net.model.dispose();
  await makeImageFolders(join(dir, 'folders'), { classes: ['p', 'q'], trainPerClass: 1, validPerClass: 0, size: 24 });
  const gradient = Buffer.alloc(40 * 30 * 3);
  for (let i = 0; i < gradient.length; i++) gradient[i] = (i * 7) % 256;
  images = [join(dir, 'folders', 'train', 'p', '0.png'), join(dir, 'wide.jpg'), join(dir, 'rgba.png'), join(dir, 'grey.png')];
  await sharp(gradient, { raw: { width: 40, height: 30, channels: 3 } })
    .jpeg({ quality: 95 })
    .toFile(images[1]);
  await sharp({ create: { width: 20, height: 20, channels: 4, background: { r: 10, g: 200, b: 90, alpha: 0.5 } } })
    .png()
    .toFile(images[2]);
  await sharp(Buffer.alloc(18 * 18, 77), { raw: { width: 18, height: 18, channels: 1 } })
    .png()
    .toFile(images[3]);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Class probabilities of one image, computed from the preprocessing definition. */
async function reference(file: string): Promise<number[]> {
  const px = await decodeRgb(file);
  const data = resizeCropRgb(px.data, px.width, validationPlan(px.width, px.height, size));
  const x = Float32Array.from(data, (v, i) => (v / 255 - TRAINING_STATS.mean[i % 3]) / TRAINING_STATS.std[i % 3]);
  const m = await loadModelDir(join(model, 'model.json'));
  const p = tf.tidy(() => tf.softmax(m.predict(tf.tensor4d(x, [1, size, size, 3])) as tf.Tensor2D).dataSync());
  m.dispose();
  return Array.from(p);
}

describe('ringtune predict', () => {
  test('--json --top 3: every class, most likely first, probabilities as the reference computes them', async () => {
    const r = await runCli(['predict', '--model', model, ...images, '--json', '--top', '3', '--backend', 'wasm']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.map((p: { image: string }) => p.image)).toEqual(images);
    for (let i = 0; i < images.length; i++) {
      const ref = await reference(images[i]);
      const p = out[i];
      expect(p.top.map((t: { class: string }) => t.class).sort()).toEqual([...labels].sort());
      expect(p.top.reduce((a: number, t: { probability: number }) => a + t.probability, 0)).toBeCloseTo(1, 5);
      for (const t of p.top) expect(t.probability).toBeCloseTo(ref[labels.indexOf(t.class)], 4);
      expect(p.class).toBe(p.top[0].class);
      expect(p.probability).toBe(Math.max(...p.top.map((t: { probability: number }) => t.probability)));
    }
  });

  test('the table names each image with its class and probability', async () => {
    const r = await runCli(['predict', '--model', model, images[0], images[1], '--backend', 'wasm']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^image\s+class\s+probability$/);
    expect(rows).toHaveLength(3);
    for (let i = 0; i < 2; i++)
      expect(rows[i + 1]).toMatch(new RegExp(`^${images[i].replace(/[.]/g, '\\.')}\\s+(${labels.join('|')})\\s+0\\.\\d{4}$`));
  });

  test('bad input: missing or unreadable image, missing model, bad --top; exit 1 naming the culprit', async () => {
    const broken = join(dir, 'broken.png');
    writeFileSync(broken, 'definitely not a PNG');
    const cases: [string[], string][] = [
      [['predict', '--model', model, join(dir, 'missing.png')], `image ${join(dir, 'missing.png')} does not exist`],
      [['predict', '--model', model, images[0], broken], `cannot decode image ${broken}`],
      [['predict', '--model', join(dir, 'no-model'), images[0]], `model folder ${join(dir, 'no-model')} does not exist`],
      [['predict', '--model', model, images[0], '--top', '0'], '--top must be a whole number >= 1'],
      [['predict', '--model', model], "missing required argument 'images'"],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, 60_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
    }
  });
});

describe('in process', () => {
  test('scoring keeps the tensor count flat and disposing frees the weights', async () => {
    const before = tf.memory().numTensors;
    const clf = await loadClassifier(model);
    const loaded = tf.memory().numTensors;
    const a = await scoreFiles(clf, images, 2);
    expect(tf.memory().numTensors).toBe(loaded);
    const b = await scoreFiles(clf, images, 3); // other batch boundaries, same answers
    expect(tf.memory().numTensors).toBe(loaded);
    for (let i = 0; i < a.probs.length; i++) expect(b.probs[i]).toBeCloseTo(a.probs[i], 6);
    expect(Array.from(a.losses).every(Number.isNaN)).toBe(true); // unlabelled files have no loss
    disposeClassifier(clf);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('topK: ordered, clipped to the class count; formatPredictions lists the runners-up', () => {
    const s = {
      n: 1,
      classes: 3,
      probs: Float32Array.from([0.2, 0.5, 0.3]),
      losses: new Float32Array(1),
      preds: new Int32Array(1),
      targets: new Int32Array(1),
    };
    const [p] = topK(s, ['x', 'y', 'z'], ['img.png'], 5);
    expect(p.top.map((t) => t.class)).toEqual(['y', 'z', 'x']);
    expect(p).toMatchObject({ image: 'img.png', class: 'y' });
    expect(formatPredictions([p])).toContain('(then z 0.3000, x 0.2000)');
  });
});
