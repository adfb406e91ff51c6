/** metrics.jsonl: one JSON line per step and per epoch, appended as the run goes. */
import { appendFileSync, mkdirSync } from 'fs';
import { dirname } from 'path';
import type { Callback } from './events';

/** Appends step and epoch records to `file`. */
export function metricsLog(file: string): Callback {
  mkdirSync(dirname(file), { recursive: true });
  const write = (record: object) => appendFileSync(file, JSON.stringify(record) + '\n');
  return {
    order: 60,
    afterStep({ stepDone: s }) {
      if (!s) return;
      write({
        kind: 'step',
        phase: s.phase.name,
        epoch: s.epoch,
        iter: s.iter,
        step: s.step,
        loss: s.loss,
        smooth_loss: s.smoothLoss,
        lrs: s.lrs,
        mom: s.mom,
        samples_per_s: s.samplesPerSec,
        compute_ms: s.computeMs,
        allreduce_ms: s.allreduceMs,
        allreduce_wait_ms: s.allreduceWaitMs,
        allreduce_bytes: s.allreduceBytes,
        tensors: s.tensors,
        rss_mb: Math.round(s.rssBytes / 1048576),
      });
    },
    afterEpoch({ epochDone: e }) {
      if (!e) return;
      write({
        kind: 'epoch',
        phase: e.phase.name,
        epoch: e.epoch,
        train_loss: e.trainLoss,
        valid_loss: e.validLoss,
        accuracy: e.accuracy,
        error_rate: e.errorRate,
        seconds: e.seconds,
        valid_samples: e.validSamples,
        // Every worker's weight hash after the epoch (the run stops if they differ): the record shows they agreed.
        rank_hashes: e.rankHashes,
      });
    },
  };
}
