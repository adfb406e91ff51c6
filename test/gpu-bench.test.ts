/**
 * bench:gpu without a GPU: with no adapter it says so and exits 0, with an adapter name that
 * matches nothing it lists the adapters and fails; on Dawn's null device (no
 * computation, so no meaningful numbers) both the stock and the ringtune variant run the whole
 * way through, in their own processes, with a flat tensor count, and the audit runs for ringtune
 * alone.
 */
import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { webgpuAdapter, withAdapter } from './helpers/webgpu';

const bench = join(__dirname, '..', 'dist', 'scripts', 'bench-gpu.js');
const dir = mkdtempSync(join(tmpdir(), 'ringtune-bench-gpu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runBench(args: string[], env: NodeJS.ProcessEnv) {
  if (!existsSync(bench)) throw new Error(`${bench} missing: run \`npm run build\` first (npm test does)`);
  return spawnSync(process.execPath, [bench, ...args], { encoding: 'utf8', timeout: 110_000, env: { ...process.env, ...env } });
}

test('no adapter (no Vulkan driver): says "no GPU adapter", names the fix and exits 0', () => {
  const r = runBench(['--no-torch'], { VK_DRIVER_FILES: join(dir, 'no-such-vulkan-driver.json'), VK_ICD_FILENAMES: '' });
  expect(r.signal).toBeNull();
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^no GPU adapter: --backend webgpu: no GPU adapter: Dawn found none .*Vulkan driver/m);
});

withAdapter('an adapter name that matches nothing: one error listing the adapters found, exit 1', () => {
  const r = runBench(['--no-torch'], { RINGTUNE_WEBGPU_ADAPTER: 'no-such-gpu-ringtune' });
  expect(r.signal).toBeNull();
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(
    `no adapter's name contains 'no-such-gpu-ringtune' (RINGTUNE_WEBGPU_ADAPTER); Dawn found: '${webgpuAdapter}' (vulkan)`,
  );
});

test('null device: stock and ringtune variants run through in their own processes, tensor count flat', () => {
  const json = join(dir, 'out.json');
  const r = runBench(
    [
      '--no-torch',
      '--variants',
      'stock,ringtune',
      '--nets',
      'cnn',
      '--cnn-size',
      '16',
      '--cnn-batch',
      '2',
      '--warmup',
      '1',
      '--steps',
      '2',
      '--json',
      json,
    ],
    { RINGTUNE_DAWN_FLAGS: 'backend=null' },
  );
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/small CNN 16px, batch 2: training img\/s on Dawn adapter 'null-backend'/);
  expect(r.stdout).toMatch(/\| stock +\| +[\d.]+ \|.*\| +1\.00x \|/);
  expect(r.stdout).toMatch(/\| ringtune +\| +[\d.]+ \|/);
  const out = JSON.parse(readFileSync(json, 'utf8'));
  expect(out.runs.map((v: { variant: string }) => v.variant)).toEqual(['stock', 'ringtune']);
  for (const v of out.runs) {
    expect(v.results).toHaveLength(1);
    expect(v.results[0].tensorsFlat).toBe(true);
    expect(v.results[0].stepMs).toHaveLength(2);
  }
  // The ringtune variant keeps tfjs-webgpu's tiled input gradient on; stock leaves the naive one.
  expect(out.runs[0].flags.WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE).toBe(true);
  expect(out.runs[1].flags.WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE).toBe(false);
});

test('null device: --audit --no-stock audits ringtune alone, one column, with its goals', () => {
  const r = runBench(['--audit', '--no-stock', '--nets', 'cnn', '--cnn-size', '16', '--cnn-batch', '2', '--warmup', '1'], {
    RINGTUNE_DAWN_FLAGS: 'backend=null',
  });
  expect(r.signal).toBeNull();
  expect(r.stdout).toMatch(/^one training step on Dawn adapter 'null-backend'/m);
  expect(r.stdout).toContain('| kernel | MFLOP | ringtune: calls | dispatches | threads | MB bound |\n|---|---:|---:|---:|---:|---:|\n');
  expect(r.stdout).not.toContain('stock');
  expect(r.stdout).toMatch(/^\| FusedConv2D \| [\d.]+ \| 7 \| \d+ \|/m);
  expect(r.stdout).toMatch(/^goal: every kernel > 10 MFLOP launches >= 65536 threads: met$/m);
});
