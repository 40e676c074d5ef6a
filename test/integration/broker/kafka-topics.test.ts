// Kafka topics end to end on an in-process broker, against the real Kafka and MariaDB: the
// same gRPC calls as MySQL topics (publish, long-poll pull, ack, lag, Nack with retries and
// dead letters in the pool's MySQL, tag filters, resets), offsets that Kafka's tools show,
// records of a foreign producer, and the features Kafka cannot hold refused by name.
import { status } from '@grpc/grpc-js';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import type { Admin } from 'kafkajs';
import { testEnv, uniqueName } from '../env';
import { waitFor } from '../wait';
import { api, body, brokerOptions, dropTestDatabases, failure, runBroker, testDatabase } from './helpers';
import type { Running } from './helpers';

afterAll(dropTestDatabases);

let admin: Admin;
beforeAll(async () => {
  admin = new Kafka({
    clientId: 'herald-test-peer',
    brokers: testEnv().kafkaBrokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
});
afterAll(() => admin.disconnect());

describe('a storage: kafka topic', () => {
  let topic: string;
  let running: Running;
  let call: ReturnType<typeof api>;

  beforeEach(async () => {
    topic = uniqueName('ktopic');
    running = await runBroker(
      brokerOptions(
        testDatabase('kafka'),
        [{ name: topic, partitions: 2, storage: 'kafka', maxMessageBytes: 4096 }],
        {
          kafka: { bootstrapServers: testEnv().kafkaBrokers },
          groups: {
            retrying: { retry: { delaysMs: [0], maxRetries: 1 }, deadLetter: { enabled: true } },
            filtered: { tagFilter: 'paid' },
          },
          delivery: { commitIntervalMs: 50 },
        },
      ),
    );
    call = api(running.clients);
  });
  afterEach(async () => {
    await running.stop();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  });

  const pull = (
    group: string,
    partition: number,
    extra: { maxWaitMs?: number; ackTimeoutMs?: number } = {},
  ) => call.pull({ group, topic, partition, maxMessages: 100, maxWaitMs: 0, ...extra });

  test("publish, a waiting pull wakes, ack; lag and Kafka's committed offset agree", async () => {
    const group = uniqueName('g');
    const waiting = pull(group, 1, { maxWaitMs: 10_000 });
    const published = await call.publish({
      topic,
      partition: 1,
      messages: [
        { ...body('hello'), refKey: 'order-1', tags: ['t'], properties: { a: 'b' } },
        body('second'),
      ],
    });
    // Message ids name Herald offsets: Kafka offset + 1.
    expect(published.results).toMatchObject([
      { offset: 1, messageId: `${topic}/1/1` },
      { offset: 2, messageId: `${topic}/1/2` },
    ]);
    const first = await waiting;
    expect(first.messages[0]).toMatchObject({
      offset: 1,
      refKey: 'order-1',
      tags: ['t'],
      properties: { a: 'b' },
    });
    expect(first.messages[0].body.toString()).toBe('hello');
    const more =
      first.messages.length === 2
        ? first
        : { messages: [...first.messages, ...(await pull(group, 1)).messages] };
    expect(more.messages.map((m) => m.offset)).toEqual([1, 2]);
    expect(await call.ack({ group, topic, partition: 1, offsets: [1, 2] })).toEqual({ committedOffset: 2 });
    expect((await pull(group, 1, { maxWaitMs: 200 })).messages).toEqual([]);
    const lag = await call.getLag({ group, topic });
    expect(lag.partitions.find((p) => p.partition === 1)).toMatchObject({
      endOffset: 2,
      committedOffset: 2,
      lag: 0,
    });
    // The group's Kafka offset, as Kafka's tools read it.
    await waitFor('the commit in Kafka', async () => {
      const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return t.partitions.find((p) => p.partition === 1)?.offset === '2' ? true : undefined;
    });
  });

  test('priority and delayed messages are refused with INVALID_REQUEST naming the feature', async () => {
    const priority = await failure(
      call.publish({ topic, partition: 0, messages: [{ ...body('p'), priority: true }] }),
    );
    expect(priority.code).toBe(status.INVALID_ARGUMENT);
    expect(priority.info).toMatchObject({
      reason: 'INVALID_REQUEST',
      metadata: { storage: 'kafka', feature: 'priorityLanes', topic },
    });
    const delayed = await failure(
      call.publish({ topic, partition: 0, messages: [{ ...body('d'), delayMs: 60_000 }] }),
    );
    expect(delayed.info).toMatchObject({
      reason: 'INVALID_REQUEST',
      metadata: { feature: 'delayedMessages' },
    });
    expect(delayed.message).toContain('stored in kafka');
    expect(await call.getLag({ group: 'any', topic })).toMatchObject({
      partitions: expect.arrayContaining([
        expect.objectContaining({ partition: 0, endOffset: 0 }),
      ]) as unknown,
    });
  });

  test('Nack retries on the group schedule, then the message is a dead letter in MySQL', async () => {
    await call.publish({ topic, partition: 0, messages: [{ ...body('poison'), refKey: 'r-1' }] });
    const first = await pull('retrying', 0, { maxWaitMs: 5000 });
    expect(first.messages.map((m) => [m.offset, m.deliveryAttempt])).toEqual([[1, 1]]);
    await call.nack({ group: 'retrying', topic, partition: 0, offsets: [1], delayMs: 0, error: 'boom' });
    const again = await pull('retrying', 0, { maxWaitMs: 5000 });
    expect(again.messages.map((m) => [m.offset, m.deliveryAttempt])).toEqual([[1, 2]]);
    // Until it is acked or dead-lettered, the retry stays in the group's schedule.
    const retrying = (await call.getLag({ group: 'retrying', topic })).partitions;
    expect(retrying.map((p) => [p.partition, Number(p.pendingRetries), Number(p.deadLetters)])).toEqual([
      [0, 1, 0],
      [1, 0, 0],
    ]);
    await call.nack({
      group: 'retrying',
      topic,
      partition: 0,
      offsets: [1],
      delayMs: 0,
      error: 'boom again',
    });
    const dead = await waitFor('the dead letter', async () => {
      const res = await call.listDeadLetters({ filter: { topic, group: 'retrying' }, pageSize: 10 });
      return res.deadLetters.length > 0 ? res.deadLetters : undefined;
    });
    expect(dead[0]).toMatchObject({
      message: { partition: 0, offset: 1, refKey: 'r-1' },
      attempts: 2,
      lastError: 'boom again',
    });
    expect(
      (await call.getLag({ group: 'retrying', topic })).partitions.find((p) => p.partition === 0),
    ).toMatchObject({
      committedOffset: 1,
      lag: 0,
      pendingRetries: 0,
      deadLetters: 1,
    });

    // Peek reads the Kafka partition without a group, by offset and by time.
    const page = await call.peek({ topic, partition: 0, offset: 0 });
    expect(page.messages.map((m) => [Number(m.offset), m.body.toString(), m.refKey])).toEqual([
      [1, 'poison', 'r-1'],
    ]);
    expect(page).toMatchObject({ firstOffset: 1, endOffset: 1, startOffset: 1, nextOffset: 2 });
    const at = Number(page.messages[0].publishTimeMs);
    expect((await call.peek({ topic, partition: 0, timestampMs: at })).messages).toHaveLength(1);
    expect(await call.peek({ topic, partition: 0, timestampMs: at + 60_000 })).toMatchObject({
      messages: [],
      startOffset: 2,
    });
    expect(await call.peek({ topic, partition: 1 })).toMatchObject({
      messages: [],
      firstOffset: 1,
      endOffset: 0,
    });
  });

  test('a tag filter skips what it rejects; a reset to earliest delivers everything again', async () => {
    await call.publish({
      topic,
      partition: 1,
      messages: [
        { ...body('a'), tags: ['paid'] },
        { ...body('b'), tags: ['draft'] },
        { ...body('c'), tags: ['paid'] },
      ],
    });
    const got = await pull('filtered', 1, { maxWaitMs: 5000 });
    expect(got.messages.map((m) => m.body.toString())).toEqual(['a', 'c']);
    await call.ack({ group: 'filtered', topic, partition: 1, offsets: [1, 3] });
    const group = uniqueName('g');
    const all = await pull(group, 1, { maxWaitMs: 5000 });
    await call.ack({ group, topic, partition: 1, offsets: all.messages.map((m) => m.offset) });
    const reset = await call.resetOffsets({ group, topic, partitions: [1], earliest: true });
    expect(reset.partitions).toEqual([expect.objectContaining({ partition: 1, committedOffset: 0 })]);
    const again = await waitFor('redelivery after the reset', async () => {
      const r = await pull(group, 1, { maxWaitMs: 1000 });
      return r.messages.length > 0 ? r.messages : undefined;
    });
    expect(again.map((m) => m.offset)).toEqual([1, 2, 3]);
  });

  test("a foreign producer's gzip batch is delivered with defaults", async () => {
    const producer = new Kafka({
      clientId: 'foreign',
      brokers: testEnv().kafkaBrokers,
      logLevel: logLevel.NOTHING,
    }).producer();
    await producer.connect();
    await producer.send({
      topic,
      compression: CompressionTypes.GZIP,
      messages: [
        { partition: 0, key: 'k1', value: 'from kafka', headers: { source: 'legacy' } },
        { partition: 0, value: 'second' },
      ],
    });
    await producer.disconnect();
    const group = uniqueName('g');
    const got = await pull(group, 0, { maxWaitMs: 5000 });
    const all =
      got.messages.length === 2 ? got.messages : [...got.messages, ...(await pull(group, 0)).messages];
    expect(all[0]).toMatchObject({
      offset: 1,
      key: 'k1',
      refKey: '',
      tags: [],
      properties: { source: 'legacy' },
      deliveryAttempt: 1,
    });
    expect(all.map((m) => m.body.toString())).toEqual(['from kafka', 'second']);
  });
});

test('a kafka topic on a pool without Kafka is refused clearly at start-up', async () => {
  const name = uniqueName('ktopic');
  await expect(
    runBroker(brokerOptions(testDatabase('nokafka'), [{ name, partitions: 1, storage: 'kafka' }])),
  ).rejects.toMatchObject({ reason: 'INVALID_REQUEST', metadata: { storage: 'kafka' } });
});
