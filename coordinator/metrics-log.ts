/** metrics.jsonl: one JSON line per step and per epoch, appended as the run goes. */
import { appendFileSync, mkdirSync } from 'fs';
import { dirname } from 'path';
import type { Callback } from './events';
import type { Phase } from '../shared/plan';

/** StepInfo fields a step record keeps as they are; samples_per_s, rss_mb and js_heap_mb follow, in the units their readers use. */
const STEP_FIELDS = [
  'epoch',
  'iter',
  'step',
  'loss',
  'smoothLoss',
  'lrs',
  'mom',
  'computeMs',
  'allreduceMs',
  'allreduceWaitMs',
  'allreduceBytes',
  'tensors',
] as const;

/**
 * EpochInfo fields an epoch record keeps; rankHashes is every worker's weight hash after the epoch
 * (the run stops if they differ): the record shows they agreed.
 */
const EPOCH_FIELDS = ['epoch', 'trainLoss', 'validLoss', 'accuracy', 'errorRate', 'seconds', 'validSamples', 'rankHashes'] as const;

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** One record: its kind, the phase's name, then `fields` of `info` under their snake_case names. */
function record<T extends { phase: Phase }>(kind: string, info: T, fields: readonly (keyof T & string)[]): Record<string, unknown> {
  const r: Record<string, unknown> = { kind, phase: info.phase.name };
  for (const f of fields) r[snakeCase(f)] = info[f];
  return r;
}

/** Appends step and epoch records to `file`. */
export function metricsLog(file: string): Callback {
  mkdirSync(dirname(file), { recursive: true });
  const write = (r: object) => appendFileSync(file, JSON.stringify(r) + '\n');
  return {
    order: 60,
    afterStep({ stepDone: s }) {
      if (s)
        write({
          ...record('step', s, STEP_FIELDS),
          samples_per_s: s.samplesPerSec,
          rss_mb: Math.round(s.rssBytes / 1048576),
          js_heap_mb: Math.round(s.jsHeapBytes / 1048576),
        });
    },
    afterEpoch({ epochDone: e }) {
      if (e) write(record('epoch', e, EPOCH_FIELDS));
    },
  };
}
