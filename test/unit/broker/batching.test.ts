import { nextAction, takeForFlush } from '../../../broker/publish/batching';
import type { QueuedSize, WriterState } from '../../../broker/publish/batching';

const limits = { maxRows: 500, maxBytes: 1024 * 1024, lingerMs: 2 };
const req = (rows: number, bytes = rows * 1024): QueuedSize => ({ rows, bytes });
const state = (queue: QueuedSize[], extra: Partial<WriterState> = {}): WriterState => ({
  queue,
  oldestAt: 100,
  now: 100,
  flushing: false,
  draining: false,
  ...extra,
});

describe('nextAction', () => {
  test('an empty queue is idle', () => {
    expect(nextAction(state([]), limits)).toEqual({ kind: 'idle' });
  });
  test('a fresh small queue waits out the linger time', () => {
    expect(nextAction(state([req(1)], { now: 100.5 }), limits)).toEqual({ kind: 'wait', ms: 1.5 });
  });
  test('flushes once the oldest request has waited lingerMs', () => {
    expect(nextAction(state([req(1)], { now: 102 }), limits)).toEqual({ kind: 'flush' });
  });
  test('flushes at once when the rows reach maxRows', () => {
    expect(nextAction(state([req(300), req(200)]), limits)).toEqual({ kind: 'flush' });
  });
  test('flushes at once when the bytes reach maxBytes', () => {
    expect(nextAction(state([req(2, 600_000), req(2, 600_000)]), limits)).toEqual({ kind: 'flush' });
  });
  test('never starts a second INSERT while one runs (order and group commit)', () => {
    expect(nextAction(state([req(600)], { flushing: true }), limits)).toEqual({ kind: 'idle' });
  });
  test('draining flushes without waiting', () => {
    expect(nextAction(state([req(1)], { draining: true }), limits)).toEqual({ kind: 'flush' });
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
