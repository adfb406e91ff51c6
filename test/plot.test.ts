/** SVG -> PNG plots: tick maths, the SVG itself, and real PNGs decoded back with sharp. */
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import sharp from 'sharp';
import { figureSvg, svgToPng, writeFigure } from '../coordinator/plot';
import { formatTick, logMinorTicks, logTicks, niceTicks } from '../coordinator/plot-ticks';

describe('ticks', () => {
  test('niceTicks are round steps covering the range', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-1.3, 0.1)).toEqual([-1.2, -1, -0.8, -0.6, -0.4, -0.2, 0]);
    expect(niceTicks(0, 60)).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(niceTicks(0.85, 0.95).map(formatTick)).toEqual(['0.86', '0.88', '0.9', '0.92', '0.94']);
    expect(niceTicks(3, 3)).toEqual([3]);
  });
  test('logTicks: decades, plus 2x and 5x on short ranges', () => {
    expect(logTicks(1e-7, 10).map(formatTick)).toEqual(['1e-7', '1e-6', '1e-5', '1e-4', '1e-3', '0.01', '0.1', '1', '10']);
    expect(logTicks(0.15, 3)).toEqual([0.2, 0.5, 1, 2]);
  });
  test('logMinorTicks: 2..9 x each decade strictly inside the range', () => {
    expect(logMinorTicks(0.15, 3)).toEqual([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 2].map((v) => expect.closeTo(v, 12)));
    expect(logMinorTicks(1, 10)).toHaveLength(8);
  });
  test('formatTick is short and free of float noise', () => {
    expect(formatTick(0)).toBe('0');
    expect(formatTick(0.30000000000000004)).toBe('0.3');
    expect(formatTick(2.5e-4)).toBe('2.5e-4');
    expect(formatTick(1e5)).toBe('1e5');
    expect(formatTick(-3)).toBe('-3');
  });
});

describe('figureSvg', () => {
  test('draws axes, labels, legend and breaks lines at points a log axis cannot show', () => {
    const { svg, width, height } = figureSvg(
      [
        {
          title: 'loss <&>',
          xLabel: 'learning rate',
          yLabel: 'loss',
          logX: true,
          series: [{ name: 'smoothed loss', x: [1e-5, 1e-4, -1, 1e-2, 1e-1], y: [2, 1.5, 1, NaN, 3] }],
          markers: [{ x: 1e-4, y: 1.5, label: 'valley 1.0e-4' }],
        },
      ],
      { title: 'lr_find', panelWidth: 500, panelHeight: 300 },
    );
    expect([width, height]).toEqual([500, 334]);
    expect(svg).toContain('loss &lt;&amp;&gt;');
    expect(svg).toContain('>smoothed loss</text>');
    expect(svg).toContain('>valley 1.0e-4</text>');
    expect(svg).toContain('>learning rate</text>');
    const path = /<path d="([^"]*)"/.exec(svg)![1];
    expect(path.match(/M/g)).toHaveLength(2); // (1e-5, 1e-4) | (0.1): the negative x and the NaN y break it
    expect(path.match(/L/g)).toHaveLength(1);
  });
  test('a million-step series draws each pixel column as its first, lowest, highest and last point, spikes kept', () => {
    const n = 1_000_000;
    const x = Array.from({ length: n }, (_, i) => i);
    const y = x.map((i) => (i === 654_321 ? 10 : i === 123_457 ? -10 : Math.sin(i / 1000)));
    const { svg } = figureSvg([{ series: [{ name: 'loss', x, y }] }], { panelWidth: 500, panelHeight: 300 });
    const path = /<path d="([^"]*)"/.exec(svg)![1];
    const points = path
      .split(/[ML]/)
      .filter(Boolean)
      .map((p) => p.split(',').map(Number));
    expect(path.match(/M/g)).toHaveLength(1);
    expect(points.length).toBeLessThanOrEqual(4 * (500 - 78 - 18 + 1));
    const ys = points.map((p) => p[1]);
    // The y axis spans [-10, 10] padded by 5%: the spikes sit at its extremes, the sine well inside.
    const top = Math.min(...ys),
      bottom = Math.max(...ys);
    expect(top).toBeCloseTo(30 + (300 - 52 - 30) * (0.05 / 1.1), 1);
    expect(bottom).toBeCloseTo(300 - 52 - (300 - 52 - 30) * (0.05 / 1.1), 1);
  });
  test('guide-line labels closer than their width stack in rows; apart, they share the first row', () => {
    const labelYs = (at: number[]) => {
      const vLines = at.map((x, i) => ({ x, label: i % 2 ? 'unfrozen' : 'frozen' }));
      const { svg } = figureSvg([{ series: [{ name: 'loss', x: [0, 100], y: [1, 0] }], vLines }]);
      return [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)"[^>]*>(?:un)?frozen</g)].map((m) => Number(m[1]));
    };
    const [first, second] = labelYs([0, 2]);
    expect(second - first).toBe(13);
    expect(new Set(labelYs([0, 50])).size).toBe(1);
    expect(labelYs([0, 2, 50])).toEqual([first, first + 13, first]);
  });
  test('a grid of panels; an empty figure is refused', () => {
    const p = { series: [{ name: 'a', x: [0, 1], y: [0, 1] }] };
    expect(figureSvg([p, p, p], { columns: 2, panelWidth: 100, panelHeight: 50 })).toMatchObject({ width: 200, height: 100 });
    expect(() => figureSvg([])).toThrow(/at least one panel/);
  });
});

describe('PNG output', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ringtune-plot-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the PNG decodes with sharp, has the figure size, and shows the curve in its colour', async () => {
    const file = join(dir, 'curve.png');
    const x = Array.from({ length: 50 }, (_, i) => i);
    const size = await writeFigure(file, [{ series: [{ name: 'y', x, y: x.map((v) => Math.sin(v / 8)), color: '#ff0000' }] }], {
      panelWidth: 400,
      panelHeight: 300,
    });
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    expect(info.format).toBe('raw');
    expect([info.width, info.height]).toEqual([400, 300]);
    expect(size).toEqual({ width: 400, height: 300 });
    let red = 0,
      white = 0;
    for (let i = 0; i < data.length; i += info.channels) {
      if (data[i] > 200 && data[i + 1] < 60 && data[i + 2] < 60) red++;
      if (data[i] === 255 && data[i + 1] === 255 && data[i + 2] === 255) white++;
    }
    expect(red).toBeGreaterThan(300); // a 2-px line across ~300 px of plot
    expect(white).toBeGreaterThan(0.5 * info.width * info.height);
  });
  test('svgToPng returns PNG bytes; bad file names are refused with the name', async () => {
    const png = await svgToPng(figureSvg([{ series: [] }]).svg);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    await expect(writeFigure(join(dir, 'x.jpg'), [{ series: [] }])).rejects.toThrow(/must end in \.png, got .*x\.jpg/);
    await expect(writeFigure(join(dir, 'missing', 'x.png'), [{ series: [] }])).rejects.toThrow(/cannot write plot .*missing\/x\.png/);
  });
});
