/**
 * Where a run's step time went, from its metrics.jsonl: per phase, the median compute and
 * all-reduce milliseconds of the slowest worker, how much of the all-reduce was waiting for a
 * slower peer to arrive (compute skew) rather than moving data, the shares of step time, throughput
 * and the epoch's accuracy. Several runs side by side compare all-reduce settings.
 *
 *   node dist/scripts/step-times.js runs/a runs/b
 */
import { existsSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { median } from './stats';

interface StepRecord {
  kind: 'step';
  phase: string;
  compute_ms: number;
  allreduce_ms: number;
  allreduce_wait_ms?: number;
  samples_per_s: number;
  allreduce_bytes: number;
}
interface EpochRecord {
  kind: 'epoch';
  phase: string;
  accuracy: number;
}

function records(path: string): (StepRecord | EpochRecord)[] {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'metrics.jsonl') : path;
  if (!existsSync(file)) throw new Error(`${file} does not exist: pass a run's --out folder or its metrics.jsonl`);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return JSON.parse(l) as StepRecord | EpochRecord;
      } catch {
        throw new Error(`${file}:${i + 1} is not JSON`);
      }
    });
}

function main(): void {
  const runs = process.argv.slice(2);
  if (runs.length === 0) throw new Error('usage: step-times <run folder or metrics.jsonl>...');
  const cells = (c: (string | number)[]) => c.map((x, i) => String(x).padStart(i === 0 ? 28 : 11)).join(' ');
  console.log(
    cells([
      'run',
      'phase',
      'steps',
      'compute ms',
      'allreduce',
      'of it wait',
      'allreduce %',
      'transfer %',
      'samples/s',
      'MB/step',
      'accuracy',
    ]),
  );
  for (const run of runs) {
    const all = records(run);
    for (const phase of [...new Set(all.map((r) => r.phase))]) {
      // The first step of a phase includes one-off work (kernel warm-up, a new trainable set): left out.
      const steps = all.filter((r): r is StepRecord => r.kind === 'step' && r.phase === phase).slice(1);
      const epochs = all.filter((r): r is EpochRecord => r.kind === 'epoch' && r.phase === phase);
      const compute = steps.reduce((a, s) => a + s.compute_ms, 0);
      const reduce = steps.reduce((a, s) => a + s.allreduce_ms, 0);
      const timed = steps.every((s) => s.allreduce_wait_ms !== undefined); // older runs did not record it
      const wait = steps.reduce((a, s) => a + (s.allreduce_wait_ms ?? 0), 0);
      console.log(
        cells([
          run.slice(-28),
          phase,
          steps.length,
          median(steps.map((s) => s.compute_ms)).toFixed(1),
          median(steps.map((s) => s.allreduce_ms)).toFixed(2),
          timed ? median(steps.map((s) => s.allreduce_wait_ms!)).toFixed(2) : '-',
          ((100 * reduce) / (compute + reduce)).toFixed(1),
          timed ? ((100 * (reduce - wait)) / (compute + reduce)).toFixed(2) : '-',
          median(steps.map((s) => s.samples_per_s)).toFixed(0),
          ((steps[0]?.allreduce_bytes ?? 0) / 2 ** 20).toFixed(2),
          epochs.length ? epochs[epochs.length - 1].accuracy.toFixed(4) : '-',
        ]),
      );
    }
  }
}

try {
  main();
} catch (e) {
  console.error(`step-times: ${(e as Error).message}`);
  process.exit(1);
}
