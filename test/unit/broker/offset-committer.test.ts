// The OffsetCommitter as a rider of group commits: moved offsets wait for company for half the
// interval, then ride on the next commit of their store; only when none comes within the
// interval are they written on their own. One store of offsets at a time; what a failed commit
// gives back is stored again, and offsets only move forward.
import { silentLogger } from '../../../common/logger';
import { OffsetCommitter, offsetsDue } from '../../../broker/delivery/offset-committer';
import type { GroupCursor } from '../../../broker/delivery/group-cursor';
import type { OffsetCommit } from '../../../storage/storage';

const INTERVAL = 100;

/** The fields of a cursor the committer reads and writes. */
function cursor(topic: string, committed: number): GroupCursor {
  return { key: 'g', ref: { topic, partition: 0 }, committed, storedOffset: 0 } as unknown as GroupCursor;
}

function fixture() {
  const written: OffsetCommit[][] = [];
  let fail = false;
  const store = {
    commitOffsets: (c: OffsetCommit[]) => {
      if (fail) return Promise.reject(new Error('down'));
      written.push(c);
      return Promise.resolve();
    },
  };
  const other = { commitOffsets: store.commitOffsets };
  const committer = new OffsetCommitter((topic) => (topic === 'b' ? other : store), INTERVAL, silentLogger);
  committer.start();
  return { committer, store, other, written, failing: (f: boolean) => (fail = f) };
}

const offsetsOf = (c: OffsetCommit[]) => c.map((x) => `${x.ref.topic}:${x.offset}`);

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

test('offsetsDue: held for half the interval, then due to ride, then overdue for a write', () => {
  expect(offsetsDue(1000, 1000, 100)).toBe('hold');
  expect(offsetsDue(1000, 1049, 100)).toBe('hold');
  expect(offsetsDue(1000, 1050, 100)).toBe('ride');
  expect(offsetsDue(1000, 1099, 100)).toBe('ride');
  expect(offsetsDue(1000, 1100, 100)).toBe('write');
});

test('a commit from half the interval on takes the moved offsets of its store; then no write of their own', async () => {
  const f = fixture();
  const a = cursor('a', 5);
  const b = cursor('b', 7);
  f.committer.changed(a);
  f.committer.changed(b);
  expect(f.committer.take(f.store)).toEqual([]);
  jest.advanceTimersByTime(INTERVAL / 2);
  const ride = f.committer.take(f.store);
  expect(offsetsOf(ride)).toEqual(['a:5']);
  // One store of offsets at a time: nothing for the other store's commit while this one rides.
  expect(f.committer.take(f.other)).toEqual([]);
  f.committer.stored(ride);
  expect(a.storedOffset).toBe(5);
  const other = f.committer.take(f.other);
  expect(offsetsOf(other)).toEqual(['b:7']);
  f.committer.stored(other);
  jest.advanceTimersByTime(INTERVAL * 3);
  await Promise.resolve();
  expect(f.written).toEqual([]);
  await f.committer.stop();
});

test('offsets no commit takes are written on their own when the interval ends', async () => {
  const f = fixture();
  const a = cursor('a', 5);
  f.committer.changed(a);
  jest.advanceTimersByTime(INTERVAL - 1);
  expect(f.written).toEqual([]);
  jest.advanceTimersByTime(1);
  await f.committer.flush();
  expect(f.written.map(offsetsOf)).toEqual([['a:5']]);
  expect(a.storedOffset).toBe(5);
  // Nothing moved since: no commit takes anything, no write follows.
  jest.advanceTimersByTime(INTERVAL);
  expect(f.committer.take(f.store)).toEqual([]);
  await f.committer.stop();
  expect(f.written).toHaveLength(1);
});

test('what a failed commit gives back rides again or is written by the interval of its first move', async () => {
  const f = fixture();
  const a = cursor('a', 5);
  f.committer.changed(a);
  jest.advanceTimersByTime(INTERVAL / 2);
  const ride = f.committer.take(f.store);
  // Acks while it rides move the cursor on; the write that follows stores the newest offset.
  (a as { committed: number }).committed = 8;
  f.committer.changed(a);
  f.committer.giveBack(ride);
  expect(a.storedOffset).toBe(0);
  jest.advanceTimersByTime(INTERVAL / 2);
  await f.committer.flush();
  expect(f.written.map(offsetsOf)).toEqual([['a:8']]);
  expect(a.storedOffset).toBe(8);
  await f.committer.stop();
});

test('a flush waits for the ride in flight; a failed write is tried again an interval later', async () => {
  const f = fixture();
  const a = cursor('a', 5);
  f.committer.changed(a);
  jest.advanceTimersByTime(INTERVAL / 2);
  const ride = f.committer.take(f.store);
  let flushed = false;
  const flush = f.committer.flush().then(() => (flushed = true));
  await Promise.resolve();
  expect(flushed).toBe(false);
  (a as { committed: number }).committed = 6;
  f.committer.changed(a);
  f.committer.stored(ride);
  f.failing(true);
  await expect(flush).rejects.toThrow('down');
  expect(a.storedOffset).toBe(5);
  f.failing(false);
  jest.advanceTimersByTime(INTERVAL);
  await f.committer.flush();
  expect(f.written.map(offsetsOf)).toEqual([['a:6']]);
  await f.committer.stop();
});

test('a forgotten cursor rides no more, and stop writes what is left', async () => {
  const f = fixture();
  const a = cursor('a', 5);
  const c = cursor('a', 3);
  f.committer.changed(a);
  f.committer.changed(c);
  f.committer.forget(c);
  await f.committer.stop();
  expect(f.written.map(offsetsOf)).toEqual([['a:5']]);
});
