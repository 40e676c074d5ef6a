// Message tracing end to end, in-process against the real MariaDB: Publish records
// "published" (with the producer's address) and "stored" through the batched TraceWriter, and
// Admin Trace finds them by ref key and by message id; bad queries name their field; a broker
// with tracing off records nothing.
import { status } from '@grpc/grpc-js';
import type { RowDataPacket } from 'mysql2/promise';
import type { TraceRequest__Input } from '../../../proto/gen/herald/v1/TraceRequest';
import { waitFor } from '../wait';
import {
  api,
  body,
  brokerOptions,
  dropTestDatabases,
  failure,
  metricValue,
  proxiedBrokerOptions,
  runBroker,
  sql,
  testDatabase,
} from './helpers';
import type { Running } from './helpers';

afterAll(dropTestDatabases);

const TOPIC = 'traced';
const topics = [{ name: TOPIC, partitions: 2 }];

const traceOf = (running: Running) => api(running.clients).trace;

describe('tracing', () => {
  let database: string;
  let running: Running;

  beforeEach(async () => {
    database = testDatabase('trace');
    running = await runBroker(brokerOptions(database, topics, { trace: { flushIntervalMs: 20 } }));
  });
  afterEach(() => running.stop());

  test('published and stored events, by ref key and by message id, with the producer address', async () => {
    const trace = traceOf(running);
    const published = await api(running.clients).publish({
      topic: TOPIC,
      partition: 1,
      messages: [
        { ...body('a'), refKey: 'order-7' },
        { ...body('b'), refKey: 'order-8' },
        { ...body('c'), refKey: 'order-7' },
      ],
    });
    expect(published.results.map((r) => r.messageId)).toEqual([
      `${TOPIC}/1/1`,
      `${TOPIC}/1/2`,
      `${TOPIC}/1/3`,
    ]);
    const byRef = await waitFor('four events of order-7', async () => {
      const r = await trace({ refKey: 'order-7', topic: TOPIC });
      return r.events.length >= 4 ? r.events : undefined;
    });
    expect(byRef.map((e) => [e.event, e.messageId, Number(e.offset)])).toEqual(
      expect.arrayContaining([
        ['published', `${TOPIC}/1/1`, 1],
        ['stored', `${TOPIC}/1/1`, 1],
        ['published', `${TOPIC}/1/3`, 3],
        ['stored', `${TOPIC}/1/3`, 3],
      ]),
    );
    expect(byRef).toHaveLength(4);
    const times = byRef.map((e) => Number(e.atMs));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    for (const e of byRef) {
      expect(e).toMatchObject({
        topic: TOPIC,
        partition: 1,
        refKey: 'order-7',
        broker: running.broker.address,
      });
      if (e.event === 'published') expect(e.detail.producer).toMatch(/127\.0\.0\.1:\d+$/);
    }

    const byId = await trace({ messageId: `${TOPIC}/1/2` });
    expect(byId.events.map((e) => [e.event, e.refKey])).toEqual([
      ['published', 'order-8'],
      ['stored', 'order-8'],
    ]);
    // A non-canonical id finds the same message; a limit cuts the list.
    expect((await trace({ messageId: `${TOPIC}/01/002`, limit: 1 })).events.map((e) => e.event)).toEqual([
      'published',
    ]);
    expect((await trace({ messageId: `${TOPIC}/1/99` })).events).toEqual([]);
    expect(await metricValue(running.broker.metricsAddress, 'herald_trace_events_written_total')).toBe(3); // one row per message
    expect(await metricValue(running.broker.metricsAddress, 'herald_trace_events_dropped_total')).toBe(0);
  });

  test('bad queries are INVALID_REQUEST naming the field', async () => {
    const trace = traceOf(running);
    const cases: [TraceRequest__Input, string][] = [
      [{ refKey: 'order-1' }, 'topic'],
      [{ refKey: '', topic: TOPIC }, 'ref_key'],
      [{ messageId: 'no-slashes' }, 'message_id'],
      [{ topic: TOPIC }, 'query'],
      [{ messageId: `${TOPIC}/0/1`, limit: 10_001 }, 'limit'],
    ];
    for (const [request, field] of cases) {
      const f = await failure(trace(request));
      expect([request, f.code, f.info?.reason, f.info?.metadata.field]).toEqual([
        request,
        status.INVALID_ARGUMENT,
        'INVALID_REQUEST',
        field,
      ]);
    }
    expect((await failure(trace({ refKey: 'x', topic: 'Bad_Name' }))).info?.reason).toBe('INVALID_NAME');
  });
});

test('a broker with tracing off records nothing', async () => {
  const database = testDatabase('trace-off');
  const running = await runBroker(brokerOptions(database, topics, { trace: { enabled: false } }));
  await api(running.clients).publish({
    topic: TOPIC,
    partition: 0,
    messages: [{ ...body('x'), refKey: 'k' }],
  });
  // Shutdown writes every buffered event, so none may exist afterwards.
  await running.stop();
  const rows = await sql<RowDataPacket>(database, 'SELECT COUNT(*) AS n FROM trace_events');
  expect(Number(rows[0].n)).toBe(0);
});

test('with tracing on, shutdown writes what is still buffered', async () => {
  const database = testDatabase('trace-flush');
  const running = await runBroker(brokerOptions(database, topics, { trace: { flushIntervalMs: 600_000 } }));
  await api(running.clients).publish({
    topic: TOPIC,
    partition: 0,
    messages: [{ ...body('x'), refKey: 'k' }],
  });
  await running.stop();
  // One row per message: "published" is shown from the stored row's arrival time and producer.
  const rows = await sql<RowDataPacket>(database, 'SELECT event, detail FROM trace_events ORDER BY id');
  expect(rows.map((r) => r.event as string)).toEqual(['stored']);
  const detail = JSON.parse(rows[0].detail as string) as Record<string, string>;
  expect(detail.producer).toMatch(/:\d+$/);
});

test('MySQL down: buffered events are dropped and counted, Admin calls fail as UNAVAILABLE', async () => {
  const database = testDatabase('trace-outage');
  const { options, proxy } = await proxiedBrokerOptions(database, topics, {
    trace: { flushIntervalMs: 3000 },
  });
  const running = await runBroker(options);
  const call = api(running.clients);
  try {
    // Stored, but its trace event waits in the buffer for the next flush: then the store goes.
    await call.publish({ topic: TOPIC, partition: 0, messages: [{ ...body('x'), refKey: 'lost' }] });
    await proxy.stop();
    await waitFor(
      'the buffered event to be dropped',
      async () =>
        (await metricValue(running.broker.metricsAddress, 'herald_trace_events_dropped_total')) === 1
          ? true
          : undefined,
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    for (const f of [
      await failure(call.trace({ topic: TOPIC, refKey: 'lost' })),
      await failure(call.resetOffsets({ group: 'g', topic: TOPIC, latest: true })),
    ]) {
      expect([f.code, f.info?.reason]).toEqual([status.UNAVAILABLE, 'STORAGE_UNAVAILABLE']);
    }
    await proxy.start();
    await waitFor('tracing to work again', async () => {
      await call.publish({ topic: TOPIC, partition: 0, messages: [{ ...body('y'), refKey: 'back' }] });
      const r = await call.trace({ topic: TOPIC, refKey: 'back' });
      return r.events.length > 0 ? true : undefined;
    });
    expect((await call.trace({ topic: TOPIC, refKey: 'lost' })).events).toEqual([]);
  } finally {
    await running.stop();
    await proxy.stop();
  }
});
