// The group committer over the memory store: batches of several partitions go into one
// append only when the store declares atomicMultiPartitionAppend, else one append each.
import { silentLogger } from '../../../common/logger';
import { PartitionLog } from '../../../broker/delivery/partition-log';
import { BrokerMetrics } from '../../../broker/metrics';
import { GroupCommitter } from '../../../broker/publish/group-committer';
import { PartitionWriter } from '../../../broker/publish/partition-writer';
import { createMemoryStore } from '../../../storage/memory/memory-store';
import type { MemoryStoreOptions } from '../../../storage/memory/memory-store';
import type { AppendBatch, NewMessage } from '../../../storage/storage';

const message = (text: string): NewMessage => ({
  key: '',
  refKey: '',
  tags: [],
  properties: {},
  body: Buffer.from(text),
  priority: false,
});

async function commitTwoPartitions(options: MemoryStoreOptions) {
  const store = createMemoryStore(options);
  const appends: AppendBatch[][] = [];
  const append = store.append.bind(store);
  store.append = (batches, at) => {
    appends.push(batches);
    return append(batches, at);
  };
  const metrics = new BrokerMetrics(() => []);
  const committer = new GroupCommitter(
    store,
    { maxRows: 500, maxBytes: 1 << 20, lingerMs: 5, maxCommitBytes: 1 << 21, maxConcurrentCommits: 1 },
    metrics,
    silentLogger,
    () => undefined,
  );
  const writers = [0, 1].map((partition) => {
    const w = new PartitionWriter(
      store,
      new PartitionLog({ topic: 't', partition }, 0, { maxMessages: 10, maxBytes: 1 << 20 }),
      metrics,
      silentLogger,
    );
    committer.add(w);
    return w;
  });
  const offsets = await Promise.all(writers.map((w, i) => committer.publish(w, [message(`m${i}`)], 2)));
  await committer.drain();
  return { offsets, appends: appends.map((batches) => batches.map((b) => b.ref.partition)), store };
}

test('a store with atomic multi-partition appends gets both partitions in one append', async () => {
  const { offsets, appends } = await commitTwoPartitions({});
  expect(offsets).toEqual([1, 1]);
  expect(appends).toEqual([[0, 1]]);
});

test('a store without them gets one append per partition, and every request is answered', async () => {
  const { offsets, appends, store } = await commitTwoPartitions({
    capabilities: { atomicMultiPartitionAppend: false },
  });
  expect(offsets).toEqual([1, 1]);
  expect(appends.sort()).toEqual([[0], [1]]);
  expect(await store.lastOffset({ topic: 't', partition: 1 })).toBe(1);
});
