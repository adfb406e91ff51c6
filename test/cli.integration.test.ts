/**
 * The command line as a user runs it: `ringtune launch` with real child processes. Bad input must
 * end in a clear message naming the culprit and a non-zero exit, never a hang.
 */
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync, copyFileSync, readdirSync, readFileSync, statSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { makeImageFolders } from './helpers/images';
import { runCli } from './helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-cli-'));
const good = join(dir, 'good');
const tiny = ['--size', '16', '--bs', '8', '--backend', 'wasm', '--no-pretrained', '--epochs', '1', '--freeze-epochs', '0'];

beforeAll(async () => {
  await makeImageFolders(good, { classes: ['x', 'y'], trainPerClass: 16, validPerClass: 4, size: 16 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function copyData(to: string): void {
  for (const split of ['train', 'valid']) {
    for (const c of ['x', 'y']) {
      mkdirSync(join(to, split, c), { recursive: true });
      for (const f of readdirSync(join(good, split, c))) copyFileSync(join(good, split, c, f), join(to, split, c, f));
    }
  }
}

describe('ringtune launch', () => {
  it('runs a coordinator and 2 workers to the end and saves the model', async () => {
    const out = join(dir, 'out-ok');
    const r = await runCli(['launch', '--workers', '2', '--data', good, '--out', out, ...tiny]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/epoch\s+train_loss\s+valid_loss\s+accuracy\s+error_rate\s+time/);
    for (const f of ['model.json', 'weights.bin', 'labels.json', 'metrics.jsonl']) expect(existsSync(join(out, f))).toBe(true);
  });

  it('prints help for every command', async () => {
    for (const cmd of ['launch', 'coordinator', 'worker', 'schedule']) {
      const r = await runCli([cmd, '--help'], 30_000);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: ringtune/);
    }
  });
});

describe('bad input fails fast with a message naming the culprit', () => {
  const expectFailure = async (args: string[], pattern: RegExp) => {
    const r = await runCli(args, 60_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(pattern);
  };

  it('missing data folder', () => expectFailure(['launch', '--workers', '1', '--data', join(dir, 'nope'), ...tiny], /nope/));

  it('empty class folder', async () => {
    const d = join(dir, 'empty-class');
    copyData(d);
    mkdirSync(join(d, 'train', 'z'), { recursive: true });
    await expectFailure(['launch', '--workers', '1', '--data', d, '--out', join(dir, 'o1'), ...tiny], /train[/\\]z/);
  });

  it('unreadable image', async () => {
    const d = join(dir, 'corrupt');
    copyData(d);
    writeFileSync(join(d, 'train', 'x', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nthis is not a png'));
    await expectFailure(['launch', '--workers', '2', '--data', d, '--out', join(dir, 'o2'), ...tiny], /broken\.png/);
  });

  it('unknown architecture', () =>
    expectFailure(['launch', '--workers', '1', '--data', good, '--arch', 'resnet9000', '--out', join(dir, 'o3'), ...tiny], /resnet9000/));

  it('pretrained weights whose shapes do not match', async () => {
    const out = join(dir, 'out-ok');
    await expectFailure(
      [
        'launch',
        '--workers',
        '1',
        '--data',
        good,
        '--arch',
        'resnet18',
        '--pretrained',
        join(out, 'model.json'),
        '--out',
        join(dir, 'o4'),
        '--size',
        '32',
        '--bs',
        '4',
        '--backend',
        'wasm',
      ],
      /model\.json/,
    );
  });

  it('bad flag values', () => expectFailure(['launch', '--workers', '1', '--data', good, '--bs', '0'], /--bs/));
});

describe('ringtune keygen', () => {
  it('writes a key pair readable by its owner only, and never overwrites a file', async () => {
    const file = join(dir, 'job.key');
    const made = await runCli(['keygen', file], 30_000);
    expect(made.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ publicKey: expect.any(String), secretKey: expect.any(String) });
    const before = readFileSync(file, 'utf8');
    const again = await runCli(['keygen', file], 30_000);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/job\.key exists: remove it first \(a key file is never overwritten\)/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});
