import { CacheBudget, PartitionLog } from '../../../broker/delivery/partition-log';
import { Signal } from '../../../broker/delivery/signal';
import { storedMessage as m } from '../fixtures';

const ref = { topic: 't', partition: 0 };

describe('PartitionLog', () => {
  test('serves appended messages from the cache and wakes listeners', () => {
    const log = new PartitionLog(ref, 5, { maxMessages: 100, maxBytes: 1000 });
    let woken = 0;
    log.listen(() => woken++);
    expect(log.readCached(6, 10)).toEqual([]);
    log.appended([m(6), m(7), m(8)]);
    expect(woken).toBe(1);
    expect(log.endOffset).toBe(8);
    expect(log.readCached(7, 10)!.map((x) => x.offset)).toEqual([7, 8]);
    expect(log.readCached(6, 2)!.map((x) => x.offset)).toEqual([6, 7]);
    expect(log.cached(8)?.offset).toBe(8);
  });

  test('offsets before the cache are not covered (the reader goes to the store)', () => {
    const log = new PartitionLog(ref, 5, { maxMessages: 100, maxBytes: 1000 });
    log.appended([m(6)]);
    expect(log.readCached(5, 10)).toBeUndefined();
    expect(log.cached(3)).toBeUndefined();
  });

  test('is bounded by count and bytes, dropping the oldest', () => {
    const log = new PartitionLog(ref, 0, { maxMessages: 3, maxBytes: 25 });
    log.appended([m(1), m(2), m(3), m(4)]);
    expect(log.readCached(1, 10)).toBeUndefined();
    expect(log.readCached(3, 10)!.map((x) => x.offset)).toEqual([3, 4]);
  });

  test('stops serving offsets that retention dropped', () => {
    const log = new PartitionLog(ref, 0, { maxMessages: 10, maxBytes: 1000 });
    log.appended([m(1), m(2), m(3), m(4)]);
    log.droppedBelow(3);
    expect(log.readCached(1, 10)).toBeUndefined();
    expect(log.cached(2)).toBeUndefined();
    expect(log.readCached(3, 10)!.map((x) => x.offset)).toEqual([3, 4]);
    log.droppedBelow(10);
    expect(log.readCached(4, 10)).toBeUndefined();
    expect(log.readCached(5, 10)).toEqual([]);
  });

  test('reset after an unknown write outcome empties the cache at the new end', () => {
    const log = new PartitionLog(ref, 0, { maxMessages: 10, maxBytes: 1000 });
    log.appended([m(1)]);
    log.reset(4);
    expect(log.endOffset).toBe(4);
    expect(log.readCached(2, 10)).toBeUndefined();
    expect(log.readCached(5, 10)).toEqual([]);
  });
});

describe('Signal', () => {
  test('notify wakes waiters and bumps the version', async () => {
    const s = new Signal();
    const waiting = s.wait(60_000);
    s.notify();
    await waiting;
    expect(s.version).toBe(1);
  });

  test('a waiter with ready() is woken only by a notify for which it holds', async () => {
    const s = new Signal();
    let ready = false;
    let woken = false;
    const waiting = s.wait(60_000, undefined, () => ready).then(() => (woken = true));
    s.notify();
    await new Promise((r) => setImmediate(r));
    expect(woken).toBe(false);
    ready = true;
    s.notify();
    await waiting;
    expect(woken).toBe(true);
    expect(s.version).toBe(2);
  });

  test('abort ends a wait', async () => {
    const s = new Signal();
    const ac = new AbortController();
    const waiting = s.wait(60_000, ac.signal);
    ac.abort();
    await expect(waiting).resolves.toBeUndefined();
  });
});

describe('CacheBudget', () => {
  test('caps the bytes of all tail caches together; the largest cache gives way first', () => {
    const budget = new CacheBudget(100);
    const limits = { maxMessages: 100, maxBytes: 1000, budget };
    const a = new PartitionLog(ref, 0, limits);
    const b = new PartitionLog({ topic: 't', partition: 1 }, 0, limits);
    a.appended([m(1), m(2), m(3), m(4), m(5), m(6)]); // 60 bytes
    b.appended([m(1), m(2), m(3)]); // 30 bytes: 90 in all, within the budget
    expect(budget.bytes).toBe(90);
    b.appended([m(4), m(5), m(6), m(7)]); // 130 in all: a (the larger before) and b trim to fit
    expect(budget.bytes).toBeLessThanOrEqual(100);
    expect(budget.bytes).toBe(a.cachedBytes + b.cachedBytes);
    // What was evicted is no longer served from the cache (the cursor reads the store).
    expect(a.readCached(1, 10)).toBeUndefined();
    expect(a.readCached(6, 10)!.map((x) => x.offset)).toEqual([6]);
    expect(b.readCached(7, 10)!.map((x) => x.offset)).toEqual([7]);
  });
  test('a reset and retention give their bytes back', () => {
    const budget = new CacheBudget(1000);
    const log = new PartitionLog(ref, 0, { maxMessages: 100, maxBytes: 1000, budget });
    log.appended([m(1), m(2), m(3)]);
    log.droppedBelow(3);
    expect(budget.bytes).toBe(10);
    log.reset(10);
    expect(budget.bytes).toBe(0);
  });
});
