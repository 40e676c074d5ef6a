// The Kafka adapter against the shared conformance suite (its share: no owner fencing, no
// atomic multi-partition appends, no lanes or delays, no segments), with the pool's MySQL
// beside it for retries, delays and traces. Kafka is shared by every test, so each fresh
// adapter sees the suite's topic names under a prefix of its own.
import { DEFAULTS } from '../../../common/broker-options';
import { createKafkaStore } from '../../../storage/kafka/kafka-store';
import { createMysqlStore } from '../../../storage/mysql/mysql-store';
import type { MessageStore, OffsetCommit, PartitionRef } from '../../../storage/storage';
import { describeStorageConformance } from '../../storage-conformance';
import { testEnv, uniqueName } from '../env';
import { dropTestDatabases, mysqlUrl, testDatabase, testLogger } from './helpers';

afterAll(dropTestDatabases);

/** The store with every topic name prefixed (the suite's 'orders' becomes '<prefix>-orders'). */
function prefixed(store: MessageStore, prefix: string): MessageStore {
  const t = (topic: string) => `${prefix}-${topic}`;
  const r = (ref: PartitionRef) => ({ ...ref, topic: t(ref.topic) });
  const c = (commit: OffsetCommit) => ({ ...commit, ref: r(commit.ref) });
  return {
    kind: store.kind,
    capabilities: store.capabilities,
    ensureTopic: (topic, partitions) => store.ensureTopic(t(topic), partitions),
    dropTopic: (topic, partitions) => store.dropTopic(t(topic), partitions),
    lastOffset: (ref) => store.lastOffset(r(ref)),
    append: (batches, at) =>
      store.append(
        batches.map((b) => ({ ...b, ref: r(b.ref) })),
        at,
      ),
    read: (ref, after, limit, lane) => store.read(r(ref), after, limit, lane),
    readOffsets: (ref, offsets) => store.readOffsets(r(ref), offsets),
    committedOffset: (group, ref) => store.committedOffset(group, r(ref)),
    findCommittedOffset: (group, ref) => store.findCommittedOffset(group, r(ref)),
    broadcastConsumers: (group, topic) => store.broadcastConsumers(group, t(topic)),
    dropOffsets: (group, topic) => store.dropOffsets(group, t(topic)),
    commitOffsets: (commits) => store.commitOffsets(commits.map(c)),
    commitOffset: (group, ref, offset) => store.commitOffset(group, r(ref), offset),
    forceCommittedOffset: (group, ref, offset) => store.forceCommittedOffset(group, r(ref), offset),
    offsetAtTime: (ref, at) => store.offsetAtTime(r(ref), at),
    firstOffset: (ref) => store.firstOffset(r(ref)),
    ping: () => store.ping(),
    close: () => store.close(),
  };
}

describeStorageConformance(
  'kafka',
  {
    priorityLanes: false,
    delayedMessages: false,
    ownerFencing: false,
    atomicMultiPartitionAppend: false,
    segmentRetention: false,
    traceInAppend: false,
    offsetsInAppend: false,
  },
  async () => {
    const kafka = await createKafkaStore({
      ...DEFAULTS.kafka,
      bootstrapServers: testEnv().kafkaBrokers,
      clientId: 'herald-test',
      logger: testLogger,
    });
    const pool = await createMysqlStore({
      url: mysqlUrl(testDatabase('kconf')),
      poolSize: 2,
      connectTimeoutMs: 1000,
      queryTimeoutMs: 5000,
      logger: testLogger,
    });
    return {
      messages: prefixed(kafka, uniqueName('kconf')),
      retries: pool.retries,
      delays: pool.delays,
      traces: pool.traces,
      close: async () => {
        await kafka.close();
        await pool.close();
      },
    };
  },
);
