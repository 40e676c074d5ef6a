// The delivery features of MySQL topics end to end, in-process against the real MariaDB:
// retries on a schedule ending in dead letters, the Admin dead-letter calls, ack timeouts,
// attempts across a restart, ordered mode, priority lanes and tag filters.
import { status } from '@grpc/grpc-js';
import type { RowDataPacket } from 'mysql2/promise';
import { startBroker } from '../../../broker/broker';
import type { BrokerOptionsInput } from '../../../common/broker-options';
import {
  api,
  body,
  brokerOptions,
  dropTestDatabases,
  failure,
  metricValue,
  runBroker,
  sql,
  testDatabase,
  testLogger,
} from './helpers';
import type { Running } from './helpers';
import { waitFor } from '../wait';

afterAll(dropTestDatabases);

const TOPIC = 'jobs';
const PRIO = 'urgent';
const topics = [
  { name: TOPIC, partitions: 2 },
  { name: PRIO, partitions: 1, priority: true },
];
const groups: BrokerOptionsInput['groups'] = {
  // Every retry at once; dead-lettered after the 2nd retry fails.
  dlq: { retry: { delaysMs: [0], maxRetries: 2 } },
  // Given up at the first failure.
  once: { retry: { delaysMs: [0], maxRetries: 0 } },
  // Given up at the first failure, and dropped.
  drop: { retry: { delaysMs: [0], maxRetries: 0 }, deadLetter: { enabled: false } },
  slow: { retry: { delaysMs: [200] }, ackTimeoutMs: 400 },
  ordered: { ordering: 'ordered', retry: { delaysMs: [300] } },
  red: { tagFilter: 'red || (blue && !old)' },
};

describe('delivery: retries, dead letters, ordering, priority, filters', () => {
  let database: string;
  let running: Running;
  let call: ReturnType<typeof api>;

  const start = async () => {
    running = await runBroker(brokerOptions(database, topics, { groups }));
    call = api(running.clients);
  };
  beforeEach(async () => {
    database = testDatabase('delivery');
    await start();
  });
  afterEach(async () => {
    await running.stop();
  });

  const pull = (
    group: string,
    extra: { topic?: string; partition?: number; maxMessages?: number; maxWaitMs?: number } = {},
  ) => call.pull({ group, topic: TOPIC, partition: 0, maxMessages: 100, maxWaitMs: 5000, ...extra });
  const nack = (group: string, offsets: number[], error = '', delayMs = 0) =>
    call.nack({ group, topic: TOPIC, partition: 0, offsets, error, delayMs });
  const filter = (group: string, extra: object = {}) => ({ filter: { topic: TOPIC, group, ...extra } });

  test('a message nacked again and again is dead-lettered after exactly maxRetries retries', async () => {
    await call.publish({
      topic: TOPIC,
      partition: 0,
      messages: [{ ...body('poison'), refKey: 'job-1', tags: ['x'] }],
    });
    const attempts: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const got = await pull('dlq');
      expect(got.messages.map((m) => m.offset)).toEqual([1]);
      attempts.push(got.messages[0].deliveryAttempt);
      await nack('dlq', [1], `failure ${i}`);
    }
    expect(attempts).toEqual([1, 2, 3]);
    expect((await pull('dlq', { maxWaitMs: 300 })).messages).toEqual([]);
    const listed = await call.listDeadLetters(filter('dlq'));
    expect(listed.nextPageToken).toBe('');
    expect(listed.deadLetters).toHaveLength(1);
    expect(listed.deadLetters[0]).toMatchObject({
      group: 'dlq',
      reason: 'max-retries',
      attempts: 3,
      lastError: 'failure 3',
      message: {
        topic: TOPIC,
        partition: 0,
        offset: 1,
        refKey: 'job-1',
        tags: ['x'],
        messageId: `${TOPIC}/0/1`,
      },
    });
    expect(listed.deadLetters[0].message!.body.toString()).toBe('poison');
    // It left the partition's order: the committed offset passed it.
    const lag = await call.getLag({ group: 'dlq', topic: TOPIC });
    expect(lag.partitions.find((p) => p.partition === 0)).toMatchObject({
      committedOffset: 1,
      lag: 0,
      inFlight: 0,
    });
    expect(await metricValue(running.broker.metricsAddress, 'herald_dead_lettered_total')).toBe(1);
    expect(await metricValue(running.broker.metricsAddress, 'herald_retries_scheduled_total')).toBe(2);
    // Its trace shows every attempt: events are written in batches, so wait for the last one.
    const expected = [
      'published',
      'stored',
      ...[1, 2, 3].flatMap((n) => [`delivered#${n}`, `nacked#${n}`, ...(n < 3 ? [`retried#${n}`] : [])]),
      'dead-lettered#3',
    ];
    const life = async () =>
      (await call.trace({ messageId: `${TOPIC}/0/1` })).events.map((e) =>
        e.attempt > 0 ? `${e.event}#${e.attempt}` : e.event,
      );
    await waitFor('the dead-lettered event in the trace', async () =>
      (await life()).includes('dead-lettered#3') ? true : undefined,
    );
    expect(await life()).toEqual(expected);
    const byRef = await call.trace({ refKey: 'job-1', topic: TOPIC });
    expect(byRef.events.filter((e) => e.event === 'nacked').map((e) => e.detail.error)).toEqual([
      'failure 1',
      'failure 2',
      'failure 3',
    ]);
  });

  test('Nack error texts are kept up to 4 KiB', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: [body('x')] });
    await pull('once');
    await nack('once', [1], 'é'.repeat(3000));
    const [letter] = (await call.listDeadLetters(filter('once'))).deadLetters;
    expect(Buffer.byteLength(letter.lastError)).toBe(4096);
    expect(letter.lastError).toBe('é'.repeat(2048));
  });

  test('without dead letters a given-up message is dropped and counted', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: [body('x')] });
    await pull('drop');
    await nack('drop', [1], 'nope');
    expect((await call.listDeadLetters(filter('drop'))).deadLetters).toEqual([]);
    expect(await metricValue(running.broker.metricsAddress, 'herald_dropped_messages_total')).toBe(1);
    expect((await call.getLag({ group: 'drop', topic: TOPIC })).partitions[0]).toMatchObject({ lag: 0 });
  });

  test('dead letters page newest first and filter by ids and time; bad filters are refused', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: ['a', 'b', 'c', 'd', 'e'].map(body) });
    await pull('once');
    await nack('once', [1, 2, 3, 4, 5], 'bad');
    const first = await call.listDeadLetters({ ...filter('once'), pageSize: 2 });
    expect(first.deadLetters.map((l) => l.message!.offset)).toEqual([5, 4]);
    const second = await call.listDeadLetters({
      ...filter('once'),
      pageSize: 2,
      pageToken: first.nextPageToken,
    });
    expect(second.deadLetters.map((l) => l.message!.offset)).toEqual([3, 2]);
    const third = await call.listDeadLetters({
      ...filter('once'),
      pageSize: 2,
      pageToken: second.nextPageToken,
    });
    expect(third.deadLetters.map((l) => l.message!.offset)).toEqual([1]);
    expect(third.nextPageToken).toBe('');
    const ids = [first.deadLetters[1].id, third.deadLetters[0].id];
    expect(
      (await call.listDeadLetters(filter('once', { ids }))).deadLetters.map((l) => l.message!.offset),
    ).toEqual([4, 1]);
    const deadAt = Number(first.deadLetters[0].deadAtMs);
    expect((await call.listDeadLetters(filter('once', { sinceMs: deadAt + 60_000 }))).deadLetters).toEqual(
      [],
    );
    expect((await call.listDeadLetters(filter('once', { untilMs: deadAt - 60_000 }))).deadLetters).toEqual(
      [],
    );
    expect((await call.listDeadLetters(filter('other'))).deadLetters).toEqual([]);

    const bad = [
      [call.listDeadLetters({ ...filter('once'), pageToken: 'nonsense' }), 'page_token'],
      [call.listDeadLetters({ ...filter('once'), pageSize: 5000 }), 'page_size'],
      [call.listDeadLetters(filter('once', { sinceMs: 10, untilMs: 5 })), 'filter.since_ms'],
      [call.listDeadLetters({ filter: { topic: TOPIC, group: '' } }), 'filter.group'],
      [call.replayDeadLetters({}), 'filter'],
      [call.purgeDeadLetters({ filter: { topic: 'Bad', group: 'once' } }), 'filter.topic'],
    ] as const;
    for (const [p, field] of bad) {
      const f = await failure(p);
      expect(f.code).toBe(status.INVALID_ARGUMENT);
      expect(f.info?.metadata.field).toBe(field);
    }
  });

  test('a replay delivers dead letters again with a fresh budget; a purge deletes them', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: ['a', 'b'].map(body) });
    await pull('once');
    await nack('once', [1, 2], 'bad');
    // An open cursor with nothing to do (its idle re-read is seconds away) is woken by the replay.
    expect((await pull('once', { maxWaitMs: 100 })).messages).toEqual([]);
    const [newest] = (await call.listDeadLetters(filter('once'))).deadLetters;
    const waiting = pull('once', { maxWaitMs: 2000 });
    expect(await call.replayDeadLetters(filter('once', { ids: [newest.id] }))).toEqual({ replayed: 1 });
    const again = await waiting;
    expect(again.messages.map((m) => [m.offset, m.deliveryAttempt, m.body.toString()])).toEqual([
      [2, 1, 'b'],
    ]);
    expect((await call.listDeadLetters(filter('once'))).deadLetters.map((l) => l.message!.offset)).toEqual([
      1,
    ]);
    await call.ack({ group: 'once', topic: TOPIC, partition: 0, offsets: [2] });
    const rows = await sql<RowDataPacket>(database, 'SELECT COUNT(*) AS n FROM resends');
    expect(Number(rows[0].n)).toBe(0);
    expect(await call.purgeDeadLetters(filter('once'))).toEqual({ purged: 1 });
    expect((await call.listDeadLetters(filter('once'))).deadLetters).toEqual([]);
    expect(await call.replayDeadLetters(filter('once'))).toEqual({ replayed: 0 });
  });

  test('an ack timeout schedules a retry, and its attempt number survives a broker restart', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: [body('slow')] });
    expect((await pull('slow')).messages.map((m) => m.deliveryAttempt)).toEqual([1]);
    // Not acked: after the 400 ms ack timeout and the 200 ms retry delay it comes back.
    const retried = await pull('slow');
    expect(retried.messages.map((m) => [m.offset, m.deliveryAttempt])).toEqual([[1, 2]]);
    const [row] = await sql<RowDataPacket>(
      database,
      'SELECT msg_offset, attempts FROM resends WHERE group_name = ?',
      ['slow'],
    );
    expect({ offset: Number(row.msg_offset), attempts: Number(row.attempts) }).toEqual({
      offset: 1,
      attempts: 2,
    });
    // The committed offset already passed it (it lives in the resend schedule now).
    expect(await call.ack({ group: 'slow', topic: TOPIC, partition: 0, offsets: [] })).toEqual({
      committedOffset: 1,
    });
    await running.stop();
    await start();
    const afterRestart = await pull('slow', { maxWaitMs: 10_000 });
    expect(afterRestart.messages.map((m) => [m.offset, m.deliveryAttempt])).toEqual([[1, 3]]);
    await call.ack({ group: 'slow', topic: TOPIC, partition: 0, offsets: [1] });
    expect((await pull('slow', { maxWaitMs: 1000 })).messages).toEqual([]);
  });

  test('ordered mode: a nacked message blocks later ones until it is acked', async () => {
    await call.publish({ topic: TOPIC, partition: 0, messages: ['1', '2', '3'].map(body) });
    expect((await pull('ordered', { maxMessages: 1 })).messages.map((m) => m.offset)).toEqual([1]);
    // Timed from before the Nack: the broker schedules the retry when it takes the Nack, which
    // may be well before its answer reaches us.
    const started = Date.now();
    await nack('ordered', [1], 'not yet');
    // Nothing later comes while 1 waits for its retry, nor with it.
    const retried = await pull('ordered', { maxWaitMs: 5000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(retried.messages.map((m) => [m.offset, m.deliveryAttempt])).toEqual([[1, 2]]);
    expect((await pull('ordered', { maxWaitMs: 200 })).messages).toEqual([]);
    await call.ack({ group: 'ordered', topic: TOPIC, partition: 0, offsets: [1] });
    expect((await pull('ordered')).messages.map((m) => m.offset)).toEqual([2, 3]);
  });

  test('priority messages come first; the committed offset covers both lanes', async () => {
    await call.publish({ topic: PRIO, partition: 0, messages: ['n1', 'n2'].map(body) });
    await call.publish({
      topic: PRIO,
      partition: 0,
      messages: [{ ...body('p3'), priority: true }, body('n4')],
    });
    const got = await pull('any', { topic: PRIO, maxMessages: 10 });
    expect(got.messages.map((m) => [m.offset, m.priority, m.body.toString()])).toEqual([
      [3, true, 'p3'],
      [1, false, 'n1'],
      [2, false, 'n2'],
      [4, false, 'n4'],
    ]);
    const ack = (offsets: number[]) => call.ack({ group: 'any', topic: PRIO, partition: 0, offsets });
    expect(await ack([3])).toEqual({ committedOffset: 0 });
    expect(await ack([1, 2])).toEqual({ committedOffset: 3 });
    expect(await ack([4])).toEqual({ committedOffset: 4 });
    // Behind the tail cache too: a new group reads the priority lane from the store first.
    const fresh = await pull('fresh', { topic: PRIO, maxMessages: 2 });
    expect(fresh.messages.map((m) => m.offset)).toEqual([3, 1]);
    const f = await failure(
      call.publish({ topic: TOPIC, partition: 0, messages: [body('a'), { ...body('b'), priority: true }] }),
    );
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.info).toMatchObject({ reason: 'INVALID_REQUEST', metadata: { field: 'messages[1].priority' } });
  });

  test('a priority lane survives a restart: the end offset is the max over both lanes', async () => {
    await call.publish({
      topic: PRIO,
      partition: 0,
      messages: [body('n1'), { ...body('p2'), priority: true }],
    });
    await running.stop();
    await start();
    expect(await call.publish({ topic: PRIO, partition: 0, messages: [body('n3')] })).toMatchObject({
      results: [{ offset: 3 }],
    });
    const got = await pull('g', { topic: PRIO, maxMessages: 10 });
    expect(got.messages.map((m) => m.offset)).toEqual([2, 1, 3]);
  });

  test('a tag filter delivers only matching messages, and the committed offset reaches the end', async () => {
    const tagged = (text: string, tags: string[]) => ({ ...body(text), tags });
    await call.publish({
      topic: TOPIC,
      partition: 1,
      messages: [
        tagged('1', ['red']),
        tagged('2', ['blue', 'old']),
        tagged('3', []),
        tagged('4', ['blue']),
        tagged('5', ['green']),
      ],
    });
    const got = await pull('red', { partition: 1 });
    expect(got.messages.map((m) => m.body.toString())).toEqual(['1', '4']);
    await call.ack({ group: 'red', topic: TOPIC, partition: 1, offsets: [1, 4] });
    const lag = (await call.getLag({ group: 'red', topic: TOPIC })).partitions.find((p) => p.partition === 1);
    expect(lag).toMatchObject({ endOffset: 5, committedOffset: 5, lag: 0 });
    expect(await metricValue(running.broker.metricsAddress, 'herald_filtered_messages_total')).toBe(3);
    const f = await failure(
      call.publish({ topic: TOPIC, partition: 1, messages: [tagged('x', ['ok', 'not ok'])] }),
    );
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.info?.metadata.field).toBe('messages[0].tags[1]');
  });

  test('a group with a tag filter that does not parse is refused at startup, naming the field', async () => {
    const err = await startBroker(
      brokerOptions(database, topics, { groups: { broken: { tagFilter: 'red || (blue' } } }),
      testLogger,
    ).then(
      () => undefined,
      (e: unknown) => e as Error & { field?: string },
    );
    expect(err?.field).toBe('groups.broken.tagFilter');
    expect(err?.message).toContain('expected ")" to close the "(" at position 7');
  });
});
