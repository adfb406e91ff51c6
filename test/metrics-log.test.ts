/** metrics.jsonl's records under the names its readers (step-times, soak, the integration tests) use. */
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { metricsLog } from '../coordinator/metrics-log';
import type { EpochInfo, FitState, StepInfo } from '../coordinator/events';
import type { Phase } from '../shared/plan';

const phase: Phase = {
  name: 'frozen',
  epochs: 1,
  freezeTo: 2,
  lrMax: [1e-3],
  div: 25,
  divFinal: 1e5,
  pctStart: 0.25,
  moms: [0.95, 0.85, 0.95],
};

const step: StepInfo = {
  phase,
  phaseIndex: 0,
  epoch: 1,
  iter: 7,
  batchesPerEpoch: 6,
  step: 9,
  loss: 0.5,
  smoothLoss: 0.6,
  lrs: [1e-4, 1e-3],
  mom: 0.9,
  samples: 64,
  samplesPerSec: 120.5,
  computeMs: 30,
  allreduceMs: 4,
  allreduceWaitMs: 1.5,
  allreduceBytes: 4096,
  tensors: 321,
  rssBytes: 300 * 1048576 + 1000,
  jsHeapBytes: 60 * 1048576 + 1000,
};

const epoch: EpochInfo = {
  phase,
  phaseIndex: 0,
  epoch: 1,
  trainLoss: 0.7,
  validLoss: 0.8,
  accuracy: 0.75,
  errorRate: 0.25,
  seconds: 12.5,
  validSamples: 40,
  rankHashes: ['ab', 'ab'],
};

test('a step and an epoch append one record each, snake_case, with samples/s and resident MB', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringtune-metrics-'));
  try {
    const file = join(dir, 'run', 'metrics.jsonl');
    const log = metricsLog(file);
    // The hooks read only what finished; the rest of the fit's state is not theirs.
    await log.afterStep!({ stepDone: step, epochDone: null } as unknown as FitState);
    await log.afterStep!({ stepDone: null, epochDone: null } as unknown as FitState);
    await log.afterEpoch!({ stepDone: null, epochDone: epoch } as unknown as FitState);
    const records = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toEqual([
      {
        kind: 'step',
        phase: 'frozen',
        epoch: 1,
        iter: 7,
        step: 9,
        loss: 0.5,
        smooth_loss: 0.6,
        lrs: [1e-4, 1e-3],
        mom: 0.9,
        samples_per_s: 120.5,
        compute_ms: 30,
        allreduce_ms: 4,
        allreduce_wait_ms: 1.5,
        allreduce_bytes: 4096,
        tensors: 321,
        rss_mb: 300,
        js_heap_mb: 60,
      },
      {
        kind: 'epoch',
        phase: 'frozen',
        epoch: 1,
        train_loss: 0.7,
        valid_loss: 0.8,
        accuracy: 0.75,
        error_rate: 0.25,
        seconds: 12.5,
        valid_samples: 40,
        rank_hashes: ['ab', 'ab'],
      },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
