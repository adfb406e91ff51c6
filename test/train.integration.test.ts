/**
 * End to end over real processes: an in-process coordinator and real worker processes
 * (`ringtune worker`) talking over real ZeroMQ sockets, real PNG files decoded by sharp.
 */
import { spawn, type ChildProcess } from 'child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { makeImageFolders } from './helpers/images';
import { CLI } from './helpers/cli';
import { runCoordinator } from '../coordinator/run';
import { DEFAULTS, type RunConfig } from '../shared/config';
import type { Callback, EpochInfo, FitState, Hook } from '../coordinator/events';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-train-'));
const data = join(dir, 'data');

beforeAll(async () => {
  await makeImageFolders(data, { classes: ['a', 'b', 'c'], trainPerClass: 24, validPerClass: 6, size: 16 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function workers(endpoint: string, n: number): ChildProcess[] {
  return Array.from({ length: n }, () =>
    spawn(process.execPath, [CLI, 'worker', '--connect', endpoint], { stdio: ['ignore', 'ignore', 'inherit'] }),
  );
}

const LEVELS = ['Fit', 'Phase', 'Epoch', 'Train', 'Step', 'Validate'] as const;

/** A callback writing every event, steps with their number: `beforeStep 3` (the step about to be ordered), `afterStep 2`. */
function eventLog(log: string[]): Callback {
  const name = (h: Hook, f: FitState) =>
    h === 'beforeStep' ? `${h} ${f.progress.step}` : h === 'afterStep' ? `${h} ${f.stepDone?.step}` : h;
  const hooks = LEVELS.flatMap((l): Hook[] => [`before${l}`, `afterCancel${l}`, `after${l}`]);
  return Object.fromEntries(hooks.map((h) => [h, (f: FitState) => void log.push(name(h, f))]));
}

/** Runs a whole training run: coordinator here, `world` worker processes. */
async function train(world: number, overrides: Partial<RunConfig>) {
  const epochs: EpochInfo[] = [];
  const events: string[] = [];
  const lines: string[] = [];
  let procs: ChildProcess[] = [];
  const config = {
    ...DEFAULTS,
    data,
    size: 16,
    bs: 8,
    backend: 'wasm' as const,
    pretrained: null,
    out: join(dir, `out-${world}-${Date.now()}`),
    ...overrides,
  };
  try {
    const summary = await runCoordinator({
      bind: 'tcp://127.0.0.1:*',
      world,
      config,
      log: (l) => lines.push(l),
      timeoutMs: 60_000,
      onListening: (endpoint) => (procs = workers(endpoint, world)),
      callbacks: [{ afterEpoch: ({ epochDone }) => void (epochDone && epochs.push(epochDone)) }, eventLog(events)],
    });
    const exits = await Promise.all(
      procs.map((p) => new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.on('exit', (c) => r(c))))),
    );
    return { summary, epochs, events, lines, exits, out: config.out };
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

describe('fine_tune end to end, 2 worker processes', () => {
  let run: Awaited<ReturnType<typeof train>>;
  beforeAll(async () => {
    run = await train(2, { epochs: 1, freezeEpochs: 1 });
  });

  it('prints one fastai table per phase and saves the model, labels and metrics', () => {
    const text = run.lines.join('\n');
    expect(text.match(/epoch\s+train_loss\s+valid_loss\s+accuracy\s+error_rate\s+time/g)).toHaveLength(2);
    for (const f of ['model.json', 'weights.bin', 'labels.json', 'metrics.jsonl']) expect(existsSync(join(run.out, f))).toBe(true);
    expect(JSON.parse(readFileSync(join(run.out, 'labels.json'), 'utf8'))).toEqual(['a', 'b', 'c']);
    expect(run.exits).toEqual([0, 0]);
  });

  it('runs every level through its events, each step ordered before the previous one is collected (Note [steps in flight])', () => {
    // 4 steps per epoch (see below); beforeStep j+1 comes before afterStep j.
    const epoch = (first: number) => [
      ...['beforeEpoch', 'beforeTrain', `beforeStep ${first}`],
      ...[1, 2, 3].flatMap((j) => [`beforeStep ${first + j}`, `afterStep ${first + j - 1}`]),
      ...[`afterStep ${first + 3}`, 'afterTrain', 'beforeValidate', 'afterValidate', 'afterEpoch'],
    ];
    const phase = (first: number) => ['beforePhase', ...epoch(first), 'afterPhase'];
    expect(run.events).toEqual(['beforeFit', ...phase(0), ...phase(4), 'afterFit']);
  });

  it('keeps the replicas bitwise identical (same weight hash on every rank after every epoch)', () => {
    expect(run.epochs).toHaveLength(2);
    for (const e of run.epochs) {
      expect(e.rankHashes).toHaveLength(2);
      expect(new Set(e.rankHashes).size).toBe(1);
    }
    expect(run.epochs[0].rankHashes[0]).not.toBe(run.epochs[1].rankHashes[0]);
  });

  it('counts every validation image once (padding excluded) and learns the task', () => {
    for (const e of run.epochs) expect(e.validSamples).toBe(18);
    expect(run.epochs[1].accuracy).toBeGreaterThan(0.5);
  });

  it('writes a metrics record per step with the schedule the coordinator sent', () => {
    const records = readFileSync(join(run.out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const steps = records.filter((r) => r.kind === 'step');
    // 72 training images, 2 workers x bs 8, drop_last: 4 steps per epoch, 2 epochs.
    expect(steps).toHaveLength(8);
    expect(steps[0].lrs).toHaveLength(3);
    // frozen phase: fit_one_cycle(1, slice(2e-3)) starts at lr_max / 25 for every group.
    expect(steps[0].lrs[2]).toBeCloseTo(2e-3 / 25, 10);
    expect(steps[0].lrs[0]).toBeCloseTo(2e-4 / 25, 10);
    expect(steps[0].mom).toBeCloseTo(0.95, 10);
    expect(records.filter((r) => r.kind === 'epoch')).toHaveLength(2);
  });
});
