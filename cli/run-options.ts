/**
 * The run options every training command shares (launch, coordinator, later resume/lr-find):
 * declared once, parsed and checked once, turned into a RunConfig with defaults resolved here.
 */
import { Command, Option, InvalidArgumentError } from 'commander';
import { existsSync } from 'fs';
import { join, resolve } from 'path';
import { DEFAULTS, type RunConfig } from '../shared/config';
import { parseLrSpec } from '../shared/schedule';
import { architectures } from '../worker/models';

/** The backbone committed with ringtune (produced by scripts/pretrain on fashion-mnist). */
export const EMBEDDED_BACKBONE = join(__dirname, '..', '..', 'pretrained', 'resnet-small-fashion', 'model.json');

function number(flag: string, check: (v: number) => boolean, what: string) {
  return (text: string): number => {
    const v = Number(text);
    if (!Number.isFinite(v) || !check(v)) throw new InvalidArgumentError(`${flag} must be ${what}, got '${text}'`);
    return v;
  };
}
const positive = (flag: string) => number(flag, (v) => v > 0, 'a positive number');
const count = (flag: string) => number(flag, (v) => Number.isInteger(v) && v >= 1, 'a whole number >= 1');

/** Adds the run options to a command. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'image folders: train/<class>/* and valid/<class>/*, or <class>/* with --valid-pct')
    .option(
      '--valid-pct <p>',
      'validation fraction when the data has no train/valid split',
      number('--valid-pct', (v) => v > 0 && v < 1, 'in (0, 1)'),
      DEFAULTS.validPct,
    )
    .option(
      '--seed <n>',
      'seed of every random choice (shuffles, augmentation, init)',
      number('--seed', Number.isInteger, 'an integer'),
      DEFAULTS.seed,
    )
    .option(
      '--arch <name|model.json>',
      'resnet-small, resnet18, resnet34, resnet50, mobilenet_v2, or a TF.js LayersModel model.json',
      DEFAULTS.arch,
    )
    .option('--pretrained <model.json>', 'body weights to start from (default: the embedded backbone for resnet-small)')
    .option('--no-pretrained', 'start from random weights')
    .option(
      '--epochs <n>',
      'epochs (fine_tune: unfrozen epochs; 0 = frozen phase only)',
      number('--epochs', (v) => Number.isInteger(v) && v >= 0, 'a whole number >= 0'),
      DEFAULTS.epochs,
    )
    .option(
      '--freeze-epochs <n>',
      'fine_tune: epochs with the body frozen',
      number('--freeze-epochs', (v) => Number.isInteger(v) && v >= 0, 'a whole number >= 0'),
      DEFAULTS.freezeEpochs,
    )
    .option('--base-lr <lr>', 'fine_tune base learning rate', positive('--base-lr'), DEFAULTS.baseLr)
    .option('--lr-mult <m>', 'fine_tune: ratio of the head peak LR to the first group peak LR', positive('--lr-mult'), DEFAULTS.lrMult)
    .option('--fit-one-cycle', 'run fit_one_cycle (everything trainable) instead of fine_tune')
    .option('--lr-max <lr|start,stop>', 'fit_one_cycle peak LR: a number or a START,STOP slice (default 1e-3, fastai Learner.lr)')
    .option(
      '--pct-start <p>',
      'fraction of the cycle spent warming up',
      number('--pct-start', (v) => v >= 0 && v <= 1, 'in [0, 1]'),
    )
    .option('--div <d>', 'start LR = peak / div', positive('--div'))
    .option('--div-final <d>', 'final LR = peak / div-final', positive('--div-final'))
    .option('--moms <a,b,c>', 'momentum schedule (default 0.95,0.85,0.95)')
    .option('--bs <n>', 'batch size per worker', count('--bs'), DEFAULTS.bs)
    .option('--size <px>', 'input size in pixels', count('--size'), DEFAULTS.size)
    .option(
      '--wd <wd>',
      'decoupled weight decay',
      number('--wd', (v) => v >= 0, 'a number >= 0'),
      DEFAULTS.wd,
    )
    .option(
      '--groups <n>',
      'parameter groups (default: the architecture split)',
      number('--groups', (v) => Number.isInteger(v) && v >= 2, 'a whole number >= 2'),
    )
    .option(
      '--min-scale <s>',
      'random-resized-crop minimum area fraction',
      number('--min-scale', (v) => v > 0 && v <= 1, 'in (0, 1]'),
      DEFAULTS.minScale,
    )
    .option('--no-flip', 'no random horizontal flips (e.g. for digits)')
    .option('--lin-ftrs <sizes>', 'head hidden layer sizes, comma-separated; "" for none (fastai lin_ftrs)', '512')
    .option(
      '--ps <p>',
      'head dropout of the last block; earlier blocks get half (fastai ps)',
      number('--ps', (v) => v >= 0 && v < 1, 'in [0, 1)'),
      DEFAULTS.ps,
    )
    .option('--no-first-bn', "no BatchNorm before the head's first Dense (fastai first_bn=False)")
    .option('--skip-bad-images', 'train without images that fail to decode (listed at start) instead of stopping')
    .addOption(
      new Option('--backend <name>', 'compute backend').choices(['auto', 'wasm', 'cpu', 'webgpu', 'tensorflow']).default(DEFAULTS.backend),
    )
    .option('--out <dir>', 'output folder for the model, metrics and checkpoints', DEFAULTS.out)
    .option(
      '--checkpoint-every <steps>',
      'also checkpoint every N steps (always at each epoch end)',
      number('--checkpoint-every', (v) => Number.isInteger(v) && v >= 0, 'a whole number >= 0'),
      DEFAULTS.checkpointEvery,
    )
    .addOption(
      new Option(
        '--allreduce <how>',
        'gradient all-reduce: shared memory when every worker is on one host (auto), always shm, or the ZeroMQ ring',
      )
        .choices(['auto', 'shm', 'ring'])
        .default(DEFAULTS.allreduce),
    )
    .addOption(
      new Option('--grad-dtype <dtype>', 'gradient encoding on the ZeroMQ ring (bf16/fp16 halve the bytes; sums stay fp32)')
        .choices(['f32', 'bf16', 'fp16'])
        .default(DEFAULTS.gradDtype),
    )
    .option(
      '--bucket-mb <mb>',
      'gradient bucket size: each bucket is all-reduced while later ones are still read back from the device (PyTorch DDP: 25)',
      positive('--bucket-mb'),
      DEFAULTS.bucketMb,
    )
    .option('--keep-checkpoints <k>', 'checkpoints kept under OUT/checkpoints', count('--keep-checkpoints'), DEFAULTS.keepCheckpoints);
}

function parseSizes(text: string): number[] {
  if (text.trim() === '') return [];
  const v = text.split(',').map(Number);
  if (v.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--lin-ftrs must be comma-separated whole numbers like 512 or 512,256, got '${text}'`);
  return v;
}

function parseMoms(text: string): [number, number, number] {
  const v = text.split(',').map(Number);
  if (v.length !== 3 || v.some((m) => !Number.isFinite(m) || m < 0 || m >= 1))
    throw new Error(`--moms must be three numbers in [0, 1) like 0.95,0.85,0.95, got '${text}'`);
  return [v[0], v[1], v[2]];
}

/** Turns parsed options into a RunConfig (paths made absolute so every process agrees). */
export function configFromOptions(o: Record<string, unknown>): Omit<RunConfig, 'nClasses'> {
  const arch = String(o.arch);
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
  else if (o.pretrained === undefined || o.pretrained === true)
    pretrained = arch === 'resnet-small' && existsSync(EMBEDDED_BACKBONE) ? EMBEDDED_BACKBONE : null;
  if (pretrained && !existsSync(pretrained)) throw new Error(`--pretrained: no such file ${pretrained}`);
  if (typeof o.data !== 'string')
    throw new Error(`--data DIR is required: image folders train/<class>/* and valid/<class>/*, or <class>/*`);
  const data = resolve(o.data);
  if (!existsSync(data)) throw new Error(`--data: no such folder ${data}`);
  return {
    data,
    validPct: o.validPct as number,
    seed: o.seed as number,
    arch: archPath,
    pretrained,
    size: o.size as number,
    bs: o.bs as number,
    wd: o.wd as number,
    groups: (o.groups as number | undefined) ?? null,
    plan: o.fitOneCycle ? 'fit_one_cycle' : 'fine_tune',
    epochs: o.epochs as number,
    freezeEpochs: o.freezeEpochs as number,
    baseLr: o.baseLr as number,
    lrMult: o.lrMult as number,
    lrMax: typeof o.lrMax === 'string' ? parseLrSpec(o.lrMax, '--lr-max') : null,
    pctStart: (o.pctStart as number | undefined) ?? null,
    div: (o.div as number | undefined) ?? null,
    divFinal: (o.divFinal as number | undefined) ?? null,
    moms: typeof o.moms === 'string' ? parseMoms(o.moms) : null,
    backend: String(o.backend),
    out: resolve(String(o.out)),
    flip: o.flip !== false,
    minScale: o.minScale as number,
    skipBadImages: o.skipBadImages === true,
    linFtrs: parseSizes(String(o.linFtrs ?? '512')),
    ps: o.ps as number,
    firstBn: o.firstBn !== false,
    checkpointEvery: o.checkpointEvery as number,
    keepCheckpoints: o.keepCheckpoints as number,
    allreduce: o.allreduce as RunConfig['allreduce'],
    gradDtype: o.gradDtype as RunConfig['gradDtype'],
    bucketMb: o.bucketMb as number,
  };
}
