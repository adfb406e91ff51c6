/**
 * fastai's lr_find, distributed like training: every worker takes part and gradients go through
 * the real all-reduce. The coordinator snapshots the replicas (the checkpoint messages), sweeps
 * the LR exponentially while recording the smoothed loss, then restores the snapshot and checks
 * the weights are bitwise back where they started.
 */
import { join } from 'path';
import { writeFileSync } from 'fs';
import { epochOrder, shard, batches } from '../shared/sampler';
import { lrFindSettings, lrFindLr, LrFindStopper, suggestLrs, type LrFindOptions } from '../shared/lr-find';
import type { StepOrder } from '../shared/protocol';
import { SmoothLoss } from './report';
import { writeFigure } from './plot';
import { WorkerFailure, type WorkerHub } from './hub';

/** Adam's default beta1: lr_find runs plain fit, with no momentum schedule. */
const LR_FIND_MOM = 0.9;

export interface LrFindRun extends LrFindOptions {
  nTrain: number;
  bs: number;
  seed: number;
  freezeTo: number;
  groups: number;
  out: string;
  timeoutMs: number;
  log: (line: string) => void;
}

/** Runs the sweep, restores the weights, prints and saves the suggestions and lr_find.png. */
export async function lrFind(
  hub: WorkerHub,
  o: LrFindRun,
): Promise<{ lrs: number[]; losses: number[]; suggestions: ReturnType<typeof suggestLrs> }> {
  const world = hub.world;
  await hub.broadcast(() => ({ type: 'checkpoint', step: -1 }));
  const snapshot = await hub.gather('checkpointData', o.timeoutMs);

  const perEpoch = batches(shard(epochOrder(o.nTrain, o.seed, 0, true), 0, world), o.bs, true).length;
  if (perEpoch === 0) throw new WorkerFailure(`the training set has ${o.nTrain} images: fewer than one batch per worker`, null);
  const settings = lrFindSettings(o, perEpoch);
  const stopper = new LrFindStopper(settings);
  const smooth = new SmoothLoss();
  const lrs: number[] = [];
  const losses: number[] = [];
  let step = 0;
  sweep: for (let epoch = 0; epoch < settings.epochs; epoch++) {
    const order = epochOrder(o.nTrain, o.seed, epoch, true);
    const perRank = Array.from({ length: world }, (_, r) => batches(shard(order, r, world), o.bs, true));
    for (let j = 0; j < perEpoch; j++, step++) {
      const lr = lrFindLr(settings, step);
      await hub.broadcast((r): StepOrder => ({
        type: 'step',
        step,
        phase: 0,
        phaseName: 'lr_find',
        epoch,
        freezeTo: o.freezeTo,
        lrs: Array(o.groups).fill(lr),
        mom: LR_FIND_MOM,
        indices: perRank[r][j].indices,
        next: j + 1 < perEpoch ? perRank[r][j + 1].indices : null,
      }));
      const done = await hub.gather('stepDone', o.timeoutMs);
      const n = done.reduce((a, d) => a + d.msg.n, 0);
      const loss = done.reduce((a, d) => a + d.msg.loss * d.msg.n, 0) / n;
      lrs.push(lr);
      losses.push(smooth.add(loss));
      if (!Number.isFinite(loss) || stopper.afterBatch(smooth.value)) break sweep;
    }
  }

  // Put every replica back exactly as it was (weights, each rank's BN statistics, fresh optimizer).
  const [, weights] = snapshot[0].frames;
  const none = new Uint8Array(0);
  for (let r = 0; r < world; r++)
    void hub.send(r, { type: 'restore', phase: -1, freezeTo: o.freezeTo, adamStep: 0 }, [weights, none, none, snapshot[r].frames[0]]);
  await hub.broadcast(() => ({ type: 'checkpoint', step: -1 }));
  const after = await hub.gather('checkpointData', o.timeoutMs);
  const same = after.every((a, r) => a.frames[0].equals(snapshot[r].frames[0])) && after[0].frames[1].equals(weights);
  if (!same) throw new WorkerFailure(`the replicas' weights differ from the snapshot after lr_find's restore`, null);

  const suggestions = suggestLrs(lrs, losses, settings.numIt);
  const fmt = (v: number) => v.toExponential(2);
  o.log(
    `lr_find: ${lrs.length} iterations from ${fmt(settings.startLr)}${lrs.length < settings.numIt ? ' (stopped early: the loss diverged)' : ''}; weights restored`,
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
  writeFileSync(
    join(o.out, 'lr_find.json'),
    JSON.stringify(
      {
        lrs,
        losses,
        suggestions: {
          valley: suggestions.valley.lr,
          steep: suggestions.steep.lr,
          minimum: suggestions.minimum.lr,
          slide: suggestions.slide.lr,
        },
      },
      null,
      1,
    ) + '\n',
  );
  o.log(`lr_find: wrote ${join(o.out, 'lr_find.png')} and lr_find.json`);
  return { lrs, losses, suggestions };
}
