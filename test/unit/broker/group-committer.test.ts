// The group committer over the memory store: batches of several partitions go into one
// append; a store with atomicMultiPartitionAppend stores all or none, one without it answers
// each partition's batch on its own.
import { createLogger, silentLogger } from '../../../common/logger';
import type { Logger } from '../../../common/logger';
import { PartitionLog } from '../../../broker/delivery/partition-log';
import { BrokerMetrics } from '../../../broker/metrics';
import { GroupCommitter } from '../../../broker/publish/group-committer';
import type { CommitRiders, OffsetRider, TraceRider } from '../../../broker/publish/group-committer';
import { PartitionWriter } from '../../../broker/publish/partition-writer';
import { createMemoryStore } from '../../../storage/memory/memory-store';
import type { MemoryStoreOptions } from '../../../storage/memory/memory-store';
import type { AppendBatch, MessageStore, NewMessage, TraceEvent } from '../../../storage/storage';
import { HeraldError } from '../../../common/errors';

const message = (text: string): NewMessage => ({
  key: '',
  refKey: '',
  tags: [],
  properties: {},
  body: Buffer.from(text),
  priority: false,
});

/**
 * An idle committer commits at the end of the turn; lingerMs is long so that a stalled test
 * process (a loaded machine) never commits the first request alone.
 */
function committerOver(
  store: MessageStore,
  metrics: BrokerMetrics,
  riders: CommitRiders = {},
  { slowCommitMs = 0, logger = silentLogger }: { slowCommitMs?: number; logger?: Logger } = {},
): GroupCommitter {
  return new GroupCommitter(
    store,
    {
      maxRows: 500,
      maxBytes: 1 << 20,
      lingerMs: 60_000,
      maxCommitBytes: 1 << 21,
      maxConcurrentCommits: 1,
      slowCommitMs,
    },
    metrics,
    logger,
    () => undefined,
    riders,
  );
}

function writerOf(
  store: MessageStore,
  committer: GroupCommitter,
  metrics: BrokerMetrics,
  partition: number,
  requireOwned: () => void = () => undefined,
): PartitionWriter {
  const log = new PartitionLog({ topic: 't', partition }, 0, { maxMessages: 10, maxBytes: 1 << 20 });
  const w = new PartitionWriter(store, log, metrics, silentLogger, requireOwned);
  committer.add(w);
  return w;
}

async function commitTwoPartitions(options: MemoryStoreOptions) {
  const store = createMemoryStore(options);
  const appends: AppendBatch[][] = [];
  const append = store.append.bind(store);
  store.append = (batches, at) => {
    appends.push(batches);
    return append(batches, at);
  };
  const metrics = new BrokerMetrics(() => []);
  const committer = committerOver(store, metrics);
  const writers = [0, 1].map((partition) => writerOf(store, committer, metrics, partition));
  const offsets = await Promise.all(writers.map((w, i) => committer.publish(w, [message(`m${i}`)], 2)));
  await committer.drain();
  return { offsets, appends: appends.map((batches) => batches.map((b) => b.ref.partition)), store };
}

test('a store with atomic multi-partition appends gets both partitions in one append', async () => {
  const { offsets, appends } = await commitTwoPartitions({});
  expect(offsets).toEqual([1, 1]);
  expect(appends).toEqual([[0, 1]]);
});

test('a store without them answers each partition of one append, and every request is answered', async () => {
  const { offsets, appends, store } = await commitTwoPartitions({
    capabilities: { atomicMultiPartitionAppend: false },
  });
  expect(offsets).toEqual([1, 1]);
  expect(appends).toEqual([[0, 1]]);
  expect(await store.lastOffset({ topic: 't', partition: 1 })).toBe(1);
});

test('without atomic appends a fenced partition fails alone; the other is stored', async () => {
  const store = createMemoryStore({ capabilities: { atomicMultiPartitionAppend: false } });
  await store.ensureTopic('t', 2);
  await store.append(
    [{ ref: { topic: 't', partition: 1 }, firstOffset: 1, messages: [message('taken')] }],
    1,
  );
  const outcomes = await store.append(
    [
      { ref: { topic: 't', partition: 0 }, firstOffset: 1, messages: [message('a')] },
      { ref: { topic: 't', partition: 1 }, firstOffset: 1, messages: [message('b')] },
    ],
    2,
  );
  expect(outcomes[0]).toEqual({ ok: true, firstOffset: 1 });
  expect(!outcomes[1].ok && outcomes[1].error.reason).toBe('PARTITION_FENCED');
  expect(await store.lastOffset({ topic: 't', partition: 0 })).toBe(1);
});

test('a partition no longer served when its batch is written fails unstored; the others commit', async () => {
  const store = createMemoryStore({});
  await store.ensureTopic('t', 2);
  const metrics = new BrokerMetrics(() => []);
  const committer = committerOver(store, metrics);
  let serving = true;
  const writers = [
    writerOf(store, committer, metrics, 0, () => {
      if (!serving) throw new HeraldError('NOT_PARTITION_OWNER', 'this broker does not own t/0');
    }),
    writerOf(store, committer, metrics, 1),
  ];
  const results = Promise.allSettled(writers.map((w, i) => committer.publish(w, [message(`m${i}`)], 2)));
  // The lease ends while the requests wait for their commit (before the end of this turn).
  serving = false;
  const [lost, kept] = await results;
  expect(lost.status === 'rejected' && (lost.reason as HeraldError).reason).toBe('NOT_PARTITION_OWNER');
  expect(kept).toEqual({ status: 'fulfilled', value: 1 });
  expect(await store.lastOffset({ topic: 't', partition: 0 })).toBe(0);
  expect(await store.lastOffset({ topic: 't', partition: 1 })).toBe(1);
  await committer.drain();
});

const traceEvent = (offset: number): TraceEvent => ({
  at: 1000 + offset,
  event: 'delivered',
  ref: { topic: 't', partition: 0 },
  offset,
  messageId: `t/0/${offset}`,
  refKey: '',
  group: 'g',
  consumerId: '',
  attempt: 1,
  broker: 'b-1',
  detail: {},
});

/** A trace buffer holding `events`, recording what the committer does with them. */
function riderOf(events: TraceEvent[]) {
  const seen = { stored: [] as number[], givenBack: [] as number[] };
  let buffered = events;
  const rider: TraceRider = {
    take: () => buffered.splice(0),
    stored: (e) => seen.stored.push(...e.map((x) => x.offset)),
    giveBack: (e) => {
      seen.givenBack.push(...e.map((x) => x.offset));
      buffered = [...e, ...buffered];
    },
  };
  return { rider, seen };
}

test('a store with traceInAppend stores the buffered trace events in the commit, all or none', async () => {
  const store = createMemoryStore({});
  await store.ensureTopic('t', 1);
  const metrics = new BrokerMetrics(() => []);
  const { rider, seen } = riderOf([traceEvent(7), traceEvent(8)]);
  const committer = committerOver(store, metrics, { trace: rider });
  const w = writerOf(store, committer, metrics, 0);
  await committer.publish(w, [message('a')], 1);
  expect(seen).toEqual({ stored: [7, 8], givenBack: [] });
  expect((await store.trace({ messageId: 't/0/8' }, 10)).map((e) => e.offset)).toEqual([8]);

  // A failed commit stores none of them and hands them back to the buffer.
  const later = riderOf([traceEvent(9)]);
  const failing = committerOver(store, metrics, { trace: later.rider });
  const taken = writerOf(store, failing, metrics, 0); // its next offset, 1, is taken
  await expect(failing.publish(taken, [message('b')], 1)).rejects.toMatchObject({
    reason: 'PARTITION_FENCED',
  });
  expect(later.seen).toEqual({ stored: [], givenBack: [9] });
  expect(await store.trace({ messageId: 't/0/9' }, 10)).toEqual([]);
  await committer.drain();
  await failing.drain();
});

test('a store without traceInAppend is never given trace events', async () => {
  const store = createMemoryStore({ capabilities: { traceInAppend: false } });
  await store.ensureTopic('t', 1);
  const metrics = new BrokerMetrics(() => []);
  const { rider, seen } = riderOf([traceEvent(7)]);
  const committer = committerOver(store, metrics, { trace: rider });
  await committer.publish(writerOf(store, committer, metrics, 0), [message('a')], 1);
  expect(seen).toEqual({ stored: [], givenBack: [] });
  expect(await store.trace({ messageId: 't/0/7' }, 10)).toEqual([]);
  await committer.drain();
});

test('a commit refused with trace rows is tried again without them: a trace row never fails a publish', async () => {
  const store = createMemoryStore({});
  await store.ensureTopic('t', 1);
  const append = store.append.bind(store);
  const calls: number[] = [];
  store.append = (batches, at, { trace = [] } = {}) => {
    calls.push(trace.length);
    if (trace.length > 0)
      return Promise.reject(new HeraldError('INTERNAL_ERROR', 'insert trace events: bad row'));
    return append(batches, at);
  };
  const metrics = new BrokerMetrics(() => []);
  const { rider, seen } = riderOf([traceEvent(7)]);
  const committer = committerOver(store, metrics, { trace: rider });
  expect(await committer.publish(writerOf(store, committer, metrics, 0), [message('a')], 1)).toBe(1);
  expect(calls).toEqual([1, 0]);
  expect(seen).toEqual({ stored: [], givenBack: [7] });
  expect(await store.lastOffset({ topic: 't', partition: 0 })).toBe(1);
  await committer.drain();
});

/** Moved offsets of group g on t/0 waiting to ride, recording what the committer does with them. */
function offsetRiderOf(offsets: number[]) {
  const seen = { asked: 0, stored: [] as number[], givenBack: [] as number[] };
  let due = offsets.map((offset) => ({ group: 'g', ref: { topic: 't', partition: 0 }, offset }));
  const rider: OffsetRider = {
    take: () => {
      seen.asked++;
      return due.splice(0);
    },
    stored: (c) => seen.stored.push(...c.map((x) => x.offset)),
    giveBack: (c) => {
      seen.givenBack.push(...c.map((x) => x.offset));
      due = [...c, ...due];
    },
  };
  return { rider, seen };
}

test('a store with offsetsInAppend stores due committed offsets in the commit; a failed commit gives them back', async () => {
  const store = createMemoryStore({});
  await store.ensureTopic('t', 1);
  const metrics = new BrokerMetrics(() => []);
  const { rider, seen } = offsetRiderOf([5]);
  const committer = committerOver(store, metrics, { offsets: rider });
  const w = writerOf(store, committer, metrics, 0);
  await committer.publish(w, [message('a')], 1);
  expect(seen).toEqual({ asked: 1, stored: [5], givenBack: [] });
  expect(await store.committedOffset('g', { topic: 't', partition: 0 })).toBe(5);

  const later = offsetRiderOf([9]);
  const failing = committerOver(store, metrics, { offsets: later.rider });
  const taken = writerOf(store, failing, metrics, 0); // its next offset, 1, is taken
  await expect(failing.publish(taken, [message('b')], 1)).rejects.toMatchObject({
    reason: 'PARTITION_FENCED',
  });
  expect(later.seen).toEqual({ asked: 1, stored: [], givenBack: [9] });
  expect(await store.committedOffset('g', { topic: 't', partition: 0 })).toBe(5);
  await committer.drain();
  await failing.drain();
});

test('a store without offsetsInAppend is never asked for offsets', async () => {
  const store = createMemoryStore({ capabilities: { offsetsInAppend: false } });
  await store.ensureTopic('t', 1);
  const metrics = new BrokerMetrics(() => []);
  const { rider, seen } = offsetRiderOf([5]);
  const committer = committerOver(store, metrics, { offsets: rider });
  await committer.publish(writerOf(store, committer, metrics, 0), [message('a')], 1);
  expect(seen).toEqual({ asked: 0, stored: [], givenBack: [] });
  expect(await store.findCommittedOffset('g', { topic: 't', partition: 0 })).toBeUndefined();
  await committer.drain();
});

test('a commit refused with offsets is tried again without them: an offset never fails a publish', async () => {
  const store = createMemoryStore({});
  await store.ensureTopic('t', 1);
  const append = store.append.bind(store);
  const calls: number[] = [];
  store.append = (batches, at, { offsets = [] } = {}) => {
    calls.push(offsets.length);
    if (offsets.length > 0)
      return Promise.reject(new HeraldError('INTERNAL_ERROR', 'commit offsets: lock wait timeout'));
    return append(batches, at);
  };
  const metrics = new BrokerMetrics(() => []);
  const { rider, seen } = offsetRiderOf([5]);
  const committer = committerOver(store, metrics, { offsets: rider });
  expect(await committer.publish(writerOf(store, committer, metrics, 0), [message('a')], 1)).toBe(1);
  expect(calls).toEqual([1, 0]);
  expect(seen).toEqual({ asked: 1, stored: [], givenBack: [5] });
  await committer.drain();
});

test('a commit slower than slowCommitMs is logged with what it held, at most once per 10 s; 0 logs none', async () => {
  const run = async (slowCommitMs: number) => {
    const store = createMemoryStore({});
    const append = store.append.bind(store);
    // Every append takes 30 ms.
    store.append = async (batches, at, riders) => {
      await new Promise((r) => setTimeout(r, 30));
      return append(batches, at, riders);
    };
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const metrics = new BrokerMetrics(() => []);
    const committer = committerOver(store, metrics, {}, { slowCommitMs, logger });
    const writers = [0, 1].map((partition) => writerOf(store, committer, metrics, partition));
    await Promise.all(writers.map((w) => committer.publish(w, [message('a'), message('b')], 2)));
    await committer.publish(writers[0], [message('c')], 1);
    await committer.drain();
    return lines.filter((l) => l.msg === 'slow commit');
  };
  const logged = await run(10);
  // Two slow commits: the first is logged, the second falls in the same 10 s.
  expect(logged).toHaveLength(1);
  expect(logged[0]).toMatchObject({ level: 'warn', partitions: ['t/0', 't/1'], rows: 4, notLoggedSince: 0 });
  expect(logged[0].ms).toBeGreaterThanOrEqual(25);
  expect(await run(0)).toEqual([]);
  expect(await run(10_000)).toEqual([]);
});
