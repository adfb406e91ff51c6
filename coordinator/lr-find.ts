/**
 * fastai's lr_find: a callback on fit (fastai's LRFinder), so the sweep is distributed like
 * training: every worker takes part and gradients go through the real all-reduce. Before the fit
 * it snapshots the replicas (the checkpoint messages); before every step it sets the exponential
 * LR; after every step it records the smoothed loss and stops the fit once the loss diverges or
 * num_it steps are done; it skips validation. After the fit it restores the snapshot, checks the
 * weights are bitwise back where they started, and writes lr_find.png and lr_find.json.
 */
import { join } from 'path';
import { writeFileSync } from 'fs';
import type { Phase } from '../shared/plan';
import { lrFindSettings, lrFindLr, LrFindStopper, suggestLrs, type LrFindOptions, type LrFindSettings } from '../shared/lr-find';
import { CancelFitError, CancelStepError, CancelValidError, type Callback } from './events';
import { fit } from './fit';
import { epochBatches, type Sampling } from './orders';
import { writeFigure } from './plot';
import { WorkerFailure, type WorkerHub } from './hub';

/** Adam's default beta1: lr_find runs plain fit, with no momentum schedule. */
const LR_FIND_MOM = 0.9;

export interface LrFindRun extends LrFindOptions, Sampling {
  /** The phase to sweep on (the plan's first: its frozen groups); its schedule is replaced. */
  phase: Phase;
  out: string;
  timeoutMs: number;
  log: (line: string) => void;
}

export interface LrFindResult {
  lrs: number[];
  losses: number[];
  suggestions: ReturnType<typeof suggestLrs>;
}

/** fastai's Learner.lr_find: fit for enough epochs to cover num_it batches, with the LRFinder callback. */
export async function lrFind(hub: WorkerHub, o: LrFindRun): Promise<LrFindResult> {
  const settings = lrFindSettings(o, epochBatches(o, 0, hub.world)[0].length);
  const finder = lrFinder(hub, settings, o);
  await fit(hub, { ...o, plan: [{ ...o.phase, name: 'lr_find', epochs: settings.epochs }], callbacks: [finder] });
  return finder.result();
}

/** The LRFinder callback; `result` is there once the fit is over. */
function lrFinder(hub: WorkerHub, s: LrFindSettings, o: LrFindRun): Callback & { result(): LrFindResult } {
  const stopper = new LrFindStopper(s);
  const lrs: number[] = [];
  const losses: number[] = [];
  const snapshotReplicas = async () => {
    await hub.broadcast(() => ({ type: 'checkpoint', step: -1 }));
    return hub.gather('checkpointData', o.timeoutMs);
  };
  let snapshot: Awaited<ReturnType<typeof snapshotReplicas>> = [];
  let result: LrFindResult | null = null;
  return {
    async beforeFit() {
      snapshot = await snapshotReplicas();
    },
    beforeStep(f) {
      // Note [steps in flight]: step num_it would be ordered before step num_it-1's loss stops the fit.
      if (f.progress.step >= s.numIt) throw new CancelStepError();
      const lr = lrFindLr(s, f.progress.step);
      f.hypers = { lrs: f.hypers.lrs.map(() => lr), mom: LR_FIND_MOM };
    },
    afterStep({ stepDone }) {
      if (!stepDone) return;
      lrs.push(stepDone.lrs[0]);
      losses.push(stepDone.smoothLoss);
      if (!Number.isFinite(stepDone.loss) || stopper.afterBatch(stepDone.smoothLoss)) throw new CancelFitError();
    },
    beforeValidate() {
      throw new CancelValidError();
    },
    async afterFit() {
      // Put every replica back exactly as it was (weights, each rank's BN statistics, fresh optimizer).
      const [, weights] = snapshot[0].frames;
      const none = new Uint8Array(0);
      for (let r = 0; r < hub.world; r++)
        void hub.send(r, { type: 'restore', phase: -1, freezeTo: o.phase.freezeTo, adamStep: 0 }, [
          weights,
          none,
          none,
          snapshot[r].frames[0],
        ]);
      const after = await snapshotReplicas();
      const same = after.every((a, r) => a.frames[0].equals(snapshot[r].frames[0])) && after[0].frames[1].equals(weights);
      if (!same) throw new WorkerFailure(`the replicas' weights differ from the snapshot after lr_find's restore`, null);
      result = { lrs, losses, suggestions: suggestLrs(lrs, losses, s.numIt) };
      await report(result, s, o, hub.world);
    },
    result() {
      if (!result) throw new Error('lr_find has no result: its fit did not finish');
      return result;
    },
  };
}

/** Prints the suggestions and writes lr_find.png (fastai's plot) and lr_find.json. */
async function report({ lrs, losses, suggestions }: LrFindResult, s: LrFindSettings, o: LrFindRun, world: number): Promise<void> {
  const fmt = (v: number) => v.toExponential(2);
  o.log(
    `lr_find: ${lrs.length} iterations from ${fmt(s.startLr)}${lrs.length < s.numIt ? ' (stopped early: the loss diverged)' : ''}; weights restored`,
  );
  o.log(`SuggestedLRs(valley=${fmt(suggestions.valley.lr)}, steep=${fmt(suggestions.steep.lr)}, minimum=${fmt(suggestions.minimum.lr)})`);
  const shown = Math.max(1, lrs.length - 5); // fastai's plot skips the last 5 points
  await writeFigure(join(o.out, 'lr_find.png'), [
    {
      series: [{ name: 'smoothed loss', x: lrs.slice(0, shown), y: losses.slice(0, shown) }],
      logX: true,
      xLabel: 'learning rate',
      yLabel: 'loss',
      title: `lr_find (${world} worker${world > 1 ? 's' : ''})`,
      markers: (['valley', 'steep', 'minimum'] as const).map((k) => ({
        x: suggestions[k].point[0],
        y: suggestions[k].point[1],
        label: `${k} ${fmt(suggestions[k].lr)}`,
      })),
    },
  ]);
  const picked = {
    valley: suggestions.valley.lr,
    steep: suggestions.steep.lr,
    minimum: suggestions.minimum.lr,
    slide: suggestions.slide.lr,
  };
  writeFileSync(join(o.out, 'lr_find.json'), JSON.stringify({ lrs, losses, suggestions: picked }, null, 1) + '\n');
  o.log(`lr_find: wrote ${join(o.out, 'lr_find.png')} and lr_find.json`);
}
