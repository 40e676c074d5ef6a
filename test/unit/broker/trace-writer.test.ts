// The TraceWriter against a fake TraceStore: batching by size and by time, one write at a
// time, a bounded buffer that drops and counts, failed writes that drop and never throw.
import { silentLogger } from '../../../common/logger';
import type { Logger } from '../../../common/logger';
import type { TraceEvent } from '../../../storage/trace-store';
import { TraceWriter } from '../../../broker/trace/trace-writer';
import type { TraceWriterOptions } from '../../../broker/trace/trace-writer';

class FakeStore {
  batches: TraceEvent[][] = [];
  fail: Error | undefined;
  /** While set, appendTrace waits for it. */
  gate: Promise<void> | undefined;
  running = 0;
  maxRunning = 0;

  async appendTrace(events: TraceEvent[]): Promise<void> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await this.gate;
      if (this.fail) throw this.fail;
      this.batches.push(events);
    } finally {
      this.running--;
    }
  }
}

function counters() {
  const c = { written: 0, dropped: 0 };
  return {
    c,
    metrics: {
      traceEventsWritten: { inc: (n: number) => (c.written += n) },
      traceEventsDropped: { inc: (n: number) => (c.dropped += n) },
      traceWrite: { observe: () => undefined },
    },
  };
}

const ref = { topic: 'orders', partition: 2 };
const input = (offset: number) => ({ event: 'stored', ref, offset, messageId: `orders/2/${offset}` });

function writer(
  store: FakeStore,
  options: Partial<TraceWriterOptions> = {},
  logger: Logger = silentLogger,
  now: () => number = Date.now,
) {
  const { c, metrics } = counters();
  const w = new TraceWriter(
    store,
    {
      broker: () => 'b-1',
      flushIntervalMs: 50,
      maxBatchEvents: 3,
      maxBufferedEvents: 10,
      logIntervalMs: 60_000,
      ...options,
    },
    metrics,
    logger,
    now,
  );
  return { w, c };
}

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test('fills in the defaults, the broker and the time', async () => {
  const store = new FakeStore();
  const { w } = writer(store);
  const before = Date.now();
  w.record(input(7));
  w.record({ ...input(8), at: 1234, group: 'g', attempt: 2, detail: { producer: 'ipv4:1.2.3.4:5' } });
  await w.flush();
  const [a, b] = store.batches[0];
  expect(a).toMatchObject({
    event: 'stored',
    ref,
    offset: 7,
    refKey: '',
    group: '',
    consumerId: '',
    attempt: 0,
  });
  expect(a.broker).toBe('b-1');
  expect(a.at).toBeGreaterThanOrEqual(before);
  expect(b).toMatchObject({ at: 1234, group: 'g', attempt: 2, detail: { producer: 'ipv4:1.2.3.4:5' } });
});

test('a full batch is written at once, in one call, without waiting for the timer', async () => {
  const store = new FakeStore();
  const { w, c } = writer(store, { flushIntervalMs: 60_000 });
  w.start();
  for (let i = 1; i <= 7; i++) w.record(input(i));
  await w.flush();
  expect(store.batches.map((b) => b.map((e) => e.offset))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  expect(c.written).toBe(7);
  await w.stop();
});

test('fewer events than a batch are written by the timer', async () => {
  const store = new FakeStore();
  const { w } = writer(store, { flushIntervalMs: 20 });
  w.start();
  w.record(input(1));
  w.record(input(2));
  expect(store.batches).toEqual([]);
  const deadline = Date.now() + 5000;
  while (store.batches.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect(store.batches.map((b) => b.length)).toEqual([2]);
  await w.stop();
});

test('one write at a time; what arrives meanwhile goes in the next', async () => {
  const store = new FakeStore();
  const g = gate();
  store.gate = g.promise;
  const { w } = writer(store);
  for (let i = 1; i <= 5; i++) w.record(input(i));
  expect(store.running).toBe(1);
  store.gate = undefined;
  g.open();
  await w.flush();
  expect(store.maxRunning).toBe(1);
  expect(store.batches.map((b) => b.length)).toEqual([3, 2]);
});

test('a slow store: the buffer stays bounded, extra events are dropped and counted', async () => {
  const store = new FakeStore();
  const g = gate();
  store.gate = g.promise;
  const { w, c } = writer(store);
  for (let i = 1; i <= 30; i++) w.record(input(i));
  // 3 taken by the write in progress, 10 buffered, the other 17 dropped.
  expect(w.buffered).toBe(10);
  expect(c.dropped).toBe(17);
  store.gate = undefined;
  g.open();
  await w.flush();
  expect(c.written).toBe(13);
  expect(store.batches.flat().map((e) => e.offset)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
});

test('a store that fails: record never throws, failed batches are dropped, counted and logged once', async () => {
  const store = new FakeStore();
  store.fail = new Error('connection refused');
  const warnings: unknown[] = [];
  const logger: Logger = { ...silentLogger, warn: (msg, fields) => warnings.push({ msg, fields }) };
  const { w, c } = writer(store, {}, logger);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 3; i++) expect(() => w.record(input(i))).not.toThrow();
    await w.flush();
  }
  expect(c.dropped).toBe(9);
  expect(c.written).toBe(0);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({ fields: { dropped: 3 } });
  // The store recovers: writing resumes.
  store.fail = undefined;
  w.record(input(100));
  await w.flush();
  expect(c.written).toBe(1);
});

test('stop writes what is buffered', async () => {
  const store = new FakeStore();
  const { w } = writer(store, { flushIntervalMs: 60_000 });
  w.start();
  w.record(input(1));
  await w.stop();
  expect(store.batches.flat().map((e) => e.offset)).toEqual([1]);
});

test('a throwing metric does not reach the caller', () => {
  const store = new FakeStore();
  const w = new TraceWriter(
    store,
    { broker: () => 'b', flushIntervalMs: 50, maxBatchEvents: 3, maxBufferedEvents: 3, logIntervalMs: 1000 },
    {
      traceEventsWritten: { inc: () => undefined },
      traceWrite: { observe: () => undefined },
      traceEventsDropped: {
        inc: () => {
          throw new Error('broken registry');
        },
      },
    },
    silentLogger,
  );
  store.gate = new Promise(() => undefined);
  for (let i = 0; i < 10; i++) expect(() => w.record(input(i))).not.toThrow();
});

test('commits take the buffer (TraceRider); what a failed one gives back goes in front, within the bound', async () => {
  const store = new FakeStore();
  const { w, c } = writer(store, { flushIntervalMs: 60_000, maxBatchEvents: 3, maxBufferedEvents: 4 });
  w.record(input(1));
  w.record(input(2));
  const taken = w.take();
  expect(taken.map((e) => e.offset)).toEqual([1, 2]);
  expect(w.buffered).toBe(0);
  w.record(input(3));
  // The commit failed: its events go back in front, as far as the buffer (4) has room.
  w.giveBack([...taken, { ...taken[0], offset: 98 }, { ...taken[0], offset: 99 }]);
  expect(c.dropped).toBe(1);
  const again = w.take();
  expect(again.map((e) => e.offset)).toEqual([1, 2, 98]);
  w.stored(again);
  expect(c.written).toBe(3);
  await w.flush();
  expect(store.batches.map((b) => b.map((e) => e.offset))).toEqual([[3]]);
  expect(c.written).toBe(4);
});

test('the timer writes only events that waited flushIntervalMs: those a commit takes sooner cost no write', async () => {
  const store = new FakeStore();
  let now = 0;
  const { w, c } = writer(
    store,
    { flushIntervalMs: 20, maxBatchEvents: 100, maxBufferedEvents: 100 },
    silentLogger,
    () => now,
  );
  w.start();
  w.record(input(1));
  now = 10; // younger than flushIntervalMs at every tick
  await new Promise((r) => setTimeout(r, 100));
  expect(store.batches).toEqual([]);
  now = 30;
  const deadline = Date.now() + 5000;
  while (store.batches.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect(store.batches.map((b) => b.map((e) => e.offset))).toEqual([[1]]);
  expect(c.written).toBe(1);
  await w.stop();
});
