/** withEvents (fastai's _with_events) as a pure function of plain callbacks: order, cancel semantics, nesting. */
import { Events, CancelEpochError, CancelFitError, CancelStepError, type Callback, type Hook, type Level } from '../coordinator/events';

const LEVELS: Level[] = ['Fit', 'Phase', 'Epoch', 'Train', 'Step', 'Validate'];
const HOOKS: Hook[] = LEVELS.flatMap((l): Hook[] => [`before${l}`, `afterCancel${l}`, `after${l}`]);

/** A callback that writes `tag hook` to `log` for every hook. */
function recorder(log: string[], tag: string, order?: number): Callback<object> {
  return { order, ...Object.fromEntries(HOOKS.map((h) => [h, () => void log.push(`${tag} ${h}`)])) };
}

test('hooks fire in callback order around the body, with the state as argument and the callback as this', async () => {
  const log: string[] = [];
  const state = { n: 1 };
  const seen: unknown[] = [];
  const late: Callback<typeof state> = {
    order: 10,
    beforeFit(s) {
      seen.push(s, this);
    },
  };
  const events = new Events([late, recorder(log, 'b', 5), recorder(log, 'a', -1)], state);
  await events.withEvents('Fit', async () => void log.push('body'), CancelFitError);
  expect(log).toEqual(['a beforeFit', 'b beforeFit', 'body', 'a afterFit', 'b afterFit']);
  expect(seen).toEqual([state, late]);
});

test('a cancel in the before hooks skips the body and the later before hooks; afterCancel then after fire', async () => {
  const log: string[] = [];
  const canceller: Callback<object> = {
    beforeEpoch: () => {
      throw new CancelEpochError();
    },
  };
  const events = new Events([recorder(log, 'a', -1), canceller, recorder(log, 'b', 1)], {});
  await events.withEvents('Epoch', async () => void log.push('body'), CancelEpochError);
  expect(log).toEqual(['a beforeEpoch', 'a afterCancelEpoch', 'b afterCancelEpoch', 'a afterEpoch', 'b afterEpoch']);
});

test('a cancel in the body: afterCancel, then after, and the level returns normally', async () => {
  const log: string[] = [];
  const events = new Events([recorder(log, 'a')], {});
  await events.withEvents(
    'Step',
    async () => {
      log.push('body');
      throw new CancelStepError();
    },
    CancelStepError,
  );
  expect(log).toEqual(['a beforeStep', 'body', 'a afterCancelStep', 'a afterStep']);
});

test('cancelling an inner level does not stop the outer one', async () => {
  const log: string[] = [];
  const events = new Events([recorder(log, 'a')], {});
  await events.withEvents(
    'Epoch',
    async () => {
      await events.withEvents('Step', () => Promise.reject(new CancelStepError()), CancelStepError);
      log.push('epoch goes on');
    },
    CancelEpochError,
  );
  expect(log).toEqual(['a beforeEpoch', 'a beforeStep', 'a afterCancelStep', 'a afterStep', 'epoch goes on', 'a afterEpoch']);
});

test("an outer level's cancel passes through the inner levels, without their after hooks, to the level it cancels", async () => {
  const log: string[] = [];
  const events = new Events([recorder(log, 'a')], {});
  await events.withEvents(
    'Fit',
    async () => {
      await events.withEvents(
        'Epoch',
        async () => {
          await events.withEvents('Step', () => Promise.reject(new CancelFitError()), CancelStepError);
          log.push('never');
        },
        CancelEpochError,
      );
      log.push('never');
    },
    CancelFitError,
  );
  expect(log).toEqual(['a beforeFit', 'a beforeEpoch', 'a beforeStep', 'a afterCancelFit', 'a afterFit']);
});

test('other errors propagate with no afterCancel or after; a cancel raised in an after hook is not caught by its level', async () => {
  const log: string[] = [];
  const events = new Events([recorder(log, 'a')], {});
  await expect(events.withEvents('Train', () => Promise.reject(new Error('worker 1 died')), CancelFitError)).rejects.toThrow(
    'worker 1 died',
  );
  expect(log).toEqual(['a beforeTrain']);

  const late = new Events<object>(
    [
      {
        afterStep: () => {
          throw new CancelStepError();
        },
      },
    ],
    {},
  );
  await expect(late.withEvents('Step', async () => {}, CancelStepError)).rejects.toBeInstanceOf(CancelStepError);
});

test('cancel errors name themselves', () => {
  expect(String(new CancelFitError())).toBe('CancelFitError: cancelled');
});
