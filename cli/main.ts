#!/usr/bin/env node
/** The `ringtune` command line: launch, coordinator, worker and the tools around training. */
import { Command } from 'commander';
import { cpus } from 'os';
import { resolve } from 'path';
import { addRunOptions, configFromOptions, type RunOptionFlags } from './run-options';
import { flagParser, positiveFlag, wholeFlag } from './flags';
import { runCoordinator } from '../coordinator/run';
import { launch } from './launch';
import { LR_FIND_DEFAULTS, type LrFindOptions } from '../shared/lr-find';
import { planWorkers } from './gpu-plan';
import { generateJobKeys, writeKeyFile, KEYS_ENV } from '../shared/curve';
import { requireKeysBeyondLoopback } from './exposure';
import { parseGpuList } from '../shared/gpu';
import { findCheckpoint, readCheckpoint } from '../coordinator/checkpoint';
import { runWorker, RunAborted } from '../worker/main';
import { EXIT_JOB_FAILED } from '../shared/protocol';
import { scheduleCommand } from './commands/schedule';
import { runCommand } from './commands/run';
import { evaluateCommand } from './commands/evaluate';
import { predictCommand } from './commands/predict';
import { exportCommand } from './commands/export';

/** lr_find's own flags as commander parses them. */
interface LrFindFlags {
  lrFind?: true;
  startLr: number;
  endLr: number;
  numIt: number;
  stopDiv: boolean;
}

/** lr_find's own flags (fastai defaults). */
function addLrFindOptions(cmd: Command): Command {
  return cmd
    .option('--lr-find', 'run lr_find instead of training')
    .option('--start-lr <lr>', 'lr_find: first learning rate', positiveFlag('--start-lr'), LR_FIND_DEFAULTS.startLr)
    .option('--end-lr <lr>', 'lr_find: last learning rate', positiveFlag('--end-lr'), LR_FIND_DEFAULTS.endLr)
    .option('--num-it <n>', 'lr_find: iterations', wholeFlag('--num-it', 1), LR_FIND_DEFAULTS.numIt)
    .option('--no-stop-div', 'lr_find: keep going when the loss diverges');
}

/** The flags of `ringtune launch`. */
interface LaunchFlags extends RunOptionFlags {
  workers: number;
  maxRestarts: number;
  gpus?: number[];
  secure?: true;
}

/** The flags of `ringtune lr-find`. */
interface LrFindCommandFlags extends RunOptionFlags, LrFindFlags {
  workers: number;
}

/** The flags of `ringtune coordinator`. */
interface CoordinatorFlags extends RunOptionFlags, LrFindFlags {
  bind: string;
  world: number;
  resume?: string;
  insecure?: true;
}

/** Prints an error the way every command does and sets a failing exit code. */
function fail(e: unknown): void {
  console.error(`ringtune: ${(e as Error).message ?? String(e)}`);
  process.exitCode = 1;
}

/** Flags of the launcher itself (each takes a value); everything else goes to the coordinator. */
const LAUNCHER_FLAGS = ['--workers', '--max-restarts', '--gpus'];
const LAUNCHER_SWITCHES = ['--secure'];

/** Run args after the command name, minus the launcher's own flags, forwarded verbatim to the coordinator. */
function forwardedArgs(command: string): string[] {
  const argv = process.argv.slice(process.argv.indexOf(command) + 1);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (LAUNCHER_FLAGS.includes(argv[i])) i++;
    else if (LAUNCHER_SWITCHES.includes(argv[i])) continue;
    else if (!LAUNCHER_FLAGS.some((f) => argv[i].startsWith(`${f}=`))) out.push(argv[i]);
  }
  return out;
}

export function program(): Command {
  const prog = new Command('ringtune')
    .description('Distributed fastai-style fine-tuning on TensorFlow.js with a ZeroMQ ring all-reduce')
    .showHelpAfterError();

  addRunOptions(
    prog
      .command('launch')
      .description('run a coordinator and N local workers as child processes')
      .option(
        '--workers <n>',
        'number of workers (one per CPU core, on webgpu one per GPU, unless given)',
        wholeFlag('--workers', 1),
        cpus().length,
      )
      .option('--max-restarts <k>', 'after a failure, restart from the newest checkpoint up to K times', wholeFlag('--max-restarts', 0), 0)
      .option(
        '--gpus <list>',
        'GPU numbers as nvidia-smi counts them, one per worker, e.g. 0,1 (0,0: two workers share GPU 0 on purpose); one worker per entry unless --workers is given',
        flagParser(parseGpuList),
      )
      .option('--secure', 'authenticate and encrypt the local links too (CURVE with a fresh job key pair)'),
  ).action(async (opts: LaunchFlags, cmd: Command) => {
    try {
      const config = configFromOptions(opts); // fail here, before any process starts, on bad options
      const workersGiven = cmd.getOptionValueSource('workers') !== 'default';
      process.exitCode = await launch({
        cli: __filename,
        ...planWorkers({ backend: config.backend, workers: opts.workers, workersGiven, requested: opts.gpus }),
        runArgs: forwardedArgs('launch'),
        maxRestarts: opts.maxRestarts,
        out: config.out,
        secure: opts.secure,
      });
    } catch (e) {
      fail(e);
    }
  });

  addRunOptions(
    addLrFindOptions(
      prog
        .command('lr-find')
        .description(
          "fastai's lr_find on every worker (real all-reduce): suggests learning rates, writes lr_find.png; weights are restored",
        )
        .option(
          '--workers <n>',
          'number of workers (one per CPU core, on webgpu one per GPU, unless given)',
          wholeFlag('--workers', 1),
          cpus().length,
        ),
    ),
  ).action(async (opts: LrFindCommandFlags, cmd: Command) => {
    try {
      const config = configFromOptions(opts);
      const workersGiven = cmd.getOptionValueSource('workers') !== 'default';
      process.exitCode = await launch({
        cli: __filename,
        ...planWorkers({ backend: config.backend, workers: opts.workers, workersGiven }),
        runArgs: ['--lr-find', ...forwardedArgs('lr-find')],
        out: config.out,
      });
    } catch (e) {
      fail(e);
    }
  });

  addRunOptions(
    addLrFindOptions(prog.command('coordinator'))
      .description('run the coordinator: schedules, shards and orders every step; workers connect to --bind')
      .requiredOption('--bind <address>', 'control address, e.g. tcp://0.0.0.0:5555')
      .requiredOption('--world <n>', 'number of workers', wholeFlag('--world', 1))
      .option(
        '--resume <dir>',
        'continue a run from a checkpoint (or a run folder: its newest); run options are taken from it but --out; another --world resizes it',
      )
      .option('--insecure', 'allow a non-loopback address without CURVE keys (anyone who can reach it can join)'),
  ).action(async (opts: CoordinatorFlags, cmd: Command) => {
    try {
      requireKeysBeyondLoopback({ '--bind': opts.bind }, opts.insecure === true);
      const out = cmd.getOptionValueSource('out') === 'cli' ? resolve(opts.out) : undefined;
      await runCoordinator({
        bind: opts.bind,
        world: opts.world,
        lrFind: opts.lrFind ? { startLr: opts.startLr, endLr: opts.endLr, numIt: opts.numIt, stopDiv: opts.stopDiv } : undefined,
        ...(opts.resume ? { resume: opts.resume, out } : { config: configFromOptions(opts) }),
      });
    } catch (e) {
      fail(e);
    }
  });

  prog
    .command('keygen <file>')
    .description(`write a job key pair (CURVE) to FILE, readable by its owner only; give it to every process as ${KEYS_ENV.file}=FILE`)
    .action((file: string) => {
      try {
        writeKeyFile(file, generateJobKeys());
        console.log(`ringtune: wrote a job key pair to ${file}; start the coordinator and every worker with ${KEYS_ENV.file}=${file}`);
      } catch (e) {
        fail(e);
      }
    });

  prog
    .command('resume <dir>')
    .description(
      'continue an interrupted run from its newest checkpoint (or the checkpoint folder given): exactly on the same number of workers, resized on another',
    )
    .option('--workers <n>', 'number of workers (default: as many as wrote the checkpoint)', wholeFlag('--workers', 1))
    .option('--out <dir>', "where the run goes on (default: the checkpoint's run folder)")
    .option('--max-restarts <k>', 'after a failure, restart from the newest checkpoint up to K times', wholeFlag('--max-restarts', 0), 0)
    .action(async (dir: string, opts: { workers?: number; out?: string; maxRestarts: number }) => {
      try {
        const ckpt = findCheckpoint(dir);
        if (!ckpt) throw new Error(`no checkpoint under ${dir}`);
        const { meta } = readCheckpoint(ckpt);
        const out = opts.out === undefined ? meta.config.out : resolve(opts.out);
        process.exitCode = await launch({
          cli: __filename,
          ...planWorkers({ backend: meta.config.backend, workers: opts.workers ?? meta.world, workersGiven: true }),
          runArgs: ['--resume', ckpt, '--out', out],
          maxRestarts: opts.maxRestarts,
          out,
        });
      } catch (e) {
        fail(e);
      }
    });

  prog
    .command('worker')
    .description('run one worker: computes gradients for the coordinator at --connect')
    .requiredOption('--connect <address>', 'the coordinator address, e.g. tcp://10.0.0.1:5555')
    .option('--host <interface>', 'interface the ring binds for other workers (tcp)', '127.0.0.1')
    .option('--task-rank <n>', "this worker's task rank in its job: ranks are numbered by host, then by it", wholeFlag('--task-rank', 0))
    .action(async (opts: { connect: string; host: string; taskRank?: number }) => {
      try {
        await runWorker({ connect: opts.connect, host: opts.host, order: opts.taskRank });
      } catch (e) {
        fail(e);
        if (e instanceof RunAborted && e.final) process.exitCode = EXIT_JOB_FAILED;
      }
    });

  prog.addCommand(scheduleCommand());
  prog.addCommand(runCommand());
  prog.addCommand(evaluateCommand());
  prog.addCommand(predictCommand());
  prog.addCommand(exportCommand());
  return prog;
}

if (require.main === module) {
  program()
    .parseAsync(process.argv)
    .then(() => setImmediate(() => process.exit(process.exitCode ?? 0)))
    .catch((e) => {
      fail(e);
      process.exit(1);
    });
}
