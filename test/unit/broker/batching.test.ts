import { planCommit, takeForFlush } from '../../../broker/publish/batching';
import type { PartitionQueue, QueuedSize } from '../../../broker/publish/batching';

const limits = { maxRows: 500, maxBytes: 1024 * 1024, lingerMs: 2, maxCommitBytes: 4 * 1024 * 1024 };
/** A commit is running elsewhere (so requests wait lingerMs); draining; idle. */
const busy = { draining: false, idle: false, turnEnded: false };
const draining = { draining: true, idle: false, turnEnded: false };
const idle = { draining: false, idle: true, turnEnded: false };
const req = (rows: number, bytes = rows * 1024): QueuedSize => ({ rows, bytes });
const part = (queue: QueuedSize[], extra: Partial<PartitionQueue> = {}): PartitionQueue => ({
  queue,
  oldestAt: 100,
  flushing: false,
  ...extra,
});

describe('planCommit', () => {
  test('nothing queued is idle', () => {
    expect(planCommit([part([]), part([])], 100, limits, busy)).toEqual({ kind: 'idle' });
  });
  test('a fresh small queue waits out the linger time', () => {
    expect(planCommit([part([req(1)])], 100.5, limits, busy)).toEqual({ kind: 'wait', ms: 1.5 });
  });
  test('commits once the oldest request has waited lingerMs', () => {
    expect(planCommit([part([req(1)])], 102, limits, busy)).toEqual({ kind: 'commit', take: [1] });
  });
  test('commits at once when a partition reaches maxRows or maxBytes', () => {
    expect(planCommit([part([req(300), req(200)])], 100, limits, busy)).toEqual({
      kind: 'commit',
      take: [2],
    });
    expect(planCommit([part([req(2, 600_000), req(2, 600_000)])], 100, limits, busy)).toEqual({
      kind: 'commit',
      take: [1],
    });
  });
  test('a due partition takes every other waiting partition into the same commit', () => {
    const plan = planCommit(
      [part([req(1)], { oldestAt: 90 }), part([]), part([req(1), req(1)], { oldestAt: 101 })],
      101,
      limits,
      busy,
    );
    expect(plan).toEqual({ kind: 'commit', take: [1, 0, 2] });
  });
  test('a partition with a commit running is left out (its offsets stay in order)', () => {
    const plan = planCommit(
      [part([req(600)], { flushing: true }), part([req(1)], { oldestAt: 0 })],
      100,
      limits,
      busy,
    );
    expect(plan).toEqual({ kind: 'commit', take: [0, 1] });
    expect(planCommit([part([req(600)], { flushing: true })], 100, limits, busy)).toEqual({ kind: 'idle' });
  });
  test('with no commit running, a request waits only for the end of the turn, then commits', () => {
    expect(planCommit([part([req(1)])], 100.5, limits, idle)).toEqual({ kind: 'wait', ms: 0 });
    expect(planCommit([part([req(1)]), part([req(2)])], 100.5, limits, { ...idle, turnEnded: true })).toEqual(
      {
        kind: 'commit',
        take: [1, 1],
      },
    );
    // A turn's end while commits run changes nothing: requests gather for lingerMs.
    expect(planCommit([part([req(1)])], 100.5, limits, { ...busy, turnEnded: true })).toEqual({
      kind: 'wait',
      ms: 1.5,
    });
  });
  test('draining commits without waiting', () => {
    expect(planCommit([part([req(1)])], 100, limits, draining)).toEqual({ kind: 'commit', take: [1] });
  });
  test('the transaction byte budget leaves the youngest partitions for the next commit', () => {
    const big = (oldestAt: number) => part([req(1, 1024 * 1024)], { oldestAt });
    const plan = planCommit([big(4), big(1), big(3), big(2), big(0)], 100, limits, busy);
    expect(plan).toEqual({ kind: 'commit', take: [0, 1, 1, 1, 1] });
  });
});

describe('takeForFlush', () => {
  test('takes whole requests in order while they fit', () => {
    expect(takeForFlush([req(200), req(200), req(200)], limits)).toBe(2);
  });
  test('never splits a request: one larger than the limits goes alone', () => {
    expect(takeForFlush([req(800), req(1)], limits)).toBe(1);
  });
  test('stops at the byte limit', () => {
    expect(takeForFlush([req(1, 700_000), req(1, 400_000)], limits)).toBe(1);
  });
  test('takes everything that fits exactly', () => {
    expect(takeForFlush([req(250), req(250)], limits)).toBe(2);
  });
  test('an empty queue takes nothing', () => {
    expect(takeForFlush([], limits)).toBe(0);
  });
});
