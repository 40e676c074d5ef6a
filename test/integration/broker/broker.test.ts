// The broker's data plane end to end, in-process, against the real MariaDB: publish, pull,
// ack, redelivery, offsets across restarts, groups, long polls, subscriptions, group commit
// and ordering, and every bad input with its code and nothing stored.
import { status } from '@grpc/grpc-js';
import type { RowDataPacket } from 'mysql2/promise';
import { errorInfoOf } from '../../../common/errors';
import type { PartitionRef } from '../../../storage/storage';
import type { PublishStreamResponse } from '../../../proto/gen/herald/v1/PublishStreamResponse';
import type { SubscribeResponse } from '../../../proto/gen/herald/v1/SubscribeResponse';
import { waitFor } from '../wait';
import {
  api,
  body,
  brokerOptions,
  dropTestDatabases,
  failure,
  metricValue,
  mysqlProxy,
  runBroker,
  sql,
  storedCount,
  testDatabase,
  until,
} from './helpers';
import type { Running } from './helpers';

afterAll(dropTestDatabases);

const TOPIC = 'orders';
const topics = [{ name: TOPIC, partitions: 3, maxMessageBytes: 1024 }];

describe('broker data plane', () => {
  let database: string;
  let running: Running;
  let call: ReturnType<typeof api>;

  beforeEach(async () => {
    database = testDatabase('broker');
    // Retries of undeclared groups come at once (delay 0) unless a Nack names a delay.
    running = await runBroker(
      brokerOptions(database, topics, { defaultGroup: { retry: { delaysMs: [0] } } }),
    );
    call = api(running.clients);
  });
  afterEach(async () => {
    await running.stop();
  });

  const pull = (
    group: string,
    partition: number,
    extra: { maxMessages?: number; maxWaitMs?: number; ackTimeoutMs?: number } = {},
  ) => call.pull({ group, topic: TOPIC, partition, maxMessages: 100, maxWaitMs: 0, ...extra });

  test('publish, pull, ack: the message is not delivered again', async () => {
    const published = await call.publish({
      topic: TOPIC,
      partition: 1,
      messages: [{ ...body('hello'), refKey: 'order-1', tags: ['t'], properties: { a: 'b' } }],
    });
    expect(published).toMatchObject({
      topic: TOPIC,
      partition: 1,
      results: [{ offset: 1, messageId: `${TOPIC}/1/1` }],
    });

    const first = await pull('billing', 1, { maxWaitMs: 5000 });
    expect(first.messages).toHaveLength(1);
    expect(first.messages[0]).toMatchObject({
      offset: 1,
      refKey: 'order-1',
      tags: ['t'],
      properties: { a: 'b' },
      deliveryAttempt: 1,
    });
    expect(first.messages[0].body.toString()).toBe('hello');

    expect(await call.ack({ group: 'billing', topic: TOPIC, partition: 1, offsets: [1] })).toEqual({
      committedOffset: 1,
    });
    expect((await pull('billing', 1, { maxWaitMs: 200 })).messages).toEqual([]);
    const lag = await call.getLag({ group: 'billing', topic: TOPIC });
    expect(lag.partitions.find((p) => p.partition === 1)).toMatchObject({
      endOffset: 1,
      committedOffset: 1,
      lag: 0,
      inFlight: 0,
    });
  });

  test('an unacked message comes back after the ack timeout', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: [body('retry me')] });
    const first = await pull('g', 0, { ackTimeoutMs: 300, maxWaitMs: 5000 });
    expect(first.messages.map((m) => [m.offset, m.deliveryAttempt])).toEqual([[1, 1]]);
    // Waits (without polling) until the ack timeout makes the message ready again.
    const again = await pull('g', 0, { ackTimeoutMs: 300, maxWaitMs: 10_000 });
    expect(again.messages.map((m) => [m.offset, m.deliveryAttempt])).toEqual([[1, 2]]);
    await call.ack({ group: 'g', topic: TOPIC, partition: 0, offsets: [1] });
    expect((await pull('g', 0, { ackTimeoutMs: 300, maxWaitMs: 600 })).messages).toEqual([]);
  });

  test("Nack redelivers after its own delay, or on the group's schedule (here: at once)", async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: [body('a'), body('b')] });
    expect((await pull('g', 0)).messages.map((m) => m.offset)).toEqual([1, 2]);
    await call.nack({ group: 'g', topic: TOPIC, partition: 0, offsets: [2], delayMs: 0 });
    expect((await pull('g', 0)).messages.map((m) => [m.offset, m.deliveryAttempt])).toEqual([[2, 2]]);
    await call.nack({ group: 'g', topic: TOPIC, partition: 0, offsets: [1], delayMs: 300 });
    expect((await pull('g', 0)).messages).toEqual([]);
    expect(
      (await pull('g', 0, { maxWaitMs: 10_000 })).messages.map((m) => [m.offset, m.deliveryAttempt]),
    ).toEqual([[1, 2]]);
  });

  test('the committed offset is the highest contiguous ack', async () => {
    await call.publish({ topic: TOPIC, partition: 2, messages: ['1', '2', '3', '4'].map(body) });
    await pull('g', 2);
    expect(await call.ack({ group: 'g', topic: TOPIC, partition: 2, offsets: [2, 4] })).toEqual({
      committedOffset: 0,
    });
    expect(await call.ack({ group: 'g', topic: TOPIC, partition: 2, offsets: [1] })).toEqual({
      committedOffset: 2,
    });
    expect(await call.ack({ group: 'g', topic: TOPIC, partition: 2, offsets: [3] })).toEqual({
      committedOffset: 4,
    });
    // Acks are idempotent.
    expect(await call.ack({ group: 'g', topic: TOPIC, partition: 2, offsets: [3] })).toEqual({
      committedOffset: 4,
    });
  });

  test('acked offsets are stored in the background, without a shutdown', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: [body('a'), body('b')] });
    await pull('stored', 0);
    await call.ack({ group: 'stored', topic: TOPIC, partition: 0, offsets: [1, 2] });
    await waitFor('the committed offset in MySQL', async () => {
      const rows = await sql<RowDataPacket>(
        database,
        'SELECT committed_offset FROM consumer_offsets WHERE group_name = ? AND topic = ? AND partition_id = 0',
        ['stored', TOPIC],
      );
      return Number(rows[0]?.committed_offset) === 2 ? true : undefined;
    });
  });

  test('two groups consume independently', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: [body('x'), body('y')] });
    const a = await pull('group-a', 0);
    await call.ack({
      group: 'group-a',
      topic: TOPIC,
      partition: 0,
      offsets: a.messages.map((m) => m.offset),
    });
    const b = await pull('group-b', 0);
    expect(b.messages.map((m) => m.body.toString())).toEqual(['x', 'y']);
    expect((await pull('group-a', 0)).messages).toEqual([]);
    const lagA = await call.getLag({ group: 'group-a', topic: TOPIC });
    const lagB = await call.getLag({ group: 'group-b', topic: TOPIC });
    expect(lagA.partitions[0]).toMatchObject({ committedOffset: 2, lag: 0 });
    expect(lagB.partitions[0]).toMatchObject({ committedOffset: 0, lag: 2, inFlight: 2 });
  });

  test('a waiting Pull returns when a message arrives, long before its maximum wait', async () => {
    const waiting = pull('live', 1, { maxWaitMs: 600_000 });
    let settled = false;
    void waiting.finally(() => (settled = true));
    await waitFor('the pull to wait in the broker', async () =>
      (await metricValue(running.broker.metricsAddress, 'herald_waiting_pulls')) === 1 ? true : undefined,
    );
    expect(settled).toBe(false);
    await call.publish({ topic: TOPIC, partition: 1, messages: [body('wake up')] });
    const got = await waiting;
    expect(got.messages.map((m) => m.body.toString())).toEqual(['wake up']);
  });

  test('Subscribe sends no more deliveries than credits granted', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: ['1', '2', '3', '4', '5'].map(body) });
    const stream = running.clients.broker.Subscribe();
    const received: number[] = [];
    stream.on('data', (r: { delivery?: { offset: number } | null }) => received.push(r.delivery!.offset));
    stream.write({ start: { group: 'sub', topic: TOPIC, partition: 0, credits: 2, ackTimeoutMs: 60_000 } });
    await until('two deliveries', () => received.length >= 2);
    // The broker handed out exactly the credited two: the rest is not in flight.
    const lag = await call.getLag({ group: 'sub', topic: TOPIC });
    expect(lag.partitions[0]).toMatchObject({ inFlight: 2 });
    expect(received).toEqual([1, 2]);
    stream.write({ credits: 10 });
    await until('all five', () => received.length >= 5);
    await call.publish({ topic: TOPIC, partition: 0, messages: [body('6')] });
    await until('the live one', () => received.length >= 6);
    expect(received).toEqual([1, 2, 3, 4, 5, 6]);
    await call.ack({ group: 'sub', topic: TOPIC, partition: 0, offsets: received });
    const ended = new Promise<number>((resolve) =>
      stream.on('status', (s: { code: number }) => resolve(s.code)),
    );
    stream.end();
    expect(await ended).toBe(status.OK);
  });

  const committed = (group: string, partition: number, offset: number) =>
    waitFor(`${group} committed ${offset} on ${partition}`, async () => {
      const lag = await call.getLag({ group, topic: TOPIC });
      return lag.partitions.find((p) => p.partition === partition)?.committedOffset === offset || undefined;
    });

  test('Subscribe with max_batch sends ready deliveries together, and acks on the stream move the committed offset', async () => {
    await call.publish({ topic: TOPIC, partition: 2, messages: ['1', '2', '3', '4', '5'].map(body) });
    const stream = running.clients.broker.Subscribe();
    const responses: SubscribeResponse[] = [];
    stream.on('data', (r: SubscribeResponse) => responses.push(r));
    stream.write({
      start: { group: 'batched', topic: TOPIC, partition: 2, credits: 4, ackTimeoutMs: 60_000, maxBatch: 3 },
    });
    await until('four deliveries', () => responses.flatMap((r) => r.deliveries).length >= 4);
    // Five ready, four credited, at most three to a response; nothing in the one-delivery field.
    expect(responses.map((r) => r.deliveries.map((d) => d.offset))).toEqual([[1, 2, 3], [4]]);
    expect(responses.every((r) => r.delivery === null)).toBe(true);

    stream.write({ ack: { offsets: [1, 2, 3] } });
    await committed('batched', 2, 3);
    // An ack of an offset never delivered to the group is refused on the stream, which goes on.
    stream.write({ ack: { offsets: [5] } });
    await until('the refusal', () => responses.some((r) => r.ackRefused));
    const refused = responses.find((r) => r.ackRefused)!.ackRefused!;
    expect(refused.offsets).toEqual([5]);
    expect(refused.status?.code).toBe(status.FAILED_PRECONDITION);
    expect(errorInfoOf(refused.status!)).toMatchObject({ reason: 'OFFSET_NOT_DELIVERED' });
    stream.write({ credits: 1 });
    await until('the fifth', () => responses.flatMap((r) => r.deliveries).length >= 5);
    stream.write({ ack: { offsets: [4, 5] } });
    await committed('batched', 2, 5);
    const ended = new Promise<number>((resolve) =>
      stream.on('status', (s: { code: number }) => resolve(s.code)),
    );
    stream.end();
    expect(await ended).toBe(status.OK);
  });

  test('an ack on a Subscribe stream before its start ends the stream with INVALID_REQUEST', async () => {
    const stream = running.clients.broker.Subscribe();
    stream.on('data', () => undefined);
    const ended = new Promise((_, reject) => stream.on('error', reject));
    stream.write({ ack: { offsets: [1] } });
    const f = await failure(ended);
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.info).toMatchObject({ reason: 'INVALID_REQUEST', metadata: { field: 'kind' } });
  });

  test('PublishStream answers every request by id, errors in-band, in order per partition', async () => {
    const stream = running.clients.broker.PublishStream();
    const responses: PublishStreamResponse[] = [];
    stream.on('data', (r: PublishStreamResponse) => responses.push(r));
    const ended = new Promise<number>((resolve) =>
      stream.on('status', (s: { code: number }) => resolve(s.code)),
    );
    stream.write({ requestId: 1, publish: { topic: TOPIC, partition: 0, messages: [body('a'), body('b')] } });
    stream.write({ requestId: 2, publish: { topic: 'nope', partition: 0, messages: [body('x')] } });
    stream.write({ requestId: 3, publish: { topic: TOPIC, partition: 0, messages: [body('c')] } });
    stream.end();
    expect(await ended).toBe(status.OK);
    const byId = new Map(responses.map((r) => [r.requestId, r]));
    expect(byId.get(1)?.ok?.results.map((x) => x.offset)).toEqual([1, 2]);
    expect(byId.get(3)?.ok?.results.map((x) => x.offset)).toEqual([3]);
    const error = byId.get(2)?.error;
    expect(error?.code).toBe(status.NOT_FOUND);
    expect(errorInfoOf(error!)).toMatchObject({ reason: 'TOPIC_NOT_FOUND', domain: 'herald.dev' });
    expect(await storedCount(database, TOPIC, 3)).toBe(3);
  });

  test('PublishStream answers every request even beyond what the broker reads at once', async () => {
    const stream = running.clients.broker.PublishStream();
    let answered = 0;
    stream.on('data', (r: PublishStreamResponse) => {
      if (r.ok) answered++;
    });
    const ended = new Promise<number>((resolve) =>
      stream.on('status', (s: { code: number }) => resolve(s.code)),
    );
    // More than the 1,024 unanswered requests after which the broker pauses reading.
    for (let i = 0; i < 2500; i++) {
      stream.write({ requestId: i, publish: { topic: TOPIC, partition: i % 3, messages: [body(`m${i}`)] } });
    }
    stream.end();
    expect(await ended).toBe(status.OK);
    expect(answered).toBe(2500);
    expect(await storedCount(database, TOPIC, 3)).toBe(2500);
  });

  test('a key always maps to the same partition (Kafka murmur2)', async () => {
    const r1 = await call.publish({ topic: TOPIC, key: 'customer-17', messages: [body('a')] });
    const r2 = await call.publish({ topic: TOPIC, key: 'customer-17', messages: [body('b')] });
    expect(r1.partition).toBe(r2.partition);
    const pulled = await pull('k', r1.partition);
    expect(pulled.messages.map((m) => m.key)).toEqual(['customer-17', 'customer-17']);
  });

  test('concurrent publishes are merged into few INSERTs, and one producer keeps its order', async () => {
    const before = await metricValue(running.broker.metricsAddress, 'herald_insert_batch_rows_count');
    // One producer pipelines 200 publishes without waiting for each answer.
    const sends = Array.from({ length: 200 }, (_, i) =>
      call.publish({ topic: TOPIC, partition: 2, messages: [body(String(i))] }),
    );
    const offsets = (await Promise.all(sends)).map((r) => r.results[0].offset);
    const after = await metricValue(running.broker.metricsAddress, 'herald_insert_batch_rows_count');
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(new Set(offsets).size).toBe(200);
    expect(after - (Number.isNaN(before) ? 0 : before)).toBeLessThan(200);
    const pulled = await pull('order', 2, { maxMessages: 1000 });
    expect(pulled.messages.map((m) => m.body.toString())).toEqual(
      Array.from({ length: 200 }, (_, i) => String(i)),
    );
  });

  test('metrics are served', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: [body('m')] });
    expect(await metricValue(running.broker.metricsAddress, 'herald_published_messages_total')).toBe(1);
    expect(await metricValue(running.broker.metricsAddress, 'herald_storage_up')).toBe(1);
  });

  describe('bad input gets its code and stores nothing', () => {
    const big = Buffer.alloc(1025);
    const cases: [string, () => Promise<unknown>, status, string][] = [
      [
        'unknown topic',
        () => call.publish({ topic: 'nope', partition: 0, messages: [body('x')] }),
        status.NOT_FOUND,
        'TOPIC_NOT_FOUND',
      ],
      [
        'empty topic name',
        () => call.publish({ topic: '', partition: 0, messages: [body('x')] }),
        status.INVALID_ARGUMENT,
        'INVALID_NAME',
      ],
      [
        'invalid topic name',
        () => call.publish({ topic: 'Bad_Name', messages: [body('x')] }),
        status.INVALID_ARGUMENT,
        'INVALID_NAME',
      ],
      [
        'partition out of range',
        () => call.publish({ topic: TOPIC, partition: 3, messages: [body('x')] }),
        status.INVALID_ARGUMENT,
        'PARTITION_OUT_OF_RANGE',
      ],
      [
        'empty batch',
        () => call.publish({ topic: TOPIC, partition: 0, messages: [] }),
        status.INVALID_ARGUMENT,
        'INVALID_REQUEST',
      ],
      [
        'one message over maxMessageBytes in a batch',
        () =>
          call.publish({ topic: TOPIC, partition: 0, messages: [body('fine'), { body: big }, body('fine')] }),
        status.INVALID_ARGUMENT,
        'MESSAGE_TOO_LARGE',
      ],
      [
        'too many messages in one request',
        () =>
          call.publish({
            topic: TOPIC,
            partition: 0,
            messages: Array.from({ length: 1001 }, () => body('x')),
          }),
        status.INVALID_ARGUMENT,
        'BATCH_TOO_LARGE',
      ],
      ['invalid group name', () => pull('Not A Group', 0), status.INVALID_ARGUMENT, 'INVALID_NAME'],
      [
        'pull from a partition out of range',
        () => pull('g', 7),
        status.INVALID_ARGUMENT,
        'PARTITION_OUT_OF_RANGE',
      ],
      [
        'ack of an offset never delivered',
        () => call.ack({ group: 'g', topic: TOPIC, partition: 0, offsets: [42] }),
        status.FAILED_PRECONDITION,
        'OFFSET_NOT_DELIVERED',
      ],
      [
        'nack of an offset never delivered',
        () => call.nack({ group: 'g', topic: TOPIC, partition: 0, offsets: [42] }),
        status.FAILED_PRECONDITION,
        'OFFSET_NOT_DELIVERED',
      ],
      [
        'lag of an unknown topic',
        () => call.getLag({ group: 'g', topic: 'nope' }),
        status.NOT_FOUND,
        'TOPIC_NOT_FOUND',
      ],
    ];
    test.each(cases)('%s', async (_name, run, code, reason) => {
      const f = await failure(run());
      expect(f.code).toBe(code);
      expect(f.info).toMatchObject({ reason, domain: 'herald.dev' });
      expect(await storedCount(database, TOPIC, 3)).toBe(0);
    });

    test("an ack of another group's offset is refused and changes nothing", async () => {
      await call.publish({ topic: TOPIC, partition: 0, messages: [body('x')] });
      await pull('owner-group', 0);
      const f = await failure(call.ack({ group: 'other-group', topic: TOPIC, partition: 0, offsets: [1] }));
      expect(f.info).toMatchObject({
        reason: 'OFFSET_NOT_DELIVERED',
        metadata: { offset: '1', group: 'other-group' },
      });
      expect((await pull('other-group', 0)).messages.map((m) => m.offset)).toEqual([1]);
    });
  });
});

describe('broker lifecycle', () => {
  test('offsets survive a broker restart', async () => {
    const database = testDatabase('restart');
    const options = brokerOptions(database, topics);
    const first = await runBroker(options);
    let call = api(first.clients);
    await call.publish({ topic: TOPIC, partition: 0, messages: ['1', '2', '3', '4', '5'].map(body) });
    await call.pull({ group: 'g', topic: TOPIC, partition: 0, maxMessages: 10 });
    await call.ack({ group: 'g', topic: TOPIC, partition: 0, offsets: [1, 2, 3] });
    await first.stop();

    const second = await runBroker(options);
    call = api(second.clients);
    const pulled = await call.pull({ group: 'g', topic: TOPIC, partition: 0, maxMessages: 10 });
    expect(pulled.messages.map((m) => m.offset)).toEqual([4, 5]);
    // New publishes continue after the stored offsets.
    expect(
      (await call.publish({ topic: TOPIC, partition: 0, messages: [body('6')] })).results[0].offset,
    ).toBe(6);
    await second.stop();
  });

  test('a partition this broker does not own is refused with the owner address', async () => {
    const database = testDatabase('owner');
    const elsewhere = (ref: PartitionRef) => ref.partition === 1;
    const running = await runBroker(brokerOptions(database, topics), {
      owner: (ref) => (elsewhere(ref) ? { owned: false, address: '10.1.2.3:7600' } : { owned: true }),
    });
    const call = api(running.clients);
    const f = await failure(call.publish({ topic: TOPIC, partition: 1, messages: [body('x')] }));
    expect(f.code).toBe(status.FAILED_PRECONDITION);
    expect(f.info).toMatchObject({
      reason: 'NOT_PARTITION_OWNER',
      metadata: { owner: '10.1.2.3:7600', partition: '1' },
    });
    const p = await failure(call.pull({ group: 'g', topic: TOPIC, partition: 1 }));
    expect(p.info?.reason).toBe('NOT_PARTITION_OWNER');
    expect(await storedCount(database, TOPIC, 3)).toBe(0);
    await running.stop();
  });

  test('a stale owner is fenced by storage: its write fails, stores nothing, and it catches up', async () => {
    const database = testDatabase('fence');
    const options = brokerOptions(database, topics);
    // Two brokers that both believe they own every partition (what a lease handover race looks like).
    const a = await runBroker(options);
    const b = await runBroker(options);
    const [callA, callB] = [api(a.clients), api(b.clients)];
    expect(
      (await callA.publish({ topic: TOPIC, partition: 0, messages: [body('from a')] })).results[0].offset,
    ).toBe(1);
    // b allocated offset 1 at start; its INSERT collides on the primary key.
    const fenced = await failure(
      callB.publish({ topic: TOPIC, partition: 0, messages: [body('from b'), body('b2')] }),
    );
    expect(fenced.code).toBe(status.ABORTED);
    expect(fenced.info?.reason).toBe('PARTITION_FENCED');
    expect(await storedCount(database, TOPIC, 3)).toBe(1);
    // b re-reads the end offset before its next write.
    expect(
      (await callB.publish({ topic: TOPIC, partition: 0, messages: [body('b again')] })).results[0].offset,
    ).toBe(2);
    const pulled = await callB.pull({ group: 'g', topic: TOPIC, partition: 0, maxMessages: 10 });
    expect(pulled.messages.map((m) => m.body.toString())).toEqual(['from a', 'b again']);
    await a.stop();
    await b.stop();
  });

  test('graceful shutdown answers every pending publish, and every acked one is stored', async () => {
    const database = testDatabase('shutdown');
    // Commits are held in a proxy in front of MariaDB, so publishes are still waiting in the broker
    // when it shuts down (a linger alone does not hold them: an idle committer commits at once).
    const { proxy, url } = await mysqlProxy(database);
    const running = await runBroker(brokerOptions(database, topics, { mysql: { url } }));
    const call = api(running.clients);
    proxy.hold();
    const sends = Array.from({ length: 300 }, (_, i) =>
      call.publish({ topic: TOPIC, partition: i % 3, messages: [body(`m${i}`)] }).then(
        () => 'ok' as const,
        (err: { code: status }) => err.code,
      ),
    );
    await waitFor(
      'publishes to wait in the broker',
      async () =>
        (await metricValue(running.broker.metricsAddress, 'herald_publish_pending_requests')) > 0
          ? true
          : undefined,
      { intervalMs: 5 },
    );
    const stopping = running.broker.shutdown();
    proxy.release();
    await stopping;
    const outcomes = await Promise.all(sends);
    const ok = outcomes.filter((o) => o === 'ok').length;
    // Every call got an answer; the ones refused were refused as UNAVAILABLE.
    expect(outcomes.every((o) => o === 'ok' || o === status.UNAVAILABLE)).toBe(true);
    expect(ok).toBeGreaterThan(0);
    expect(await storedCount(database, TOPIC, 3)).toBe(ok);
    running.clients.close();
    await proxy.stop();
  });
});
