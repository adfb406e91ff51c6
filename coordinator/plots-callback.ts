/**
 * Training plots under the run's output folder, refreshed as the run goes: loss.png (batch loss,
 * smoothed loss, validation loss; validation accuracy) and schedule.png (the LR of every group
 * and the momentum each step actually used). Redrawn after every epoch and phase, and at most
 * every `minIntervalMs` between them.
 */
import { join } from 'path';
import type { Phase } from '../shared/plan';
import type { Callback } from './events';
import { figureSvg, svgToPng, type Panel } from './plot';
import { writePngAtomic } from './figures';
import { schedulePanels, type ScheduleRecord } from './schedule-figure';

/** Options of the plots callback. */
export interface PlotsOptions {
  /** Least time between redraws triggered by steps (default 15 s). */
  minIntervalMs?: number;
  /** Where a failed redraw is reported; training goes on without the plot. */
  warn?: (line: string) => void;
}

/** What the run reported so far, in the shape the plots need. */
export interface PlotHistory {
  steps: { step: number; loss: number; smoothLoss: number; record: ScheduleRecord }[];
  epochs: { step: number; validLoss: number; accuracy: number; label: string }[];
  plan: Phase[];
}

/** The loss figure: losses per step with validation loss at epoch ends; validation accuracy per epoch. */
export function lossPanels(h: PlotHistory): Panel[] {
  const x = h.steps.map((s) => s.step);
  const ex = h.epochs.map((e) => e.step);
  const phaseStarts = h.steps.filter((s) => s.record.iter === 0).map((s) => ({ x: s.step, label: s.record.phase }));
  const vLines = phaseStarts.length > 1 ? phaseStarts : [];
  const loss: Panel = {
    title: 'loss',
    xLabel: 'step',
    yLabel: 'loss',
    vLines,
    series: [
      { name: 'train (batch)', x, y: h.steps.map((s) => s.loss), color: '#aec7e8' },
      { name: 'train (smoothed)', x, y: h.steps.map((s) => s.smoothLoss), color: '#1f77b4' },
      { name: 'valid', x: ex, y: h.epochs.map((e) => e.validLoss), color: '#ff7f0e' },
    ],
    markers: h.epochs.map((e) => ({ x: e.step, y: e.validLoss, label: '', color: '#ff7f0e' })),
  };
  const accuracy: Panel = {
    title: 'validation accuracy',
    xLabel: 'step',
    yLabel: 'accuracy',
    vLines,
    legend: false,
    series: [
      { name: 'accuracy', x: ex, y: h.epochs.map((e) => e.accuracy), color: '#2ca02c' },
      // Never drawn (no finite x): pins the axis to [0, 1] so small changes do not look like big ones.
      { name: 'range', x: [NaN, NaN], y: [0, 1] },
    ],
    markers: h.epochs.map((e) => ({ x: e.step, y: e.accuracy, label: '', color: '#2ca02c' })),
  };
  return [loss, accuracy];
}

/** A Callback that keeps `out`/loss.png and `out`/schedule.png up to date. */
export function plotsCallback(out: string, o: PlotsOptions = {}): Callback & { readonly history: PlotHistory; redraw(): Promise<void> } {
  const minIntervalMs = o.minIntervalMs ?? 15_000;
  const warn = o.warn ?? ((l: string) => console.error(l));
  const history: PlotHistory = { steps: [], epochs: [], plan: [] };
  let lastDraw = Date.now();
  let warned = false;
  let lastStep = -1;

  async function redraw(): Promise<void> {
    lastDraw = Date.now();
    if (history.steps.length === 0) return;
    try {
      const n = history.steps.length;
      const loss = figureSvg(lossPanels(history), { title: `training loss (${n} steps)`, columns: 2 });
      await writePngAtomic(join(out, 'loss.png'), await svgToPng(loss.svg));
      const records = history.steps.map((s) => s.record);
      const sched = figureSvg(schedulePanels(history.plan, records), { title: `schedule as run (${n} steps)`, columns: 2 });
      await writePngAtomic(join(out, 'schedule.png'), await svgToPng(sched.svg));
    } catch (e) {
      if (!warned) warn(`ringtune: could not draw the training plots in ${out}: ${(e as Error).message} (training goes on)`);
      warned = true;
    }
  }

  return {
    order: 70,
    history,
    redraw,
    beforeFit({ plan }) {
      history.plan = plan;
    },
    async afterStep({ stepDone: s }) {
      if (!s) return;
      lastStep = s.step;
      history.steps.push({
        step: s.step,
        loss: s.loss,
        smoothLoss: s.smoothLoss,
        record: { phase: s.phase.name, iter: s.iter, lr: [...s.lrs], mom: s.mom },
      });
      if (Date.now() - lastDraw >= minIntervalMs) await redraw();
    },
    async afterEpoch({ epochDone: e }) {
      if (!e) return;
      history.epochs.push({ step: lastStep, validLoss: e.validLoss, accuracy: e.accuracy, label: `${e.phase.name} ${e.epoch}` });
      await redraw();
    },
    afterPhase: redraw,
  };
}
