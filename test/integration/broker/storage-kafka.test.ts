// The Kafka adapter against the real Kafka: store-allocated offsets (Herald offset = Kafka
// offset + 1), records of foreign producers, offsets that Kafka's own tools see, following a
// partition (the owner's own records handed over by the append), partitions added behind the
// producer's back, retention, and an unreachable Kafka.
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import type { Admin, Consumer } from 'kafkajs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HeraldError } from '../../../common/errors';
import { DEFAULTS } from '../../../common/broker-options';
import { createKafkaStore } from '../../../storage/kafka/kafka-store';
import type { KafkaStore } from '../../../storage/kafka/kafka-store';
import type { PartitionRef, StoredMessage } from '../../../storage/storage';
import { msg } from '../../storage-conformance';
import { testEnv, uniqueName } from '../env';
import { waitFor } from '../wait';
import { testLogger } from './helpers';

const brokers = () => testEnv().kafkaBrokers;

export function kafkaStore(
  servers = brokers(),
  overrides: Partial<typeof DEFAULTS.kafka> = {},
): Promise<KafkaStore> {
  return createKafkaStore({
    ...DEFAULTS.kafka,
    ...overrides,
    bootstrapServers: servers,
    clientId: 'herald-test',
    logger: testLogger,
  });
}

async function reason(p: Promise<unknown>): Promise<HeraldError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HeraldError) return err;
    throw err;
  }
  throw new Error('expected a HeraldError');
}

let store: KafkaStore;
let admin: Admin;
const kafka = () =>
  new Kafka({ clientId: 'herald-test-peer', brokers: brokers(), logLevel: logLevel.NOTHING });

beforeAll(async () => {
  store = await kafkaStore();
  admin = kafka().admin();
  await admin.connect();
});
afterAll(async () => {
  await store.close();
  await admin.disconnect();
});

async function newTopic(partitions = 2): Promise<string> {
  const topic = uniqueName('kstore');
  await store.ensureTopic(topic, partitions);
  return topic;
}

const bodies = (ms: StoredMessage[]) => ms.map((m) => [m.offset, m.body.toString()]);

test('an empty partition: last offset 0, nothing to read, no first offset', async () => {
  const t = { topic: await newTopic(), partition: 0 };
  expect(await store.lastOffset(t)).toBe(0);
  expect(await store.read(t, 0, 10)).toEqual([]);
  expect(await store.firstOffset(t)).toBeUndefined();
  expect(await store.offsetAtTime(t, 0)).toBeUndefined();
});

test('append stores where Kafka says and round-trips every field; offsets start at 1', async () => {
  const t = { topic: await newTopic(), partition: 1 };
  const m = msg('', {
    key: 'kéy',
    refKey: 'order-42',
    tags: ['a', 'b.c'],
    properties: { x: '1', ü: 'v', 'herald.tags': 'mine' },
    body: Buffer.from([0, 1, 2, 255, 254, 0]),
  });
  const [first] = await store.append(
    [{ ref: t, firstOffset: 0, messages: [m, msg('second')] }],
    1_700_000_000_123,
  );
  expect(first).toEqual({ ok: true, firstOffset: 1 });
  const [next] = await store.append(
    [{ ref: t, firstOffset: 0, messages: [msg('third')] }],
    1_700_000_000_124,
  );
  expect(next).toEqual({ ok: true, firstOffset: 3 });
  expect(await store.read(t, 0, 10)).toEqual([
    { ...m, offset: 1, publishedAt: 1_700_000_000_123 },
    { ...msg('second'), offset: 2, publishedAt: 1_700_000_000_123 },
    { ...msg('third'), offset: 3, publishedAt: 1_700_000_000_124 },
  ]);
  expect(await store.lastOffset(t)).toBe(3);
  expect(await store.firstOffset(t)).toBe(1);
});

test("Herald's own record batches are read back by a plain kafkajs consumer: keys, headers, timestamps", async () => {
  const topic = await newTopic(2);
  const messages = [
    msg('one', { key: 'k1', refKey: 'order-7', tags: ['a'], properties: { trace: 'x', ü: 'ünïcode' } }),
    msg(''),
    msg('three', { key: 'ключ' }),
  ];
  const outcomes = await store.append(
    [
      { ref: { topic, partition: 0 }, firstOffset: 0, messages: messages.slice(0, 2) },
      { ref: { topic, partition: 1 }, firstOffset: 0, messages: messages.slice(2) },
    ],
    1_700_000_000_555,
  );
  expect(outcomes).toEqual([
    { ok: true, firstOffset: 1 },
    { ok: true, firstOffset: 1 },
  ]);
  // The same size again on the same partitions: stored after them, not taken for a duplicate.
  const again = await store.append(
    [{ ref: { topic, partition: 0 }, firstOffset: 0, messages: [msg('four'), msg('five')] }],
    1_700_000_000_556,
  );
  expect(again).toEqual([{ ok: true, firstOffset: 3 }]);

  const seen: {
    partition: number;
    offset: string;
    key?: string;
    value: string;
    headers: object;
    timestamp: string;
  }[] = [];
  const consumer = kafka().consumer({ groupId: uniqueName('plain'), sessionTimeout: 10_000 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message: m }) => {
        seen.push({
          partition,
          offset: m.offset,
          key: m.key?.toString(),
          value: m.value?.toString() ?? '<null>',
          headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
          timestamp: m.timestamp,
        });
        return Promise.resolve();
      },
    });
    await waitFor(
      'the consumer to read five records',
      () => Promise.resolve(seen.length >= 5 ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
  } finally {
    await consumer.disconnect();
  }
  seen.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  expect(seen).toEqual([
    {
      partition: 0,
      offset: '0',
      key: 'k1',
      value: 'one',
      headers: { trace: 'x', ü: 'ünïcode', 'herald.ref-key': 'order-7', 'herald.tags': '["a"]' },
      timestamp: '1700000000555',
    },
    { partition: 0, offset: '1', value: '', headers: {}, timestamp: '1700000000555' },
    { partition: 0, offset: '2', value: 'four', headers: {}, timestamp: '1700000000556' },
    { partition: 0, offset: '3', value: 'five', headers: {}, timestamp: '1700000000556' },
    { partition: 1, offset: '0', key: 'ключ', value: 'three', headers: {}, timestamp: '1700000000555' },
  ]);
});

test('read honours afterOffset and limit; readOffsets returns the existing ones in order', async () => {
  const t = { topic: await newTopic(), partition: 0 };
  await store.append([{ ref: t, firstOffset: 0, messages: ['1', '2', '3', '4', '5'].map((b) => msg(b)) }], 1);
  expect(bodies(await store.read(t, 2, 2))).toEqual([
    [3, '3'],
    [4, '4'],
  ]);
  expect(await store.read(t, 5, 10)).toEqual([]);
  expect((await store.readOffsets(t, [5, 9, 1, 3, 3])).map((m) => m.offset)).toEqual([1, 3, 5]);
  expect(await store.readOffsets(t, [])).toEqual([]);
});

test('batches of several partitions each get their own offsets; the firstOffset hint is ignored', async () => {
  const topic = await newTopic(3);
  const [a, b] = [
    { topic, partition: 0 },
    { topic, partition: 2 },
  ];
  await store.append([{ ref: a, firstOffset: 0, messages: [msg('a0')] }], 5);
  // A stale owner's append with offsets that are taken: stored after them, not fenced.
  const outcomes = await store.append(
    [
      { ref: a, firstOffset: 1, messages: [msg('a1'), msg('a2')] },
      { ref: b, firstOffset: 7, messages: [msg('b0')] },
    ],
    6,
  );
  expect(outcomes).toEqual([
    { ok: true, firstOffset: 2 },
    { ok: true, firstOffset: 1 },
  ]);
  expect(bodies(await store.read(a, 0, 10))).toEqual([
    [1, 'a0'],
    [2, 'a1'],
    [3, 'a2'],
  ]);
  expect(bodies(await store.read(b, 0, 10))).toEqual([[1, 'b0']]);
  expect(await store.lastOffset({ topic, partition: 1 })).toBe(0);
});

test('offsetAtTime finds the first offset published at or after a time', async () => {
  const t = { topic: await newTopic(), partition: 0 };
  await store.append([{ ref: t, firstOffset: 0, messages: [msg('1'), msg('2')] }], 1000);
  await store.append([{ ref: t, firstOffset: 0, messages: [msg('3')] }], 2000);
  await store.append([{ ref: t, firstOffset: 0, messages: [msg('4')] }], 3000);
  expect(await store.offsetAtTime(t, 0)).toBe(1);
  expect(await store.offsetAtTime(t, 1000)).toBe(1);
  expect(await store.offsetAtTime(t, 1001)).toBe(3);
  expect(await store.offsetAtTime(t, 2500)).toBe(4);
  expect(await store.offsetAtTime(t, 3001)).toBeUndefined();
});

describe('committed offsets are the group offsets Kafka keeps', () => {
  test('they start at 0, move only forward per group and partition, and a reset moves them back', async () => {
    const topic = await newTopic();
    const [t, t1] = [
      { topic, partition: 0 },
      { topic, partition: 1 },
    ];
    const group = uniqueName('g');
    expect(await store.committedOffset(group, t)).toBe(0);
    await store.commitOffset(group, t, 5);
    await store.commitOffset(group, t, 3);
    expect(await store.committedOffset(group, t)).toBe(5);
    await store.commitOffsets([
      { group, ref: t, offset: 4 },
      { group, ref: t1, offset: 7 },
      { group: `${group}-2`, ref: t, offset: 2 },
    ]);
    expect(await store.committedOffset(group, t)).toBe(5);
    expect(await store.committedOffset(group, t1)).toBe(7);
    expect(await store.committedOffset(`${group}-2`, t)).toBe(2);
    await store.forceCommittedOffset(group, t, 1);
    expect(await store.committedOffset(group, t)).toBe(1);
    // Another store (another broker) sees the same offsets and does not move them back.
    const other = await kafkaStore();
    try {
      await other.commitOffset(group, t1, 6);
      expect(await other.committedOffset(group, t1)).toBe(7);
    } finally {
      await other.close();
    }
  });

  test("Kafka's own tools show Herald's committed offset, end offset and lag", async () => {
    const topic = await newTopic(1);
    const t = { topic, partition: 0 };
    const group = uniqueName('g');
    await store.append(
      [{ ref: t, firstOffset: 0, messages: ['1', '2', '3', '4', '5'].map((b) => msg(b)) }],
      1,
    );
    await store.commitOffset(group, t, 3);
    // kafkajs' admin: the committed offset is Herald's (everything up to 3 done: read 3 next).
    expect(await admin.fetchOffsets({ groupId: group, topics: [topic] })).toEqual([
      { topic, partitions: [{ partition: 0, offset: '3', metadata: null }] },
    ]);
    // kafka-consumer-groups.sh, from Kafka's own jars.
    const libs = `${process.env.HERALD_CACHE ?? `${process.env.HOME}/.cache/herald`}/kafka-4.1.1/libs/*`;
    const { stdout } = await promisify(execFile)('java', [
      '-cp',
      libs,
      'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
      '--bootstrap-server',
      brokers()[0],
      '--describe',
      '--group',
      group,
    ]);
    const row = stdout.split('\n').find((l) => l.includes(topic));
    expect(row?.trim().split(/\s+/).slice(1, 6)).toEqual([topic, '0', '3', '5', '2']);
  });

  test('a Kafka consumer in the same group id makes commits fail with a clear error', async () => {
    const topic = await newTopic(1);
    const t = { topic, partition: 0 };
    const group = uniqueName('g');
    await store.commitOffset(group, t, 1);
    const consumer: Consumer = kafka().consumer({ groupId: group, sessionTimeout: 10_000 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({ eachMessage: () => Promise.resolve() });
    try {
      await waitFor('the Kafka consumer to join', async () => {
        const g = await admin.describeGroups([group]);
        return g.groups[0]?.state === 'Stable' ? true : undefined;
      });
      const err = await reason(store.commitOffset(group, t, 2));
      expect(err.reason).toBe('INVALID_REQUEST');
      expect(err.metadata).toMatchObject({ group, kafkaError: 'UNKNOWN_MEMBER_ID' });
      expect(err.message).toContain('Kafka consumers');
    } finally {
      await consumer.disconnect();
    }
  });
});

test('follow hands over every record stored after the start, a foreign gzip batch with defaults', async () => {
  const t = { topic: await newTopic(2), partition: 1 };
  await store.append([{ ref: t, firstOffset: 0, messages: [msg('before')] }], 1);
  const seen: StoredMessage[] = [];
  const stop = store.follow(t, 1, { appended: (ms) => seen.push(...ms), truncated: () => undefined });
  try {
    await store.append([{ ref: t, firstOffset: 0, messages: [msg('mine', { tags: ['x'] })] }], 2);
    const producer = kafka().producer();
    await producer.connect();
    await producer.send({
      topic: t.topic,
      compression: CompressionTypes.GZIP,
      messages: [
        { partition: 1, key: 'k', value: 'foreign', headers: { trace: 'abc' }, timestamp: '3' },
        { partition: 1, value: null, timestamp: '4' },
      ],
    });
    await producer.disconnect();
    await waitFor('three records followed', () => Promise.resolve(seen.length >= 3 ? true : undefined), {
      timeoutMs: 10_000,
    });
    expect(seen).toEqual([
      { ...msg('mine', { tags: ['x'] }), offset: 2, publishedAt: 2 },
      { ...msg('foreign', { key: 'k', properties: { trace: 'abc' } }), offset: 3, publishedAt: 3 },
      { ...msg(''), offset: 4, publishedAt: 4 },
    ]);
    // The random-read path decodes the gzip batch alike.
    expect(bodies(await store.read(t, 2, 10))).toEqual([
      [3, 'foreign'],
      [4, ''],
    ]);
  } finally {
    stop();
  }
  // Unfollowed: nothing more is handed over.
  await store.append([{ ref: t, firstOffset: 0, messages: [msg('after')] }], 5);
  const probe: StoredMessage[] = [];
  const stopProbe = store.follow(t, 4, { appended: (ms) => probe.push(...ms), truncated: () => undefined });
  await waitFor('the probe to see the last record', () =>
    Promise.resolve(probe.length > 0 ? true : undefined),
  );
  stopProbe();
  expect(seen).toHaveLength(3);
});

test("the owner's own records reach its tail from the append, not read back; another producer's between them are read first", async () => {
  const t = { topic: await newTopic(1), partition: 0 };
  const seen: StoredMessage[] = [];
  const stop = store.follow(t, 0, { appended: (ms) => seen.push(...ms), truncated: () => undefined });
  try {
    const first = msg('first');
    await store.append([{ ref: t, firstOffset: 0, messages: [first] }], 1);
    // Handed over by the append itself: the very body appended, by the time it resolves.
    expect(seen.map((m) => m.offset)).toEqual([1]);
    expect(seen[0].body).toBe(first.body);
    const producer = kafka().producer();
    await producer.connect();
    await producer.send({ topic: t.topic, messages: [{ partition: 0, value: 'foreign', timestamp: '2' }] });
    await producer.disconnect();
    const second = msg('second');
    await store.append([{ ref: t, firstOffset: 0, messages: [second] }], 3);
    // The foreign record came first: it was read before the second own record was handed over.
    expect(bodies(seen)).toEqual([
      [1, 'first'],
      [2, 'foreign'],
      [3, 'second'],
    ]);
    expect(seen[2].body).toBe(second.body);
  } finally {
    stop();
  }
});

test('a partition added behind the producer: the append stores it (never a silent success)', async () => {
  const topic = await newTopic(1);
  // The producer caches the topic's metadata with one partition.
  await store.append([{ ref: { topic, partition: 0 }, firstOffset: 0, messages: [msg('p0')] }], 1);
  await admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] });
  const ref: PartitionRef = { topic, partition: 2 };
  const [outcome] = await store.append([{ ref, firstOffset: 0, messages: [msg('p2')] }], 2);
  expect(outcome).toEqual({ ok: true, firstOffset: 1 });
  expect(bodies(await store.read(ref, 0, 10))).toEqual([[1, 'p2']]);
  // A partition Kafka does not have fails clearly and stores nothing.
  const [missing] = await store.append(
    [{ ref: { topic, partition: 7 }, firstOffset: 0, messages: [msg('x')] }],
    3,
  );
  expect(missing.ok).toBe(false);
  expect(!missing.ok && missing.error.reason).toBe('PARTITION_OUT_OF_RANGE');
});

test("a batch Kafka refuses as too large fails with MESSAGE_TOO_LARGE; the next one is stored at Kafka's offset", async () => {
  const topic = uniqueName('ksmall');
  await admin.createTopics({
    topics: [{ topic, numPartitions: 2, configEntries: [{ name: 'max.message.bytes', value: '2000' }] }],
    waitForLeaders: true,
  });
  const [big, small] = await store.append(
    [
      { ref: { topic, partition: 0 }, firstOffset: 0, messages: [msg('x'.repeat(5000))] },
      { ref: { topic, partition: 1 }, firstOffset: 0, messages: [msg('fits')] },
    ],
    1,
  );
  // Each partition's answer on its own: one refused, stored nothing; the other stored.
  expect(big.ok).toBe(false);
  expect(!big.ok && big.error.reason).toBe('MESSAGE_TOO_LARGE');
  expect(!big.ok && big.error.metadata).toMatchObject({ kafkaError: 'MESSAGE_TOO_LARGE', partition: '0' });
  expect(small).toEqual({ ok: true, firstOffset: 1 });
  // After the refusal (a fresh producer id), the same partition takes the next batch.
  const [next] = await store.append(
    [{ ref: { topic, partition: 0 }, firstOffset: 0, messages: [msg('ok')] }],
    2,
  );
  expect(next).toEqual({ ok: true, firstOffset: 1 });
  expect(bodies(await store.read({ topic, partition: 0 }, 0, 10))).toEqual([[1, 'ok']]);
  expect(bodies(await store.read({ topic, partition: 1 }, 0, 10))).toEqual([[1, 'fits']]);
});

test('behind the log start (retention), reads continue at the first retained offset', async () => {
  const t = { topic: await newTopic(1), partition: 0 };
  await store.append([{ ref: t, firstOffset: 0, messages: ['1', '2', '3', '4'].map((b) => msg(b)) }], 1);
  // Kafka offsets 0 and 1 (Herald 1 and 2) go, as retention would drop them. (kafkajs' admin
  // finds the leader only once it has read the topic's metadata.)
  await admin.fetchTopicMetadata({ topics: [t.topic] });
  await admin.deleteTopicRecords({ topic: t.topic, partitions: [{ partition: 0, offset: '2' }] });
  expect(await store.firstOffset(t)).toBe(3);
  expect(bodies(await store.read(t, 0, 10))).toEqual([
    [3, '3'],
    [4, '4'],
  ]);
  expect((await store.readOffsets(t, [1, 2, 4])).map((m) => m.offset)).toEqual([4]);
  expect(await store.lastOffset(t)).toBe(4);
});

test('dropTopic removes the messages and the committed offsets, and is idempotent', async () => {
  const topic = await newTopic(1);
  const t = { topic, partition: 0 };
  const group = uniqueName('g');
  await store.append([{ ref: t, firstOffset: 0, messages: [msg('doomed')] }], 1);
  await store.commitOffset(group, t, 1);
  await store.dropTopic(topic, 1);
  await store.dropTopic(topic, 1);
  expect(await admin.listTopics()).not.toContain(topic);
  await waitFor('the offsets to go', async () => {
    const groups = await admin.fetchOffsets({ groupId: group, topics: [topic] }).catch(() => []);
    return groups.every((g) => g.partitions.every((p) => p.offset === '-1')) ? true : undefined;
  });
});

test('an unreachable Kafka fails fast with STORAGE_UNAVAILABLE', async () => {
  const started = Date.now();
  const err = await reason(kafkaStore(['127.0.0.1:1']));
  expect(err.reason).toBe('STORAGE_UNAVAILABLE');
  expect(Date.now() - started).toBeLessThan(5_000);
});
