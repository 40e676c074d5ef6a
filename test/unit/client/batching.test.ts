import { joins, planBatch } from '../../../client/batching';

const limits = { lingerMs: 0, maxBatchMessages: 4, maxBatchBytes: 1000, maxInFlight: 1 };
const batch = (messages: number, bytes = messages * 10, openedAt = 100) => ({ messages, bytes, openedAt });

describe('planBatch', () => {
  test('an idle lane sends at the end of the turn with lingerMs 0', () => {
    expect(planBatch(batch(1), 0, 100, limits)).toEqual({ kind: 'linger', ms: 0 });
    // ...however long it has waited (a batch released by an answer still takes this turn's sends).
    expect(planBatch(batch(1), 0, 500, limits)).toEqual({ kind: 'linger', ms: 0 });
  });
  test('an idle lane waits out lingerMs from the first message, then sends', () => {
    const linger = { ...limits, lingerMs: 5 };
    expect(planBatch(batch(1), 0, 102, linger)).toEqual({ kind: 'linger', ms: 3 });
    expect(planBatch(batch(2), 0, 105, linger)).toEqual({ kind: 'send' });
  });
  test('a lane with all maxInFlight Publishes in flight holds the batch, whatever lingerMs', () => {
    expect(planBatch(batch(3), 1, 100, limits)).toEqual({ kind: 'hold' });
    expect(planBatch(batch(3), 1, 10_000, { ...limits, lingerMs: 5 })).toEqual({ kind: 'hold' });
    expect(planBatch(batch(3), 2, 100, { ...limits, maxInFlight: 2 })).toEqual({ kind: 'hold' });
  });
  test('a lane with a Publish to spare treats the batch as on an idle lane', () => {
    const two = { ...limits, maxInFlight: 2 };
    expect(planBatch(batch(1), 1, 100, two)).toEqual({ kind: 'linger', ms: 0 });
    expect(planBatch(batch(1), 1, 102, { ...two, lingerMs: 5 })).toEqual({ kind: 'linger', ms: 3 });
    expect(planBatch(batch(1), 1, 105, { ...two, lingerMs: 5 })).toEqual({ kind: 'send' });
  });
  test('a full batch goes at once, busy lane or not', () => {
    expect(planBatch(batch(4), 1, 100, limits)).toEqual({ kind: 'send' });
    expect(planBatch(batch(2, 1000), 0, 100, { ...limits, lingerMs: 50 })).toEqual({ kind: 'send' });
  });
});

describe('joins', () => {
  test('a message joins while the batch has room in messages and bytes', () => {
    expect(joins(batch(3, 500), 400, limits)).toBe(true);
    expect(joins(batch(4, 40), 1, limits)).toBe(false);
    expect(joins(batch(2, 900), 200, limits)).toBe(false);
  });
  test('an empty batch takes even a message larger than maxBatchBytes (the broker judges it)', () => {
    expect(joins(batch(0, 0), 5000, limits)).toBe(true);
  });
});
