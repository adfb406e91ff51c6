/** `npm start`'s own path (data preparation, launch, 2 workers, fine_tune from the backbone) on a reduced budget; the backbone's classes. */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { DEMO_CLASSES } from '../scripts/demo';
import { SOURCE_CLASSES } from '../scripts/pretrain';
import { EMBEDDED_BACKBONE } from '../cli/run-options';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('prepares the few-label digits 5-9, fine-tunes the embedded backbone with 2 workers, prints both tables and saves the model', () => {
  const start = join(__dirname, '..', 'dist', 'scripts', 'start.js');
  const out = join(dir, 'out');
  const r = spawnSync(
    process.execPath,
    [start, '--images-per-class', '20', '--data-root', join(dir, 'data'), '--bs', '16', '--epochs', '1', '--out', out],
    {
      encoding: 'utf8',
      timeout: 240_000,
    },
  );
  expect(r.stderr).not.toMatch(/Error|failed/);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/fine_tune: frozen phase\nepoch\s+train_loss\s+valid_loss\s+accuracy\s+error_rate\s+time/);
  expect(r.stdout).toMatch(/fine_tune: unfrozen phase\nepoch\s+train_loss/);
  expect(r.stdout).toMatch(/pretrained body from .*resnet-small-digits-0-4/);
  for (const f of ['model.json', 'weights.bin', 'labels.json', 'metrics.jsonl']) expect(existsSync(join(out, f))).toBe(true);
  expect(JSON.parse(readFileSync(join(out, 'labels.json'), 'utf8'))).toEqual(['5', '6', '7', '8', '9']);
});

it('the committed backbone was trained on the digits 0-4 only, which the demo task does not have', () => {
  expect(SOURCE_CLASSES).toEqual(['0', '1', '2', '3', '4']);
  expect(DEMO_CLASSES).toEqual(['5', '6', '7', '8', '9']);
  expect(EMBEDDED_BACKBONE.endsWith(join('pretrained', 'resnet-small-digits-0-4', 'model.json'))).toBe(true);
  const backbone = join(__dirname, '..', 'pretrained', 'resnet-small-digits-0-4');
  expect(JSON.parse(readFileSync(join(backbone, 'labels.json'), 'utf8'))).toEqual(SOURCE_CLASSES);
  const config = JSON.parse(readFileSync(join(backbone, 'config.json'), 'utf8')) as { data: string; pretrained: string | null };
  expect(config.pretrained).toBeNull();
  expect(config.data).toMatch(/mnist-0-4$/);
});
