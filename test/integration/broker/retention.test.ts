// Time retention end to end: the owner's maintenance loop drops whole table partitions
// (segments) whose messages are older than the topic's retention, keeps the segment holding
// the end offset, and consumers behind a dropped segment continue from the first retained
// offset.
import type { RowDataPacket } from 'mysql2/promise';
import { waitFor } from '../wait';
import {
  api,
  body,
  brokerOptions,
  dropTestDatabases,
  metricValue,
  runBroker,
  sql,
  testDatabase,
} from './helpers';

afterAll(dropTestDatabases);

async function segments(database: string, table: string): Promise<string[]> {
  const rows = await sql<RowDataPacket>(
    database,
    `SELECT PARTITION_NAME AS name FROM information_schema.PARTITIONS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY PARTITION_ORDINAL_POSITION`,
    [database, table],
  );
  return rows.map((r) => String(r.name));
}

test('retention drops expired segments and consumers skip to the first retained offset', async () => {
  const database = testDatabase('retention');
  // One second of retention, segments of 10 offsets, maintenance every 200 ms.
  const running = await runBroker(
    brokerOptions(database, [{ name: 'logs', partitions: 1, retentionHours: 1 / 3600 }], {
      retention: { segmentMessages: 10, intervalMs: 200 },
    }),
  );
  try {
    const call = api(running.clients);
    // Each table is created with two empty segments ahead, so no DDL runs under a commit.
    for (const table of ['m_logs_0', 'p_logs_0'])
      expect(await segments(database, table)).toEqual(['p1_10', 'p11_20', 'p_max']);
    await call.publish({ topic: 'logs', messages: Array.from({ length: 5 }, (_, i) => body(`a${i + 1}`)) });
    const first = await call.pull({ group: 'g', topic: 'logs', partition: 0, maxMessages: 5, maxWaitMs: 0 });
    await call.ack({ group: 'g', topic: 'logs', partition: 0, offsets: first.messages.map((m) => m.offset) });
    await call.publish({ topic: 'logs', messages: Array.from({ length: 20 }, (_, i) => body(`b${i + 6}`)) });
    // 1..10 and 11..20 expire; 21..30 holds the end offset (25) and stays.
    const left = await waitFor(
      'expired segments dropped',
      async () => {
        const names = await segments(database, 'm_logs_0');
        return names.includes('p1_10') || names.includes('p11_20') ? undefined : names;
      },
      { timeoutMs: 10_000 },
    );
    expect(left[0]).toBe('p21_30');
    expect(left[left.length - 1]).toBe('p_max');
    expect(await metricValue(running.broker.metricsAddress, 'herald_retention_dropped_segments_total')).toBe(
      2,
    );
    // Group g committed 5: it continues at 21, the first retained offset.
    const next = await call.pull({ group: 'g', topic: 'logs', partition: 0, maxMessages: 100, maxWaitMs: 0 });
    expect(next.messages.map((m) => Number(m.offset))).toEqual([21, 22, 23, 24, 25]);
    await call.ack({ group: 'g', topic: 'logs', partition: 0, offsets: next.messages.map((m) => m.offset) });
    // A new group starts at the first retained message too, and publishing continues.
    const fresh = await call.pull({ group: 'h', topic: 'logs', partition: 0, maxMessages: 1, maxWaitMs: 0 });
    expect(Number(fresh.messages[0].offset)).toBe(21);
    const more = await call.publish({ topic: 'logs', messages: [body('c26')] });
    expect(more.results[0].offset).toBe(26);
  } finally {
    await running.stop();
  }
});
