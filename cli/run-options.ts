/**
 * The run options every training command shares (launch, coordinator, later resume/lr-find):
 * declared once, parsed and checked once, turned into a RunConfig with defaults resolved here.
 */
import { Command, Option } from 'commander';
import { existsSync } from 'fs';
import { join, resolve } from 'path';
import {
  DEFAULTS,
  GRAD_DTYPES,
  type BackendChoice,
  type GradDtype,
  type LossKind,
  type LrSuggestionName,
  type RunConfig,
} from '../shared/config';
import { ALLREDUCE_REQUESTS, type AllReduceRequest } from '../shared/allreduce-choice';
import { ONE_CYCLE_DEFAULTS, DEFAULT_MOMS } from '../shared/plan';
import { parseLrSpec, type LrSpec } from '../shared/schedule';
import { architectures } from '../worker/models';
import { backendOption, flagParser, integerFlag, momsFlag, numberFlag, orSuggestion, positiveFlag, sizesFlag, wholeFlag } from './flags';

/** The backbone committed with ringtune (`npm run pretrain`: the small ResNet trained on MNIST's digits 0-4, see scripts/pretrain.ts). */
export const EMBEDDED_BACKBONE = join(__dirname, '..', '..', 'pretrained', 'resnet-small-digits-0-4', 'model.json');

/** Adds the run options to a command. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'image folders: train/<class>/* and valid/<class>/*, or <class>/* with --valid-pct')
    .option(
      '--valid-pct <p>',
      'validation fraction when the data has no train/valid split',
      numberFlag('--valid-pct', (v) => v > 0 && v < 1, 'in (0, 1)'),
      DEFAULTS.validPct,
    )
    .option('--seed <n>', 'seed of every random choice (shuffles, augmentation, init)', integerFlag('--seed'), DEFAULTS.seed)
    .option(
      '--arch <name|model.json>',
      'resnet-small, resnet18, resnet34, resnet50, mobilenet_v2, or a TF.js LayersModel model.json',
      DEFAULTS.arch,
    )
    .option('--pretrained <model.json>', 'body weights to start from (default: the embedded backbone for resnet-small)')
    .option('--no-pretrained', 'start from random weights')
    .option('--epochs <n>', 'epochs (fine_tune: unfrozen epochs; 0 = frozen phase only)', wholeFlag('--epochs', 0), DEFAULTS.epochs)
    .option('--freeze-epochs <n>', 'fine_tune: epochs with the body frozen', wholeFlag('--freeze-epochs', 0), DEFAULTS.freezeEpochs)
    .option(
      '--base-lr <lr|valley|steep|minimum|slide>',
      "fine_tune base learning rate, or one of lr_find's suggestions (lr_find runs first, on the frozen model)",
      orSuggestion(positiveFlag('--base-lr')),
      DEFAULTS.baseLr,
    )
    .option('--lr-mult <m>', 'fine_tune: ratio of the head peak LR to the first group peak LR', positiveFlag('--lr-mult'), DEFAULTS.lrMult)
    .option('--fit-one-cycle', 'run fit_one_cycle (everything trainable) instead of fine_tune')
    .option(
      '--lr-max <lr|start,stop|valley|steep|minimum|slide>',
      `fit_one_cycle peak LR: a number, a START,STOP slice, or one of lr_find's suggestions (lr_find runs first) (default ${ONE_CYCLE_DEFAULTS.lr}, fastai Learner.lr)`,
      orSuggestion(flagParser((t) => parseLrSpec(t, '--lr-max'))),
    )
    .option(
      '--pct-start <p>',
      'fraction of the cycle spent warming up',
      numberFlag('--pct-start', (v) => v >= 0 && v <= 1, 'in [0, 1]'),
    )
    .option('--div <d>', 'start LR = peak / div', positiveFlag('--div'))
    .option('--div-final <d>', 'final LR = peak / div-final', positiveFlag('--div-final'))
    .option('--moms <a,b,c>', `momentum schedule (default ${DEFAULT_MOMS.join(',')})`, momsFlag('--moms'))
    .option('--bs <n>', 'batch size per worker', wholeFlag('--bs', 1), DEFAULTS.bs)
    .option('--size <px>', 'input size in pixels', wholeFlag('--size', 1), DEFAULTS.size)
    .option(
      '--wd <wd>',
      'decoupled weight decay',
      numberFlag('--wd', (v) => v >= 0, 'a number >= 0'),
      DEFAULTS.wd,
    )
    .option('--groups <n>', 'parameter groups (default: the architecture split)', wholeFlag('--groups', 2))
    .option(
      '--min-scale <s>',
      'random-resized-crop minimum area fraction',
      numberFlag('--min-scale', (v) => v > 0 && v <= 1, 'in (0, 1]'),
      DEFAULTS.minScale,
    )
    .option('--no-flip', 'no random horizontal flips (e.g. for digits)')
    .addOption(
      new Option('--loss <name>', "cross-entropy, or fastai's LabelSmoothingCrossEntropy (eps 0.1)")
        .choices(['cross-entropy', 'label-smoothing'])
        .default(DEFAULTS.loss),
    )
    .addOption(
      new Option('--lin-ftrs <sizes>', 'head hidden layer sizes, comma-separated; "" for none (fastai lin_ftrs)')
        .argParser(sizesFlag('--lin-ftrs'))
        .default(DEFAULTS.linFtrs, DEFAULTS.linFtrs.join(',')),
    )
    .option(
      '--ps <p>',
      'head dropout of the last block; earlier blocks get half (fastai ps)',
      numberFlag('--ps', (v) => v >= 0 && v < 1, 'in [0, 1)'),
      DEFAULTS.ps,
    )
    .option('--no-first-bn', "no BatchNorm before the head's first Dense (fastai first_bn=False)")
    .option('--skip-bad-images', 'train without images that fail to decode (listed at start) instead of stopping')
    .addOption(backendOption('compute backend'))
    .option('--out <dir>', 'output folder for the model, metrics and checkpoints', DEFAULTS.out)
    .option(
      '--checkpoint-every <steps>',
      'also checkpoint every N steps (always at each epoch end)',
      wholeFlag('--checkpoint-every', 0),
      DEFAULTS.checkpointEvery,
    )
    .addOption(
      new Option(
        '--allreduce <how>',
        'gradient all-reduce: auto picks shared memory on one host, the hierarchical one (shared memory within hosts, ZeroMQ rings across) when a host has several workers, else the ZeroMQ ring',
      )
        .choices(ALLREDUCE_REQUESTS)
        .default(DEFAULTS.allreduce),
    )
    .addOption(
      new Option('--grad-dtype <dtype>', 'gradient encoding on the ZeroMQ ring (bf16/fp16 halve the bytes; sums stay fp32)')
        .choices(GRAD_DTYPES)
        .default(DEFAULTS.gradDtype),
    )
    .option(
      '--bucket-mb <mb>',
      'gradient bucket size: each bucket is all-reduced while later ones are still read back from the device (PyTorch DDP: 25)',
      positiveFlag('--bucket-mb'),
      DEFAULTS.bucketMb,
    )
    .option(
      '--keep-checkpoints <k>',
      'checkpoints kept under OUT/checkpoints',
      wholeFlag('--keep-checkpoints', 1),
      DEFAULTS.keepCheckpoints,
    );
}

/** The run options as commander parses them (see addRunOptions). */
export interface RunOptionFlags {
  data?: string;
  validPct: number;
  seed: number;
  arch: string;
  /** A file, false for --no-pretrained, or absent: the embedded backbone where it fits. */
  pretrained?: string | false;
  epochs: number;
  freezeEpochs: number;
  baseLr: number | LrSuggestionName;
  lrMult: number;
  fitOneCycle?: true;
  lrMax?: LrSpec | LrSuggestionName;
  pctStart?: number;
  div?: number;
  divFinal?: number;
  moms?: [number, number, number];
  bs: number;
  size: number;
  wd: number;
  groups?: number;
  minScale: number;
  flip: boolean;
  loss: LossKind;
  linFtrs: number[];
  ps: number;
  firstBn: boolean;
  skipBadImages?: true;
  backend: BackendChoice;
  out: string;
  checkpointEvery: number;
  allreduce: AllReduceRequest;
  gradDtype: GradDtype;
  bucketMb: number;
  keepCheckpoints: number;
}

/** --base-lr / --lr-max as numbers, or the lr_find suggestion one of them names (for the plan that uses it). */
function learningRates(o: RunOptionFlags): Pick<RunConfig, 'baseLr' | 'lrMax' | 'lrFrom'> {
  const named = (v: unknown): v is LrSuggestionName => typeof v === 'string';
  if (named(o.baseLr) && o.fitOneCycle)
    throw new Error(`--base-lr ${o.baseLr} sets fine_tune's base_lr; with --fit-one-cycle use --lr-max ${o.baseLr}`);
  if (named(o.lrMax) && !o.fitOneCycle)
    throw new Error(`--lr-max ${o.lrMax} sets fit_one_cycle's peak; for fine_tune use --base-lr ${o.lrMax}`);
  return {
    baseLr: named(o.baseLr) ? DEFAULTS.baseLr : o.baseLr,
    lrMax: named(o.lrMax) ? null : (o.lrMax ?? null),
    lrFrom: named(o.baseLr) ? o.baseLr : named(o.lrMax) ? o.lrMax : null,
  };
}

/** Turns parsed options into a RunConfig (paths made absolute so every process agrees). */
export function configFromOptions(o: RunOptionFlags): Omit<RunConfig, 'nClasses'> {
  const arch = o.arch;
  const archPath = arch.endsWith('.json') ? resolve(arch) : arch;
  if (archPath.endsWith('.json') ? !existsSync(archPath) : !architectures().includes(arch)) {
    throw new Error(
      archPath.endsWith('.json')
        ? `--arch: no such file ${archPath}`
        : `--arch: unknown architecture '${arch}': use one of ${architectures().join(', ')} or a TF.js model.json`,
    );
  }
  let pretrained: string | null = null;
  if (typeof o.pretrained === 'string') pretrained = resolve(o.pretrained);
  else if (o.pretrained === undefined) pretrained = arch === 'resnet-small' && existsSync(EMBEDDED_BACKBONE) ? EMBEDDED_BACKBONE : null;
  if (pretrained && !existsSync(pretrained)) throw new Error(`--pretrained: no such file ${pretrained}`);
  if (o.data === undefined) throw new Error(`--data DIR is required: image folders train/<class>/* and valid/<class>/*, or <class>/*`);
  const data = resolve(o.data);
  if (!existsSync(data)) throw new Error(`--data: no such folder ${data}`);
  const { baseLr, lrMax, lrFrom } = learningRates(o);
  return {
    data,
    validPct: o.validPct,
    seed: o.seed,
    arch: archPath,
    pretrained,
    size: o.size,
    bs: o.bs,
    wd: o.wd,
    groups: o.groups ?? null,
    plan: o.fitOneCycle ? 'fit_one_cycle' : 'fine_tune',
    epochs: o.epochs,
    freezeEpochs: o.freezeEpochs,
    baseLr,
    lrMult: o.lrMult,
    lrMax,
    lrFrom,
    pctStart: o.pctStart ?? null,
    div: o.div ?? null,
    divFinal: o.divFinal ?? null,
    moms: o.moms ?? null,
    backend: o.backend,
    out: resolve(o.out),
    flip: o.flip,
    minScale: o.minScale,
    loss: o.loss,
    skipBadImages: o.skipBadImages === true,
    linFtrs: o.linFtrs,
    ps: o.ps,
    firstBn: o.firstBn,
    checkpointEvery: o.checkpointEvery,
    keepCheckpoints: o.keepCheckpoints,
    allreduce: o.allreduce,
    gradDtype: o.gradDtype,
    bucketMb: o.bucketMb,
  };
}
