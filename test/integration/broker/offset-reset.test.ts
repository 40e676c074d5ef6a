// Admin ResetOffsets end to end against the real MariaDB: to a time, earliest, latest and an
// explicit offset, while a consumer is connected (long-polling or subscribed); bad targets and
// unknown topics; the "offsets-reset" trace event; and the command log carrying a reset served
// by one broker to the broker that owns the partition. Admin Peek, served by the broker that
// does not own the partition, by offset and by time, and its refusals.
import { status } from '@grpc/grpc-js';
import type { Owner, Ownership } from '../../../broker/ownership';
import type { ResetOffsetsRequest__Input } from '../../../proto/gen/herald/v1/ResetOffsetsRequest';
import type { PartitionRef } from '../../../storage/storage';
import type { Clients, Running } from './helpers';
import type { RowDataPacket } from 'mysql2/promise';
import { waitFor } from '../wait';
import {
  api,
  body,
  brokerOptions,
  dropTestDatabases,
  failure,
  runBroker,
  sql,
  testDatabase,
  until,
} from './helpers';

afterAll(dropTestDatabases);

const TOPIC = 'resets';
const topics = [{ name: TOPIC, partitions: 2 }];
const fast = { commands: { pollIntervalMs: 50 }, trace: { flushIntervalMs: 20 } };

function admin(c: Clients) {
  const { resetOffsets: reset, trace } = api(c);
  return { reset, trace };
}

/** Publishes one message at a time so each has its own publish time; returns the times. */
async function publishSpaced(c: Clients, partition: number, n: number): Promise<number[]> {
  const call = api(c);
  const times: number[] = [];
  for (let i = 1; i <= n; i++) {
    // The next publish time must be later than the last one.
    const last = times[times.length - 1] ?? 0;
    await until('the clock to move on', () => Date.now() > last);
    await call.publish({ topic: TOPIC, partition, messages: [body(`m${i}`)] });
    const read = await call.pull({ group: 'times', topic: TOPIC, partition, maxMessages: 100, maxWaitMs: 0 });
    for (const m of read.messages) times.push(Number(m.publishTimeMs));
  }
  return times;
}

/**
 * Pulls and acks everything the group has on the partition, and waits until the owner has
 * stored the committed offset (ResetOffsets reports the stored one as previous_offset).
 */
async function consumeAll(c: Clients, database: string, group: string, partition: number): Promise<number[]> {
  const call = api(c);
  const got = await call.pull({ group, topic: TOPIC, partition, maxMessages: 100, maxWaitMs: 0 });
  const offsets = got.messages.map((m) => Number(m.offset));
  if (offsets.length === 0) return offsets;
  const { committedOffset } = await call.ack({ group, topic: TOPIC, partition, offsets });
  await waitFor('the committed offset to be stored', async () => {
    const rows = await sql<RowDataPacket>(
      database,
      'SELECT committed_offset FROM consumer_offsets WHERE group_name = ? AND topic = ? AND partition_id = ?',
      [group, TOPIC, partition],
    );
    return Number(rows[0]?.committed_offset) === Number(committedOffset) ? true : undefined;
  });
  return offsets;
}

/** Long polls until a message arrives; returns the offsets of the first non-empty answer. */
async function nextDelivered(
  c: Clients,
  group: string,
  partition: number,
  timeoutMs = 10_000,
): Promise<number[]> {
  const call = api(c);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await call.pull({ group, topic: TOPIC, partition, maxMessages: 100, maxWaitMs: 1000 });
    if (r.messages.length > 0) return r.messages.map((m) => Number(m.offset));
  }
  throw new Error(`nothing delivered to ${group} within ${timeoutMs} ms`);
}

/** Waits until the owner applied a reset: its cursor holds the new offset and nothing in flight. */
async function applied(c: Clients, group: string, partition: number, committed: number): Promise<void> {
  await waitFor(
    `the reset of ${group} to ${committed}`,
    async () => {
      const lag = await api(c).getLag({ group, topic: TOPIC });
      const p = lag.partitions.find((x) => x.partition === partition);
      return Number(p?.committedOffset) === committed && p?.inFlight === 0 ? true : undefined;
    },
    { timeoutMs: 5000, intervalMs: 20 },
  );
}

describe('ResetOffsets on one broker', () => {
  let running: Running;
  let database: string;

  beforeEach(async () => {
    database = testDatabase('reset');
    running = await runBroker(brokerOptions(database, topics, fast));
  });
  afterEach(() => running.stop());

  test('to a timestamp while a consumer long-polls: delivery resumes at the first message at or after it', async () => {
    const times = await publishSpaced(running.clients, 0, 5);
    expect(await consumeAll(running.clients, database, 'g', 0)).toEqual([1, 2, 3, 4, 5]);
    // The consumer waits for more; the reset lands meanwhile.
    const waiting = nextDelivered(running.clients, 'g', 0);
    const res = await admin(running.clients).reset({
      group: 'g',
      topic: TOPIC,
      partitions: [0],
      timestampMs: times[2],
    });
    expect(res.partitions).toEqual([{ partition: 0, previousOffset: 5, committedOffset: 2 }]);
    const started = Date.now();
    expect(await waiting).toEqual([3, 4, 5]);
    expect(Date.now() - started).toBeLessThan(5000);

    // The reset is in the trace of the message delivery resumed at.
    const events = await admin(running.clients).trace({ messageId: `${TOPIC}/0/3` });
    expect(events.events.find((e) => e.event === 'offsets-reset')).toMatchObject({
      group: 'g',
      partition: 0,
      detail: { previous_offset: '5', committed_offset: '2' },
    });
  });

  test('a subscribed consumer continues from the new position', async () => {
    await publishSpaced(running.clients, 1, 4);
    const stream = running.clients.broker.Subscribe();
    const received: number[] = [];
    stream.on('data', (r: { delivery?: { offset: number } | null }) =>
      received.push(Number(r.delivery!.offset)),
    );
    stream.on('error', () => undefined);
    stream.write({ start: { group: 's', topic: TOPIC, partition: 1, credits: 100, ackTimeoutMs: 60_000 } });
    await until('four deliveries', () => received.length >= 4);
    await api(running.clients).ack({ group: 's', topic: TOPIC, partition: 1, offsets: [1, 2, 3, 4] });
    await admin(running.clients).reset({ group: 's', topic: TOPIC, partitions: [1], offset: 1 });
    await until('redelivery from offset 2', () => received.length >= 7, 5000);
    expect(received).toEqual([1, 2, 3, 4, 2, 3, 4]);
    stream.end();
  });

  test('earliest, latest and an explicit offset, on chosen or all partitions', async () => {
    const call = admin(running.clients);
    await publishSpaced(running.clients, 0, 3);
    await publishSpaced(running.clients, 1, 2);
    expect(await consumeAll(running.clients, database, 'e', 0)).toEqual([1, 2, 3]);

    expect((await call.reset({ group: 'e', topic: TOPIC, earliest: true })).partitions).toEqual([
      { partition: 0, previousOffset: 3, committedOffset: 0 },
      { partition: 1, previousOffset: 0, committedOffset: 0 },
    ]);
    await applied(running.clients, 'e', 0, 0);
    expect(await nextDelivered(running.clients, 'e', 0)).toEqual([1, 2, 3]);

    expect(
      (await call.reset({ group: 'e', topic: TOPIC, partitions: [0], latest: true })).partitions,
    ).toEqual([{ partition: 0, previousOffset: 0, committedOffset: 3 }]);
    await applied(running.clients, 'e', 0, 3);
    await api(running.clients).publish({ topic: TOPIC, partition: 0, messages: [body('new')] });
    expect(await nextDelivered(running.clients, 'e', 0)).toEqual([4]);

    expect((await call.reset({ group: 'e', topic: TOPIC, partitions: [0], offset: 2 })).partitions).toEqual([
      { partition: 0, previousOffset: 3, committedOffset: 2 },
    ]);
    await applied(running.clients, 'e', 0, 2);
    expect(await nextDelivered(running.clients, 'e', 0)).toEqual([3, 4]);
  });

  test('a time after every message is the end; an empty partition resets to 0', async () => {
    const call = admin(running.clients);
    await publishSpaced(running.clients, 0, 2);
    const r = await call.reset({ group: 't', topic: TOPIC, timestampMs: Date.now() + 60_000 });
    expect(r.partitions).toEqual([
      { partition: 0, previousOffset: 0, committedOffset: 2 },
      { partition: 1, previousOffset: 0, committedOffset: 0 },
    ]);
  });

  test('bad targets, partitions, groups and topics are refused and change nothing', async () => {
    const call = admin(running.clients);
    await publishSpaced(running.clients, 0, 2);
    await consumeAll(running.clients, database, 'bad', 0);
    const cases: [ResetOffsetsRequest__Input, status, string, string | undefined][] = [
      [{ group: 'bad', topic: TOPIC, partitions: [0] }, status.INVALID_ARGUMENT, 'INVALID_REQUEST', 'target'],
      [{ group: 'bad', topic: TOPIC, offset: 3 }, status.INVALID_ARGUMENT, 'INVALID_REQUEST', 'offset'],
      [
        { group: 'bad', topic: TOPIC, partitions: [2], earliest: true },
        status.INVALID_ARGUMENT,
        'PARTITION_OUT_OF_RANGE',
        'partitions',
      ],
      [{ group: 'bad', topic: 'missing', earliest: true }, status.NOT_FOUND, 'TOPIC_NOT_FOUND', undefined],
      [{ group: '', topic: TOPIC, earliest: true }, status.INVALID_ARGUMENT, 'INVALID_NAME', 'group'],
    ];
    for (const [request, code, reason, field] of cases) {
      const f = await failure(call.reset(request));
      expect([request, f.code, f.info?.reason, f.info?.metadata.field]).toEqual([
        request,
        code,
        reason,
        field,
      ]);
    }
    // Nothing was written: not partition 1 (valid for the offset-3 reset), no command, no event.
    const offsets = await sql<RowDataPacket>(
      database,
      'SELECT partition_id, committed_offset FROM consumer_offsets WHERE group_name = ? ORDER BY partition_id',
      ['bad'],
    );
    expect(offsets.map((r) => [Number(r.partition_id), Number(r.committed_offset)])).toEqual([[0, 2]]);
    expect(await sql(database, 'SELECT id FROM commands')).toEqual([]);
    expect(await sql(database, "SELECT id FROM trace_events WHERE event = 'offsets-reset'")).toEqual([]);
  });
});

/** Owns only the listed partitions; the others belong to `other`. */
class Split implements Ownership {
  constructor(private readonly mine: number[]) {}
  owner(ref: PartitionRef): Owner {
    return this.mine.includes(ref.partition) ? { owned: true } : { owned: false };
  }
}

test('a reset served by a broker that does not own the partition applies at the owner', async () => {
  const database = testDatabase('reset-two');
  const a = await runBroker(brokerOptions(database, topics, fast), new Split([0]));
  const b = await runBroker(brokerOptions(database, topics, fast), new Split([1]));
  try {
    await publishSpaced(b.clients, 1, 4);
    expect(await consumeAll(b.clients, database, 'two', 1)).toEqual([1, 2, 3, 4]);
    // B's position is in memory (and stored by its committer): only the command log moves it.
    const waiting = nextDelivered(b.clients, 'two', 1);
    const res = await admin(a.clients).reset({ group: 'two', topic: TOPIC, partitions: [1], offset: 2 });
    expect(res.partitions).toEqual([{ partition: 1, previousOffset: 4, committedOffset: 2 }]);
    expect(await waiting).toEqual([3, 4]);
    // Either broker answers Trace for any partition.
    const trace = await admin(a.clients).trace({ messageId: `${TOPIC}/1/3` });
    expect(trace.events.map((e) => e.event)).toContain('offsets-reset');
    expect(trace.events.map((e) => e.event)).toEqual(expect.arrayContaining(['published', 'stored']));

    // Peek, like Trace, is answered by a broker that does not own the partition.
    const peek = api(a.clients).peek;
    const page = await peek({ topic: TOPIC, partition: 1, offset: 2, limit: 2 });
    expect(page.messages.map((m) => [Number(m.offset), m.body.toString(), m.deliveryAttempt])).toEqual([
      [2, 'm2', 0],
      [3, 'm3', 0],
    ]);
    expect(page).toMatchObject({
      firstOffset: 1,
      endOffset: 4,
      startOffset: 2,
      nextOffset: 4,
      startMoved: false,
    });
    const times = page.messages.map((m) => Number(m.publishTimeMs));
    const byTime = await peek({ topic: TOPIC, partition: 1, timestampMs: times[1] });
    expect(byTime.messages.map((m) => Number(m.offset))).toEqual([3, 4]);
    for (const [request, code, reason, field] of [
      [{ topic: 'missing', partition: 0 }, status.NOT_FOUND, 'TOPIC_NOT_FOUND', undefined],
      [{ topic: TOPIC, partition: 2 }, status.INVALID_ARGUMENT, 'PARTITION_OUT_OF_RANGE', 'partition'],
      [{ topic: TOPIC, partition: 1, limit: 101 }, status.INVALID_ARGUMENT, 'INVALID_REQUEST', 'limit'],
    ] as const) {
      const f = await failure(peek(request));
      expect([f.code, f.info?.reason, f.info?.metadata.field]).toEqual([code, reason, field]);
    }
  } finally {
    await a.stop();
    await b.stop();
  }
});
