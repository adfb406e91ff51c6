#!/usr/bin/env node
/** The `ringtune` command line: launch, coordinator, worker and the tools around training. */
import { Command, InvalidArgumentError } from 'commander';
import { cpus } from 'os';
import { addRunOptions, configFromOptions } from './run-options';
import { runCoordinator } from './run';
import { launch } from './launch';
import { runWorker } from '../worker/main';
import { scheduleCommand } from './commands/schedule';
import { runCommand } from './commands/run';
import { evaluateCommand } from './commands/evaluate';
import { predictCommand } from './commands/predict';
import { exportCommand } from './commands/export';

const wholeNumber = (flag: string) => (text: string) => {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`${flag} must be a whole number >= 1, got '${text}'`);
  return v;
};

/** Prints an error the way every command does and sets a failing exit code. */
function fail(e: unknown): void {
  console.error(`ringtune: ${(e as Error).message ?? String(e)}`);
  process.exitCode = 1;
}

/** Runs args after `launch`, minus launch's own flags, forwarded verbatim to the coordinator. */
function forwardedArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--workers') i++;
    else if (!argv[i].startsWith('--workers=')) out.push(argv[i]);
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
      .option('--workers <n>', 'number of workers (one per CPU core unless given)', wholeNumber('--workers'), cpus().length),
  ).action(async (opts) => {
    try {
      configFromOptions(opts); // fail here, before any process starts, on bad options
      const at = process.argv.indexOf('launch');
      process.exitCode = await launch({ cli: __filename, workers: opts.workers, runArgs: forwardedArgs(process.argv.slice(at + 1)) });
    } catch (e) {
      fail(e);
    }
  });

  addRunOptions(
    prog
      .command('coordinator')
      .description('run the coordinator: schedules, shards and orders every step; workers connect to --bind')
      .requiredOption('--bind <address>', 'control address, e.g. tcp://0.0.0.0:5555')
      .requiredOption('--world <n>', 'number of workers', wholeNumber('--world')),
  ).action(async (opts) => {
    try {
      await runCoordinator({ bind: opts.bind, world: opts.world, config: configFromOptions(opts) });
    } catch (e) {
      fail(e);
    }
  });

  prog
    .command('worker')
    .description('run one worker: computes gradients for the coordinator at --connect')
    .requiredOption('--connect <address>', 'the coordinator address, e.g. tcp://10.0.0.1:5555')
    .option('--host <interface>', 'interface the ring binds for other workers (tcp)', '127.0.0.1')
    .action(async (opts) => {
      try {
        await runWorker({ connect: opts.connect, host: opts.host });
      } catch (e) {
        fail(e);
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
