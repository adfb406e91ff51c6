/**
 * `npm run soak`: a long run of a tiny model (2,000 steps by default, 2 workers) that checks the
 * workers do not leak: live tensors must be flat and resident memory must grow less than 5%
 * (measured from step 100, after warm-up, to the end). Prints both and exits non-zero on a leak.
 * Usage: node dist/scripts/soak.js [--steps N]
 */
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { launch } from '../cli/launch';
import { makeImageFolders } from '../test/helpers/images';

async function main(): Promise<void> {
  const at = process.argv.indexOf('--steps');
  const steps = at > 0 ? Number(process.argv[at + 1]) : 2000;
  const dir = mkdtempSync(join(tmpdir(), 'ringtune-soak-'));
  try {
    const data = join(dir, 'data');
    // 2 classes x 32 images, 2 workers x bs 4: 8 steps per epoch.
    await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 32, validPerClass: 4, size: 8 });
    const epochs = Math.ceil(steps / 8);
    const out = join(dir, 'out');
    const args = [
      '--data',
      data,
      '--size',
      '8',
      '--bs',
      '4',
      '--backend',
      'wasm',
      '--no-pretrained',
      '--lin-ftrs',
      '16',
      '--fit-one-cycle',
      '--epochs',
      String(epochs),
      '--out',
      out,
    ];
    const code = await launch({ cli: join(__dirname, '..', 'cli', 'main.js'), workers: 2, runArgs: args });
    if (code !== 0) throw new Error(`the soak run failed (exit ${code})`);
    const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.kind === 'step');
    const warm = records[Math.min(100, records.length - 1)];
    const last = records[records.length - 1];
    const tensorsFlat = records.slice(1).every((r) => r.tensors === records[1].tensors);
    const growth = (last.rss_mb - warm.rss_mb) / warm.rss_mb;
    console.log('| steps | live tensors (step 1 -> last) | RSS MB (step 100 -> last) | RSS growth |');
    console.log('|---|---|---|---|');
    console.log(
      `| ${records.length} | ${records[1].tensors} -> ${last.tensors}${tensorsFlat ? ' (flat)' : ' (NOT flat)'} | ${warm.rss_mb} -> ${last.rss_mb} | ${(growth * 100).toFixed(1)}% |`,
    );
    if (!tensorsFlat || growth >= 0.05) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`soak: ${(e as Error).message}`);
  process.exit(1);
});
