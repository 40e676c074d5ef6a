import { emptyBatch, joins, nextBatch, planBatch, take, unkeyedPartition } from '../../../client/batching';

const limits = { lingerMs: 0, maxBatchMessages: 4, maxBatchBytes: 1000, maxInFlight: 1 };
const batch = (messages: number, bytes = messages * 10, openedAt = 100, full = false) => ({
  messages,
  bytes,
  openedAt,
  full,
});
const m = (key: string, bytes = 10, at = 100) => ({ key, bytes, at });
const none = () => 0;

describe('planBatch', () => {
  test('a batch goes at the end of the turn with lingerMs 0', () => {
    expect(planBatch(batch(1), 100, limits)).toEqual({ kind: 'linger', ms: 0 });
    // ...however long it has waited (a batch released by an answer still takes this turn's sends).
    expect(planBatch(batch(1), 500, limits)).toEqual({ kind: 'linger', ms: 0 });
  });
  test('a batch waits out lingerMs from its first message, then goes', () => {
    const linger = { ...limits, lingerMs: 5 };
    expect(planBatch(batch(1), 102, linger)).toEqual({ kind: 'linger', ms: 3 });
    expect(planBatch(batch(2), 105, linger)).toEqual({ kind: 'send' });
  });
  test('with nothing to take (every waiting key busy) the lane holds, whatever lingerMs', () => {
    expect(planBatch(emptyBatch(), 100, limits)).toEqual({ kind: 'hold' });
    expect(planBatch(emptyBatch(), 10_000, { ...limits, lingerMs: 5 })).toEqual({ kind: 'hold' });
  });
  test('a full batch goes at once', () => {
    expect(planBatch(batch(4, 40, 100, true), 100, { ...limits, lingerMs: 50 })).toEqual({ kind: 'send' });
  });
});

describe('joins and take', () => {
  test('a message joins while the batch has room in messages and bytes', () => {
    expect(joins(batch(3, 500), 400, limits)).toBe(true);
    expect(joins(batch(4, 40), 1, limits)).toBe(false);
    expect(joins(batch(2, 900), 200, limits)).toBe(false);
  });
  test('an empty batch takes even a message larger than maxBatchBytes (the broker judges it)', () => {
    expect(joins(batch(0, 0), 5000, limits)).toBe(true);
    const b = emptyBatch();
    expect(take(b, m('a', 5000, 7), limits)).toBe(true);
    expect(b).toEqual({ messages: 1, bytes: 5000, openedAt: 7, full: true });
  });
  test('take counts a message in, opens the batch at its arrival, and is full at the limit', () => {
    const b = emptyBatch();
    for (let i = 0; i < 3; i++) expect(take(b, m('a', 10, 100 + i), limits)).toBe(true);
    expect(b).toEqual({ messages: 3, bytes: 30, openedAt: 100, full: false });
    expect(take(b, m('b'), limits)).toBe(true);
    expect(b.full).toBe(true);
    expect(take(b, m('c'), limits)).toBe(false);
  });
  test('a message that does not fit makes the batch full without joining', () => {
    const b = emptyBatch();
    take(b, m('a', 600), limits);
    expect(take(b, m('b', 600), limits)).toBe(false);
    expect(b).toEqual({ messages: 1, bytes: 600, openedAt: 100, full: true });
  });
});

describe('nextBatch', () => {
  test('takes every waiting message of a key that is not busy, in send() order', () => {
    const waiting = [m('a'), m('b'), m('a'), m('c')];
    const busy = (k: string) => (k === 'a' ? 1 : 0);
    const { batch: b, taken } = nextBatch(waiting, busy, limits);
    expect(taken).toEqual([1, 3]);
    expect(b).toEqual({ messages: 2, bytes: 20, openedAt: 100, full: false });
  });
  test('a key is busy at maxInFlight Publishes in flight', () => {
    const waiting = [m('a'), m('b')];
    const inFlight = (k: string) => (k === 'a' ? 1 : 0);
    expect(nextBatch(waiting, inFlight, { ...limits, maxInFlight: 2 }).taken).toEqual([0, 1]);
    expect(nextBatch(waiting, (k) => (k === 'a' ? 2 : 0), { ...limits, maxInFlight: 2 }).taken).toEqual([1]);
  });
  test('stops at the first message that does not fit, so no later message of its key goes before it', () => {
    const waiting = [m('a', 600), m('b', 600), m('b', 10), m('c', 10)];
    const { batch: b, taken } = nextBatch(waiting, none, limits);
    expect(taken).toEqual([0]);
    expect(b.full).toBe(true);
  });
  test('stops at maxBatchMessages', () => {
    const waiting = Array.from({ length: 6 }, (_, i) => m(`k${i}`, 10, 100 + i));
    const { batch: b, taken } = nextBatch(waiting, none, limits);
    expect(taken).toEqual([0, 1, 2, 3]);
    expect(b).toEqual({ messages: 4, bytes: 40, openedAt: 100, full: true });
  });
  test('nothing to take when every waiting key is busy', () => {
    const { batch: b, taken } = nextBatch([m('a'), m('a')], () => 1, limits);
    expect(taken).toEqual([]);
    expect(planBatch(b, 100, limits)).toEqual({ kind: 'hold' });
  });
});

describe('unkeyedPartition', () => {
  const all = () => true;
  test('stays on the sticky partition while its lane takes the message', () => {
    expect(unkeyedPartition(3, 6, all, () => 0)).toBe(3);
  });
  test('without a sticky partition, starts from a random one', () => {
    expect(unkeyedPartition(undefined, 6, all, () => 0.5)).toBe(3);
    expect(unkeyedPartition(undefined, 6, all, () => 0.99)).toBe(5);
  });
  test('a held-up sticky partition hands the message to the next lane that takes it', () => {
    // Partition 2 waits (its Publish in flight); from a random start at 1, 1 is busy too.
    const takes = (p: number) => p !== 2 && p !== 1;
    expect(unkeyedPartition(2, 6, takes, () => 1 / 6)).toBe(3);
    // The scan wraps around past the last partition.
    expect(
      unkeyedPartition(
        2,
        6,
        (p) => p === 0,
        () => 4 / 6,
      ),
    ).toBe(0);
  });
  test('when no lane takes it, it stays on the sticky partition, where the batch grows', () => {
    expect(
      unkeyedPartition(
        4,
        6,
        () => false,
        () => 0,
      ),
    ).toBe(4);
    expect(
      unkeyedPartition(
        undefined,
        6,
        () => false,
        () => 0.5,
      ),
    ).toBe(3);
  });
  test('a sticky partition beyond a shrunk count is not kept', () => {
    expect(unkeyedPartition(7, 6, all, () => 0)).toBe(0);
    expect(
      unkeyedPartition(
        7,
        6,
        () => false,
        () => 0.5,
      ),
    ).toBe(3);
  });
});
