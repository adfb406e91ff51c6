/** The schedule as data and as a figure: every iteration's LR per group and momentum, and their plot. */
import { hypersAt, phaseIters, type Phase } from '../shared/plan';
import type { Panel } from './plot';

/** One iteration of a plan, as `--json` prints it. */
export interface ScheduleRecord {
  phase: Phase['name'];
  iter: number;
  lr: number[];
  mom: number;
}

/** Every iteration of every phase in order, `iter` counted from 0 within each phase. */
export function scheduleRecords(phases: Phase[], batchesPerEpoch: number): ScheduleRecord[] {
  return phases.flatMap((phase) =>
    Array.from({ length: phaseIters(phase, batchesPerEpoch) }, (_, iter) => ({
      phase: phase.name,
      iter,
      ...hypersAt(phase, iter, batchesPerEpoch),
    })),
  );
}

/** The schedule figure: LR per group (log scale) and momentum over the plan's iterations. */
export function schedulePanels(phases: Phase[], records: ScheduleRecord[]): Panel[] {
  const x = records.map((_, i) => i);
  const groups = phases[0]?.lrMax.length ?? 0;
  const starts = records.flatMap((r, k) => (r.iter === 0 ? [{ x: k, label: r.phase }] : []));
  const vLines = starts.length > 1 ? starts : []; // mark where each phase begins
  const name = (g: number) => (groups === 1 ? 'all parameters' : g === groups - 1 ? `group ${g} (head)` : `group ${g}`);
  const lr: Panel = {
    title: 'learning rate',
    xLabel: 'iteration',
    yLabel: 'lr',
    logY: true,
    vLines,
    series: Array.from({ length: groups }, (_, g) => ({ name: name(g), x, y: records.map((r) => r.lr[g]) })),
  };
  const mom: Panel = {
    title: 'momentum (Adam beta1)',
    xLabel: 'iteration',
    yLabel: 'mom',
    vLines,
    legend: false,
    series: [{ name: 'mom', x, y: records.map((r) => r.mom), color: '#2ca02c' }],
  };
  return [lr, mom];
}
