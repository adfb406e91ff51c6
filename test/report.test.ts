/** The fastai/fastprogress console output: smooth loss, results table, durations, progress bar. */
import { epochLabel, formatDuration, formatTable, progressBar, pyFixed, SmoothLoss, tableHeader, tableRow } from '../coordinator/report';

describe('SmoothLoss (Recorder, beta 0.98, debiased)', () => {
  test('first value is the loss itself, then the debiased EMA', () => {
    const s = new SmoothLoss();
    expect(s.value).toBeNaN();
    expect(s.add(2)).toBeCloseTo(2, 12);
    // val = 0.98*0.04 + 0.02*1 = 0.0592; debias 1 - 0.98^2 = 0.0396
    expect(s.add(1)).toBeCloseTo(0.0592 / 0.0396, 12);
    expect(s.count).toBe(2);
    s.reset();
    expect(s.add(5)).toBeCloseTo(5, 12);
  });
  test('a constant loss stays constant; a long run forgets the start', () => {
    const s = new SmoothLoss();
    for (let i = 0; i < 10; i++) expect(s.add(0.7)).toBeCloseTo(0.7, 12);
    for (let i = 0; i < 2000; i++) s.add(0.1);
    expect(s.value).toBeCloseTo(0.1, 12);
    expect(() => new SmoothLoss(1)).toThrow(/beta/);
  });
});

describe('formatDuration (fastprogress format_time)', () => {
  test('mm:ss below an hour, h:mm:ss above, whole seconds truncated', () => {
    expect(formatDuration(0)).toBe('00:00');
    expect(formatDuration(16.9)).toBe('00:16');
    expect(formatDuration(61)).toBe('01:01');
    expect(formatDuration(3599.99)).toBe('59:59');
    expect(formatDuration(3600)).toBe('1:00:00');
    expect(formatDuration(3661)).toBe('1:01:01');
    expect(formatDuration(36000 + 59)).toBe('10:00:59');
    expect(formatDuration(NaN)).toBe('?');
  });
});

describe('results table (fastprogress ConsoleMasterBar.write)', () => {
  const cols = ['epoch', 'train_loss', 'valid_loss', 'error_rate', 'time'];
  test('header: names padded to 8, joined by two spaces', () => {
    expect(tableHeader(cols)).toBe('epoch     train_loss  valid_loss  error_rate  time    ');
  });
  test('rows: 6-decimal floats, integer epoch, mm:ss time, each padded to header width + 2', () => {
    expect(tableRow([0, 0.180385, 0.023942, 10 / 1478, 16.4], cols)).toBe('0         0.180385    0.023942    0.006766    00:16     ');
    expect(tableRow([10, 1234.5, NaN, '0.5', '1:01:01'], cols)).toBe('10        1234.500000 nan         0.5         1:01:01   ');
    expect(formatTable(cols, [[0, 0.056023, 0.00758, 6 / 1478, 20]]).split('\n')).toEqual([
      'epoch     train_loss  valid_loss  error_rate  time    ',
      '0         0.056023    0.007580    0.004060    00:20     ',
    ]);
  });
  test('a value wider than its column runs straight into the next one, as in fastprogress', () => {
    expect(tableRow([123456789012, 1], ['epoch', 'x'])).toBe('1234567890121.000000  ');
  });
  test('a row of the wrong length is refused', () => {
    expect(() => tableRow([0, 1], cols)).toThrow(/2 values for 5 columns/);
  });
  test('pyFixed rounds exact ties half to even like Python, and spells nan/inf', () => {
    expect(pyFixed(0.0078125, 6)).toBe('0.007812');
    expect(pyFixed(0.125, 2)).toBe('0.12');
    expect(pyFixed(0.375, 2)).toBe('0.38');
    expect(pyFixed(2.5, 0)).toBe('2');
    expect(pyFixed(-0.125, 2)).toBe('-0.12');
    expect(pyFixed(1 / 3, 6)).toBe('0.333333');
    expect(pyFixed(Infinity, 6)).toBe('inf');
    expect(pyFixed(-Infinity, 6)).toBe('-inf');
  });
});

describe('progressBar (fastprogress console bar)', () => {
  test('the reference line shape: label |bar| pct% [done/total elapsed<remaining comment]', () => {
    const line = progressBar({ label: epochLabel(0, 1), done: 42, total: 92, elapsedS: 10.5, comment: '0.1234', width: 40 });
    // 40*42//92 = 18 filled; remaining = 10.5/42*92 - 10.5 = 12.5 -> 00:12
    expect(line).toBe(`Epoch 1/1 : |${'█'.repeat(18)}${'-'.repeat(22)}| 45.65% [42/92 00:10<00:12 0.1234]`);
  });
  test('before the first item the remaining time is unknown; at the end the bar is full', () => {
    expect(progressBar({ label: 'x', done: 0, total: 24, elapsedS: 0, width: 10 })).toBe('x |----------| 0.00% [0/24 00:00<?]');
    expect(progressBar({ label: 'x', done: 24, total: 24, elapsedS: 3, width: 10 })).toBe('x |██████████| 100.00% [24/24 00:03<00:00]');
    expect(progressBar({ label: 'x', done: 0, total: 0, elapsedS: 0, width: 4 })).toBe('x |----| 100% [0/0]');
  });
  test('epoch labels are 1-based', () => {
    expect(epochLabel(2, 10)).toBe('Epoch 3/10 :');
  });
});
