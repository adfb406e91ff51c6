/** bench:demo's options and the rows they run, read back through ringtune's own run-option parser. */
import { Command } from 'commander';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { benchDemoRows, parseBenchDemoArgs } from '../scripts/bench-demo-rows';
import { addRunOptions, configFromOptions, type RunOptionFlags } from '../cli/run-options';

const data = mkdtempSync(join(tmpdir(), 'ringtune-bench-demo-'));
afterAll(() => rmSync(data, { recursive: true, force: true }));

/** The config a row's launch arguments give the coordinator. */
function configOf(args: string[]) {
  const cmd = addRunOptions(new Command()).exitOverride();
  cmd.parse(['--data', data, ...args, '--out', join(data, 'out')], { from: 'user' });
  return configFromOptions(cmd.opts<RunOptionFlags>());
}

it('the demo row is fine_tune; a scratch row is fit_one_cycle from random weights at its LR for --scratch-epochs', () => {
  const [demo, scratch] = benchDemoRows(parseBenchDemoArgs(['--scratch-lr', '3e-2', '--scratch-epochs', '45']));
  expect(demo.command).toBe('npm start');
  expect(configOf(demo.args)).toMatchObject({ plan: 'fine_tune', lrMax: null });
  expect(demo.args).not.toContain('--no-pretrained');
  expect(scratch.command).toBe('npm start -- --no-pretrained --fit-one-cycle --lr-max 3e-2 --epochs 45');
  expect(configOf(scratch.args)).toMatchObject({ plan: 'fit_one_cycle', lrMax: 3e-2, epochs: 45, pretrained: null });
});

it('--demo-epochs and --base-lr override the demo row only; --train-per-class shows in every command', () => {
  const flags = ['--scratch-lr', '2e-2', '--scratch-epochs', '9', '--train-per-class', '25', '--demo-epochs', '7', '--base-lr', '5e-3'];
  const o = parseBenchDemoArgs(flags);
  const [demo, scratch] = benchDemoRows(o);
  expect(o.trainPerClass).toBe(25);
  expect(configOf(demo.args)).toMatchObject({ plan: 'fine_tune', epochs: 7, baseLr: 5e-3 });
  expect(demo.command).toBe('npm start -- --train-per-class 25 --epochs 7 --base-lr 5e-3');
  expect(configOf(scratch.args)).toMatchObject({ plan: 'fit_one_cycle', epochs: 9, lrMax: 2e-2 });
  expect(scratch.command).toMatch(/^npm start -- --train-per-class 25 --no-pretrained/);
});

it('--seeds and --runs pick what runs; bad input is an error naming the flag', () => {
  const o = parseBenchDemoArgs(['--runs', 'demo', '--seeds', '1,2,3']);
  expect(o.seeds).toEqual([1, 2, 3]);
  expect(benchDemoRows(o).map((r) => r.name)).toEqual(['demo']);
  expect(() => parseBenchDemoArgs(['--runs', 'demo', '--seeds', '1,x'])).toThrow(/--seeds .*'x'/);
  expect(() => parseBenchDemoArgs(['--runs', 'demo', '--train-per-class', '0'])).toThrow(/--train-per-class/);
  expect(() => parseBenchDemoArgs(['--scratch-lr', '1e-2'])).toThrow(/--scratch-epochs/);
  expect(() => parseBenchDemoArgs(['--runs', 'demo', '--lr', '1'])).toThrow(/unknown option --lr/);
});
