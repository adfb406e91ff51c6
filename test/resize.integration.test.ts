/**
 * Resuming with another number of workers (coordinator/resume.ts, Note [resize] in shared/sampler.ts),
 * with real processes: a checkpoint written mid-epoch by 4 workers goes on with 2, and one written
 * by those 2 (after the resize, mid-epoch again) with 3. Each resumed run completes, says what
 * happened to the epoch, its steps and the schedule, is bitwise the same when run twice, and ends
 * within noise of the uninterrupted run's accuracy; a same-size resume of a resized run is still exact.
 */
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { makeImageFolders } from './helpers/images';
import { runCli } from './helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-resize-'));
const data = join(dir, 'data');
/** 96 images, bs 4: 6 steps per epoch on 4 workers, 12 on 2, 8 on 3; a checkpoint every 2 steps, all kept. */
const run = ['--data', data, '--size', '16', '--bs', '4', '--backend', 'wasm', '--no-pretrained', '--epochs', '2'];
const keep = ['--checkpoint-every', '2', '--keep-checkpoints', '50'];
/** With 24 validation images one image is 0.042 of accuracy: the runs train different numbers of steps. */
const NOISE = 0.15;

beforeAll(async () => {
  await makeImageFolders(data, { classes: ['a', 'b', 'c'], trainPerClass: 32, validPerClass: 8, size: 16 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ckpt = (out: string, step: number) => join(out, 'checkpoints', `step-${String(step).padStart(8, '0')}`);
const weights = (out: string) => readFileSync(join(out, 'weights.bin'));
const accuracy = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"kind":"epoch"'))
    .map((l) => JSON.parse(l) as { accuracy: number })
    .pop()!.accuracy;

async function resume(from: string, workers: number, out: string): Promise<string> {
  const r = await runCli(['resume', from, '--workers', String(workers), '--out', out], 300_000);
  if (r.code !== 0) throw new Error(`resume on ${workers} workers failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

it('4 -> 2 -> 3 workers mid-epoch: completes, says how, reproducible bit for bit, accuracy within noise; same-size resume stays exact', async () => {
  const straight = join(dir, 'straight-4');
  const r = await runCli(['launch', '--workers', '4', ...run, ...keep, '--out', straight], 300_000);
  expect(r.code).toBe(0);

  // Step 8: the unfrozen phase's epoch 0, after 2 of its 6 batches (32 of its 96 samples) on 4 workers.
  const [twoA, twoB] = [join(dir, 'two-a'), join(dir, 'two-b')];
  const log = await resume(ckpt(straight, 8), 2, twoA);
  expect(log).toMatch(
    /resuming from .*step-00000008: phase 1, epoch 0, batch 2, step 8 on 2 workers \(written by 4\): 64 of the epoch's 96 samples left, 8 steps at 2 workers; an epoch has 12 steps now \(6 at 4\); the schedule goes on from 16\.67% of the phase over its 20 steps left/,
  );
  await resume(ckpt(straight, 8), 2, twoB);
  expect(weights(twoA).equals(weights(twoB))).toBe(true);
  expect(Math.abs(accuracy(twoA) - accuracy(straight))).toBeLessThanOrEqual(NOISE);

  // Step 14 of the resized run: 6 of the 8 batches it had left of that epoch, now on 3 workers.
  const three = join(dir, 'three');
  expect(await resume(ckpt(twoA, 14), 3, three)).toMatch(
    /step 14 on 3 workers \(written by 2\): 16 of the epoch's 96 samples left, 1 step at 3 workers; an epoch has 8 steps now \(12 at 2\)/,
  );
  expect(Math.abs(accuracy(three) - accuracy(straight))).toBeLessThanOrEqual(NOISE);

  // The same checkpoint on the 2 workers that wrote it: exactly the run that went on.
  const same = join(dir, 'two-same');
  await resume(ckpt(twoA, 14), 2, same);
  expect(weights(same).equals(weights(twoA))).toBe(true);
}, 900_000);
