/** What a person sees on the coordinator's terminal: fastai's results table and a progress bar. */
import { progressBar, tableHeader, tableRow, formatDuration, epochLabel } from './report';
import type { Callback } from './events';

export const TABLE_COLUMNS = ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'error_rate', 'time'];

/** One fastai results table per phase, a row per epoch. */
export function tablePrinter(write: (line: string) => void): Callback {
  return {
    order: 50,
    beforePhase({ progress: { phase } }) {
      write(`\n${phase.name === 'train' ? 'fit_one_cycle' : `fine_tune: ${phase.name} phase`}`);
      write(tableHeader(TABLE_COLUMNS));
    },
    afterEpoch({ epochDone: e }) {
      if (e) write(tableRow([e.epoch, e.trainLoss, e.validLoss, e.accuracy, e.errorRate, formatDuration(e.seconds)], TABLE_COLUMNS));
    },
  };
}

/** A live progress bar on a terminal (redrawn in place); silent when stderr is not a terminal. */
export function progressBarCallback(stream: NodeJS.WriteStream = process.stderr): Callback {
  let epochStart = 0;
  let epochs = 0;
  let active = false;
  const clear = () => {
    if (active) stream.write('\r\x1b[2K');
    active = false;
  };
  return {
    order: 40,
    beforePhase({ progress }) {
      epochs = progress.phase.epochs;
    },
    beforeEpoch() {
      epochStart = Date.now();
    },
    afterStep({ stepDone: s }) {
      if (!s || !stream.isTTY) return;
      const done = (s.iter % s.batchesPerEpoch) + 1;
      const bar = progressBar({
        label: epochLabel(s.epoch, epochs),
        done,
        total: s.batchesPerEpoch,
        elapsedS: (Date.now() - epochStart) / 1000,
        comment: s.smoothLoss.toFixed(4),
      });
      stream.write(`\r\x1b[2K${bar}`);
      active = true;
    },
    beforeValidate: clear,
    afterFit: clear,
  };
}
