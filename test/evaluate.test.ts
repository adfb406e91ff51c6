/**
 * `ringtune evaluate` on a model trained by a real `ringtune launch` run: it must reproduce the
 * run's own validation loss and accuracy, write decodable figures, and fail clearly on bad input.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import sharp from 'sharp';
import { makeImageFolders } from './helpers/images';
import { runCli } from './helpers/cli';
import { evaluate, mostConfused, summarize, topLossIndices, TOP_LOSSES_TITLE, type EvaluateOptions } from '../cli/commands/evaluate';
import { confusionLayout, gridLayout } from '../coordinator/figures';
import { scanImageFolders } from '../shared/data/folders';
import { disposeClassifier, loadClassifier, scoreItems } from '../worker/inference';
import { blendTta, scoreItemsTta } from '../worker/tta';
import { smallRunFlags } from './helpers/small-run';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-evaluate-'));
const data = join(dir, 'data');
const run = join(dir, 'run');
const classes = ['a', 'b', 'c'];

beforeAll(async () => {
  await makeImageFolders(data, { classes, trainPerClass: 16, validPerClass: 6, size: 24 });
  const r = await runCli(['launch', '--workers', '1', ...smallRunFlags({ data, freezeEpochs: 1 }), '--out', run], 180_000);
  if (r.code !== 0) throw new Error(`training for the evaluate tests failed:\n${r.stdout}\n${r.stderr}`);
}, 200_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lastEpoch(): { valid_loss: number; accuracy: number } {
  const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  return lines.filter((l) => l.kind === 'epoch').pop();
}

describe('training writes its plots', () => {
  test('loss.png and schedule.png decode at the figure size', async () => {
    for (const f of ['loss.png', 'schedule.png']) {
      const meta = await sharp(join(run, f)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 1280, 434]);
    }
  });
});

describe('ringtune evaluate', () => {
  test("reproduces the run's validation loss and accuracy; writes the table, JSON and figures", async () => {
    const out = join(dir, 'eval');
    const r = await runCli(['evaluate', '--model', run, '--data', data, '--out', out, '--top-losses', '4', '--backend', 'wasm']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'evaluation.json'), 'utf8'));
    const trained = lastEpoch();
    expect(report.images).toBe(18);
    expect(report.loss).toBeCloseTo(trained.valid_loss, 5);
    expect(report.accuracy).toBeCloseTo(trained.accuracy, 10);
    expect(r.stdout).toContain(`loss      ${report.loss.toFixed(6)}`);
    expect(r.stdout).toMatch(/class\s+images\s+correct\s+accuracy/);
    for (const c of classes) expect(r.stdout).toMatch(new RegExp(`\\n${c}\\s+6\\s+\\d\\s+[01]\\.\\d{6}`));
    // The confusion matrix rows are the classes' image counts; the diagonal is what was right.
    expect(report.confusion.map((row: number[]) => row.reduce((a, b) => a + b, 0))).toEqual([6, 6, 6]);
    expect(report.confusion.reduce((a: number, row: number[], i: number) => a + row[i], 0)).toBe(Math.round(report.accuracy * 18));
    // Top losses: largest first, and each loss is -log(probability of the actual class).
    expect(report.topLosses).toHaveLength(4);
    for (let i = 0; i < 4; i++) {
      const t = report.topLosses[i];
      expect(t.loss).toBeCloseTo(-Math.log(t.actualProbability), 4);
      if (i > 0) expect(t.loss).toBeLessThanOrEqual(report.topLosses[i - 1].loss);
    }
    const cm = await sharp(join(out, 'confusion.png')).metadata();
    expect([cm.format, cm.height]).toEqual(['png', confusionLayout(classes).height]);
    expect(cm.width).toBeGreaterThanOrEqual(confusionLayout(classes).width);
    const grid = await sharp(join(out, 'top_losses.png')).metadata();
    const L = gridLayout(4, 3, { title: TOP_LOSSES_TITLE });
    expect([grid.format, grid.width, grid.height]).toEqual(['png', L.width, L.height]);
  });

  test('--tta: 4 passes under the training transforms, blended with the plain pass (fastai Learner.tta)', async () => {
    const clf = await loadClassifier(run);
    try {
      const ds = await scanImageFolders(data, {});
      const plain = await scoreItems(clf, ds.root, ds.valid, { bs: 8 });
      const passes = [];
      for (let pass = 0; pass < 4; pass++) passes.push((await scoreItems(clf, ds.root, ds.valid, { bs: 8, augmentPass: pass })).probs);
      // The passes really are augmented: each differs from the plain pass and from the others.
      for (const p of passes) expect(Buffer.from(p.buffer).equals(Buffer.from(plain.probs.buffer))).toBe(false);
      expect(Buffer.from(passes[0].buffer).equals(Buffer.from(passes[1].buffer))).toBe(false);
      const blended = blendTta(plain.probs, passes, 0.25);
      const tta = await scoreItemsTta(clf, ds.root, ds.valid, { bs: 8 });
      expect(Array.from(tta.probs)).toEqual(Array.from(blended));
      const { summary } = await evaluate({
        model: run,
        data,
        split: 'valid',
        bs: 8,
        topLosses: 0,
        backend: 'wasm',
        tta: true,
        out: join(dir, 'tta'),
      });
      const k = classes.length;
      const right = ds.valid.filter((it, i) => {
        const row = Array.from(blended.subarray(i * k, (i + 1) * k));
        return row.indexOf(Math.max(...row)) === it.label;
      }).length;
      expect(summary.accuracy).toBeCloseTo(right / ds.valid.length, 10);
      expect(JSON.parse(readFileSync(join(dir, 'tta', 'evaluation.json'), 'utf8')).tta).toBe(true);
    } finally {
      disposeClassifier(clf);
    }
  });

  test('--split train covers the training images; default output goes under the model folder', async () => {
    const { summary, files } = await evaluate({ model: run, data, split: 'train', bs: 16, topLosses: 0, backend: 'wasm' });
    expect(summary.images).toBe(48);
    expect(files).toEqual([join(run, 'eval-train', 'evaluation.json'), join(run, 'eval-train', 'confusion.png')]);
    expect(existsSync(files[1])).toBe(true);
  });

  test("a single-folder dataset is split with the training run's validPct and seed", async () => {
    const flat = join(dir, 'flat');
    for (const c of classes) {
      mkdirSync(join(flat, c), { recursive: true });
      for (const f of readdirSync(join(data, 'train', c))) copyFileSync(join(data, 'train', c, f), join(flat, c, f));
    }
    const expected = await scanImageFolders(flat, { validPct: 0.2, seed: 42 });
    const opts: EvaluateOptions = {
      model: run,
      data: flat,
      split: 'valid',
      bs: 8,
      topLosses: 0,
      backend: 'wasm',
      out: join(dir, 'flat-eval'),
    };
    const { summary } = await evaluate(opts);
    expect(summary.images).toBe(expected.valid.length);
    const other = await evaluate({ ...opts, validPct: 0.5 });
    expect(other.summary.images).toBe(Math.floor(0.5 * 48));
  });
});

describe('bad input: a clear message naming the file, exit 1', () => {
  /** A copy of the trained model folder with some files changed. */
  function modelCopy(name: string, change: (d: string) => void): string {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    for (const f of ['model.json', 'weights.bin', 'labels.json', 'config.json']) copyFileSync(join(run, f), join(d, f));
    change(d);
    return d;
  }
  const opts = { data, split: 'valid' as const, bs: 8, topLosses: 0, backend: 'wasm' as const };

  test('missing model folder (CLI exit code)', async () => {
    const r = await runCli(['evaluate', '--model', join(dir, 'nope'), '--data', data]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`model folder ${join(dir, 'nope')} does not exist`);
  });

  test('missing weights.bin, labels.json or config.json', async () => {
    const noWeights = modelCopy('no-weights', (d) => rmSync(join(d, 'weights.bin')));
    await expect(evaluate({ ...opts, model: noWeights })).rejects.toThrow(join(noWeights, 'weights.bin'));
    const noLabels = modelCopy('no-labels', (d) => rmSync(join(d, 'labels.json')));
    await expect(evaluate({ ...opts, model: noLabels })).rejects.toThrow(join(noLabels, 'labels.json'));
    const noConfig = modelCopy('no-config', (d) => rmSync(join(d, 'config.json')));
    await expect(evaluate({ ...opts, model: noConfig })).rejects.toThrow(/neither config\.json .* nor preprocessing\.json/);
  });

  test('labels that do not match the model, a size that does not match its input', async () => {
    const four = modelCopy('four-labels', (d) => writeFileSync(join(d, 'labels.json'), JSON.stringify(['a', 'b', 'c', 'd'])));
    await expect(evaluate({ ...opts, model: four })).rejects.toThrow(
      `${join(four, 'labels.json')} lists 4 classes but ${join(four, 'model.json')} outputs 3`,
    );
    const resized = modelCopy('wrong-size', (d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, size: 32 }));
    });
    await expect(evaluate({ ...opts, model: resized })).rejects.toThrow(
      /model\.json takes inputs of shape \[null, 16, 16, 3\] but .*config\.json says size 32/,
    );
  });

  test('a data class the model does not know, an unreadable image', async () => {
    const extra = join(dir, 'extra');
    await makeImageFolders(extra, { classes: ['a', 'zebra'], trainPerClass: 1, validPerClass: 1, size: 16 });
    await expect(evaluate({ ...opts, model: run, data: extra })).rejects.toThrow(
      `class folder(s) zebra in ${extra} are not among the model's classes in ${join(run, 'labels.json')}`,
    );
    const broken = join(dir, 'broken');
    await makeImageFolders(broken, { classes, trainPerClass: 1, validPerClass: 1, size: 16 });
    writeFileSync(join(broken, 'valid', 'b', '0.png'), 'not an image');
    await expect(evaluate({ ...opts, model: run, data: broken })).rejects.toThrow(
      `cannot decode image ${join(broken, 'valid', 'b', '0.png')}`,
    );
  });
});

describe('pure helpers', () => {
  test('summarize: loss, accuracy, per-class accuracy and confusion from scores', () => {
    const s = {
      n: 4,
      classes: 2,
      probs: new Float32Array(8),
      losses: Float32Array.from([0.1, 0.2, 0.3, 1.4]),
      preds: Int32Array.from([0, 1, 1, 1]),
      targets: Int32Array.from([0, 0, 1, 1]),
    };
    const sum = summarize(s, ['x', 'y']);
    expect(sum.loss).toBeCloseTo(0.5, 6);
    expect(sum.accuracy).toBe(0.75);
    expect(sum.confusion).toEqual([
      [1, 1],
      [0, 2],
    ]);
    expect(sum.perClass).toEqual([
      { name: 'x', images: 2, correct: 1, accuracy: 0.5 },
      { name: 'y', images: 2, correct: 2, accuracy: 1 },
    ]);
    expect(mostConfused(sum.confusion, ['x', 'y'])).toEqual([{ actual: 'x', predicted: 'y', count: 1 }]);
  });
  test('topLossIndices: largest first, stable on ties, k clipped', () => {
    expect(topLossIndices([0.5, 2, 0.5, 3], 3)).toEqual([3, 1, 0]);
    expect(topLossIndices([1], 5)).toEqual([0]);
    expect(topLossIndices([1, 2], 0)).toEqual([]);
  });
});
