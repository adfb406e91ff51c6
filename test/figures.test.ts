/** Evaluation figures and the training-plots callback: real PNGs written by sharp, decoded back and probed. */
import { existsSync, mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import sharp from 'sharp';
import { blues, confusionLayout, confusionSvg, gridLayout, writeConfusionMatrix, writeImageGrid } from '../coordinator/figures';
import { plotsCallback, lossPanels } from '../coordinator/plots-callback';
import { Events, type Callback, type EpochInfo, type StepInfo } from '../coordinator/events';
import { Progress } from '../coordinator/progress';
import { fineTunePlan, hypersAt, phaseIters } from '../shared/plan';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ringtune-figures-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** RGB of pixel (x, y) of a PNG file. */
async function pixel(file: string, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i], data[i + 1], data[i + 2]];
}

const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
const near = (a: number[], b: number[], tol = 6) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

describe('confusion matrix', () => {
  const classes = ['cat', 'dog', 'horse'];
  const matrix = [
    [5, 1, 0],
    [0, 4, 2],
    [3, 0, 9],
  ];

  test('PNG has the laid-out size; cells are shaded by count (0 white, max darkest)', async () => {
    const file = join(dir, 'confusion.png');
    const size = await writeConfusionMatrix(file, matrix, classes, 'CM');
    const meta = await sharp(file).metadata();
    const L = confusionLayout(classes, 'CM');
    expect([meta.width, meta.height]).toEqual([size.width, size.height]);
    expect([size.width, size.height]).toEqual([L.width, L.height]);
    const gx = Math.max(L.left, Math.floor((L.width - 3 * L.cell) / 2));
    const corner = (a: number, p: number) => pixel(file, gx + p * L.cell + 3, L.top + a * L.cell + 3);
    expect(near(await corner(2, 2), hex(blues(1)))).toBe(true); // 9 = the max
    expect(near(await corner(0, 2), hex(blues(0)))).toBe(true); // 0
    expect(near(await corner(1, 1), hex(blues(4 / 9)))).toBe(true);
  });

  test('SVG shows counts and escaped class names; bad shapes are refused', () => {
    const { svg } = confusionSvg(
      [
        [1, 2],
        [3, 4],
      ],
      ['a<b', 'c'],
    );
    expect(svg).toContain('a&lt;b');
    expect(svg).toContain('>Predicted</text>');
    expect(svg).toMatch(/>4<\/text>/);
    expect(() => confusionSvg([[1, 2]], ['a', 'b'])).toThrow('2 x 2');
    expect(() => confusionSvg([], [])).toThrow('at least one class');
  });

  test('many classes: smaller cells, rotated labels, no counts', () => {
    const many = Array.from({ length: 40 }, (_, i) => `class_${i}`);
    const L = confusionLayout(many);
    expect(L.cell).toBeLessThan(22);
    expect(L.rotate).toBe(true);
    const { svg } = confusionSvg(
      many.map((_, a) => many.map((_, p) => (a === p ? 7 : 0))),
      many,
    );
    expect(svg).toContain('rotate(-45');
    expect(svg).not.toMatch(/>7<\/text>/);
  });
});

describe('image grid', () => {
  test('thumbnails land in their tiles with captions; the PNG has the laid-out size', async () => {
    const red = join(dir, 'red.png'),
      blue = join(dir, 'blue.jpg');
    await sharp({ create: { width: 20, height: 12, channels: 3, background: '#ff0000' } })
      .png()
      .toFile(red);
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#0000ff' } })
      .jpeg()
      .toFile(blue);
    const file = join(dir, 'grid.png');
    const tiles = [red, blue, red].map((f, i) => ({ file: f, lines: [{ text: `pred ${i}`, color: '#d62728' }, { text: 'actual x' }] }));
    const size = await writeImageGrid(file, tiles, { title: 'Top losses', thumb: 64 });
    const L = gridLayout(3, 2, { title: 'Top losses', thumb: 64 });
    expect(L.columns).toBe(2);
    const meta = await sharp(file).metadata();
    expect([meta.width, meta.height]).toEqual([L.width, L.height]);
    expect(size).toEqual({ width: L.width, height: L.height });
    const centre = (i: number) => pixel(file, L.inset + (i % 2) * L.tileW + L.tileW / 2, L.head + Math.floor(i / 2) * L.tileH + 10 + 32);
    expect(near(await centre(0), [255, 0, 0], 12)).toBe(true);
    expect(near(await centre(1), [0, 0, 255], 12)).toBe(true);
    expect(near(await centre(2), [255, 0, 0], 12)).toBe(true);
  });

  test('errors name the unreadable image; an empty grid is refused', async () => {
    const bad = join(dir, 'broken.png');
    require('fs').writeFileSync(bad, 'not a png');
    await expect(writeImageGrid(join(dir, 'g.png'), [{ file: bad, lines: [] }])).rejects.toThrow(bad);
    await expect(writeImageGrid(join(dir, 'g.png'), [])).rejects.toThrow('at least one image');
    await expect(writeConfusionMatrix(join(dir, 'cm.svg'), [[1]], ['a'])).rejects.toThrow('.png');
  });
});

describe('training plots callback', () => {
  const batches = 5;
  const plan = fineTunePlan({ epochs: 2, groups: 3 });

  /** Replays a run's events (hyper-parameters from the real plan) into the callbacks. */
  async function replay(cbs: Callback[], afterEachStep?: (step: number) => void): Promise<void> {
    const state = {
      plan,
      progress: new Progress(plan),
      hypers: { lrs: [], mom: 0 },
      stepDone: null as StepInfo | null,
      epochDone: null as EpochInfo | null,
    };
    const events = new Events(cbs, state);
    await events.fire('beforeFit');
    let step = 0;
    for (let pi = 0; pi < plan.length; pi++) {
      const phase = plan[pi];
      await events.fire('beforePhase');
      for (let epoch = 0; epoch < phase.epochs; epoch++) {
        for (let j = 0; j < batches; j++, step++) {
          const iter = epoch * batches + j;
          const { lr, mom } = hypersAt(phase, iter, batches);
          const loss = 2 / (1 + step * 0.3);
          state.stepDone = {
            phase,
            phaseIndex: pi,
            epoch,
            iter,
            batchesPerEpoch: batches,
            step,
            loss,
            smoothLoss: loss * 1.1,
            lrs: lr,
            mom,
            samples: 8,
            samplesPerSec: 100,
            computeMs: 10,
            allreduceMs: 1,
            allreduceWaitMs: 0,
            allreduceBytes: 4,
            tensors: 100,
            rssBytes: 1e8,
            jsHeapBytes: 5e7,
          };
          await events.fire('afterStep');
          afterEachStep?.(step);
        }
        state.epochDone = {
          phase,
          phaseIndex: pi,
          epoch,
          trainLoss: 1,
          validLoss: 1 / (1 + step),
          accuracy: step / 20,
          errorRate: 1 - step / 20,
          seconds: 1,
          validSamples: 10,
          rankHashes: ['x'],
        };
        await events.fire('afterEpoch');
      }
      await events.fire('afterPhase');
    }
  }

  test('loss.png and schedule.png appear during the run, decode, and have the figure size', async () => {
    const out = mkdtempSync(join(dir, 'run-'));
    const cb = plotsCallback(out, { minIntervalMs: 0 });
    let seenAfterFirstStep = false;
    await replay([cb], (step) => {
      if (step === 0) seenAfterFirstStep = existsSync(join(out, 'loss.png')) && existsSync(join(out, 'schedule.png'));
    });
    expect(seenAfterFirstStep).toBe(true);
    const total = plan.reduce((a, p) => a + phaseIters(p, batches), 0);
    expect(cb.history.steps).toHaveLength(total);
    expect(cb.history.epochs).toHaveLength(3);
    for (const name of ['loss.png', 'schedule.png']) {
      const meta = await sharp(join(out, name)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 1280, 434]);
    }
    // The schedule drawn is the one that ran: the recorded LRs are the plan's, per group.
    expect(cb.history.steps[total - 1].record.lr).toEqual(hypersAt(plan[1], phaseIters(plan[1], batches) - 1, batches).lr);
  });

  test('loss panel: batch, smoothed and validation losses; phase boundaries marked', async () => {
    const cb = plotsCallback(mkdtempSync(join(dir, 'run-')), { minIntervalMs: 1e9 });
    await replay([cb]);
    const [loss, acc] = lossPanels(cb.history);
    expect(loss.series.map((s) => s.name)).toEqual(['train (batch)', 'train (smoothed)', 'valid']);
    expect(loss.series[2].x).toEqual([4, 9, 14]); // the last step of each epoch
    expect(loss.vLines?.map((v) => v.label)).toEqual(['frozen', 'unfrozen']);
    expect(acc.series[0].y).toEqual([5 / 20, 10 / 20, 15 / 20]);
  });

  test('a plot that cannot be written warns once and never stops training', async () => {
    const warnings: string[] = [];
    const cb = plotsCallback(join(dir, 'no', 'such', 'folder'), { minIntervalMs: 0, warn: (l) => warnings.push(l) });
    await replay([cb]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(join(dir, 'no', 'such', 'folder'));
  });
});
