/**
 * `ringtune schedule`: the per-iteration LR of every parameter group and the momentum of a
 * fine_tune or fit_one_cycle plan, without training; as a summary table, JSON, or a PNG plot.
 */
import { Command } from 'commander';
import {
  DEFAULT_MOMS,
  FINE_TUNE_DEFAULTS,
  fineTunePlan,
  type FineTuneOptions,
  type OneCycleOptions,
  fitOneCyclePlan,
  hypersAt,
  ONE_CYCLE_DEFAULTS,
  Phase,
  phaseIters,
} from '../../shared/plan';
import { scheduleRecords, schedulePanels } from '../../coordinator/schedule-figure';
import { parseLrSpec } from '../../shared/schedule';
import { writeFigure } from '../../coordinator/plot';
import { flagParser, momsFlag, numberFlag, positiveFlag, wholeFlag } from '../flags';

/** The parsed flags of `ringtune schedule`: both plans' options; the plan is the one whose epochs are given. */
export type ScheduleFlags = Omit<FineTuneOptions, 'epochs'> &
  Pick<OneCycleOptions, 'lrMax'> & { fineTune?: number; fitOneCycle?: number; batches: number; json?: boolean; plot?: string };

/** The plan the flags ask for (exactly one of fineTune / fitOneCycle, and only that plan's own options). */
export function planFromFlags(f: ScheduleFlags): Phase[] {
  if ((f.fineTune === undefined) === (f.fitOneCycle === undefined))
    throw new Error('give exactly one of --fine-tune EPOCHS or --fit-one-cycle EPOCHS');
  const common = { groups: f.groups, pctStart: f.pctStart, div: f.div, divFinal: f.divFinal, moms: f.moms };
  if (f.fitOneCycle !== undefined) {
    const misplaced = (['baseLr', 'freezeEpochs', 'lrMult'] as const).filter((k) => f[k] !== undefined);
    if (misplaced.length) throw new Error(`${misplaced.map(flagName).join(', ')} only apply to --fine-tune (fit_one_cycle takes --lr-max)`);
    return fitOneCyclePlan({ ...common, epochs: f.fitOneCycle, lrMax: f.lrMax });
  }
  if (f.lrMax !== undefined) throw new Error('--lr-max only applies to --fit-one-cycle (fine_tune takes --base-lr and --lr-mult)');
  return fineTunePlan({ ...common, epochs: f.fineTune!, baseLr: f.baseLr, freezeEpochs: f.freezeEpochs, lrMult: f.lrMult });
}

function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

const sci = (x: number) => x.toExponential(4);

/** A readable summary: each phase's settings and the LRs/momentum at a few iterations. */
export function scheduleSummary(phases: Phase[], batchesPerEpoch: number): string {
  const lines: string[] = [];
  for (const p of phases) {
    const n = phaseIters(p, batchesPerEpoch);
    const frozen = p.freezeTo > 0 ? `groups 0..${p.freezeTo - 1} frozen` : 'all groups trainable';
    lines.push(
      `${p.name}: ${p.epochs} epoch(s) x ${batchesPerEpoch} batches = ${n} iterations, ${frozen}, ` +
        `lr_max [${p.lrMax.map(sci).join(', ')}], div ${p.div}, div_final ${p.divFinal}, pct_start ${p.pctStart}, moms ${p.moms.join('/')}`,
    );
    if (n === 0) continue;
    const picks = new Set<number>([0, Math.min(n - 1, Math.round(p.pctStart * n)), n - 1]);
    for (let k = 1; k < 10; k++) picks.add(Math.floor((k * (n - 1)) / 10));
    const cols = ['iter', ...p.lrMax.map((_, g) => `lr[${g}]`), 'mom'];
    lines.push('  ' + cols.map((c) => c.padEnd(11)).join(' '));
    for (const it of [...picks].sort((a, b) => a - b)) {
      const h = hypersAt(p, it, batchesPerEpoch);
      lines.push('  ' + [String(it), ...h.lr.map(sci), h.mom.toFixed(4)].map((c) => c.padEnd(11)).join(' '));
    }
  }
  return lines.join('\n');
}

/** Writes to stdout; a closed pipe (`ringtune schedule --json | head`) ends the process quietly. */
function toStdout(text: string): void {
  if (process.stdout.listenerCount('error') === 0) {
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  }
  process.stdout.write(text);
}

const ft = FINE_TUNE_DEFAULTS;
const oc = ONE_CYCLE_DEFAULTS;

/** The `schedule` subcommand (commander). `write` receives everything printed to stdout. */
export function scheduleCommand(write: (text: string) => void = toStdout): Command {
  return new Command('schedule')
    .description('print or plot the per-iteration LR of every parameter group and the momentum of a plan, without training')
    .option('--fine-tune <epochs>', 'plan: fine_tune(EPOCHS) (frozen phase, then EPOCHS unfrozen)', wholeFlag('--fine-tune', 0))
    .option('--fit-one-cycle <epochs>', 'plan: fit_one_cycle(EPOCHS)', wholeFlag('--fit-one-cycle', 0))
    .requiredOption('--batches <n>', 'training batches per epoch (per worker)', wholeFlag('--batches', 1))
    .option('--groups <g>', 'parameter groups, earliest layers first', wholeFlag('--groups', 1), 3)
    .option('--base-lr <lr>', `fine_tune base LR (default ${ft.baseLr})`, positiveFlag('--base-lr'))
    .option('--freeze-epochs <n>', `fine_tune frozen epochs (default ${ft.freezeEpochs})`, wholeFlag('--freeze-epochs', 0))
    .option('--lr-mult <m>', `fine_tune head/first-group LR ratio (default ${ft.lrMult})`, positiveFlag('--lr-mult'))
    .option(
      '--pct-start <p>',
      `warm-up fraction (default ${ft.pctStart} fine_tune, ${oc.pctStart} fit_one_cycle)`,
      numberFlag('--pct-start', (v) => v >= 0 && v <= 1, 'in [0, 1]'),
    )
    .option('--div <d>', `start LR = peak / div (default ${ft.div} fine_tune unfrozen, ${oc.div} otherwise)`, positiveFlag('--div'))
    .option('--div-final <d>', `final LR = peak / div-final (default ${oc.divFinal})`, positiveFlag('--div-final'))
    .option(
      '--lr-max <lr|start,stop>',
      `fit_one_cycle peak LR: a number or a START,STOP slice (default ${oc.lr})`,
      flagParser((t) => parseLrSpec(t, '--lr-max')),
    )
    .option('--moms <a,b,c>', `momentum start,middle,end (default ${DEFAULT_MOMS.join(',')})`, momsFlag('--moms'))
    .option('--json', 'print one JSON array with a record per iteration')
    .option('--plot <file.png>', 'draw the schedule to a PNG file')
    .action(async (flags: ScheduleFlags) => {
      if (flags.plot !== undefined && !flags.plot.toLowerCase().endsWith('.png'))
        throw new Error(`--plot must name a .png file, got '${flags.plot}'`);
      const phases = planFromFlags(flags);
      const records = scheduleRecords(phases, flags.batches);
      if (flags.json) write('[' + records.map((r) => '\n' + JSON.stringify(r)).join(',') + '\n]\n');
      else write(scheduleSummary(phases, flags.batches) + '\n');
      if (flags.plot !== undefined) {
        const title = flags.fineTune !== undefined ? `fine_tune(${flags.fineTune})` : `fit_one_cycle(${flags.fitOneCycle})`;
        await writeFigure(flags.plot, schedulePanels(phases, records), { title: `${title}, ${flags.batches} batches/epoch`, columns: 2 });
        if (!flags.json) write(`wrote ${flags.plot}\n`);
      }
    });
}
