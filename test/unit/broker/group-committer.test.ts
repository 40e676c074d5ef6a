// The group committer over the memory store: batches of several partitions go into one
// append; a store with atomicMultiPartitionAppend stores all or none, one without it answers
// each partition's batch on its own.
import { silentLogger } from '../../../common/logger';
import { PartitionLog } from '../../../broker/delivery/partition-log';
import { BrokerMetrics } from '../../../broker/metrics';
import { GroupCommitter } from '../../../broker/publish/group-committer';
import { PartitionWriter } from '../../../broker/publish/partition-writer';
import { createMemoryStore } from '../../../storage/memory/memory-store';
import type { MemoryStoreOptions } from '../../../storage/memory/memory-store';
import type { AppendBatch, MessageStore, NewMessage } from '../../../storage/storage';
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
function committerOver(store: MessageStore, metrics: BrokerMetrics): GroupCommitter {
  return new GroupCommitter(
    store,
    { maxRows: 500, maxBytes: 1 << 20, lingerMs: 60_000, maxCommitBytes: 1 << 21, maxConcurrentCommits: 1 },
    metrics,
    silentLogger,
    () => undefined,
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
