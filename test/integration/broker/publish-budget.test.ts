// publish.maxPendingBytes against the real MariaDB: while commits cannot finish (the test holds
// a write lock on the partition's message table), a PublishStream producer that outruns the
// broker is held back by flow control once the budget is full, a unary Publish is refused with
// RATE_LIMITED and nothing stored, and once the lock goes every request read is acked after its
// commit and stored exactly once.
import { status } from '@grpc/grpc-js';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { PublishStreamResponse } from '../../../proto/gen/herald/v1/PublishStreamResponse';
import {
  api,
  brokerOptions,
  dropTestDatabases,
  failure,
  metricValue,
  mysqlUrl,
  runBroker,
  sql,
  storedCount,
  testDatabase,
} from './helpers';
import type { Running } from './helpers';
import { waitFor } from '../wait';

afterAll(dropTestDatabases);

const TOPIC = 'budget';
const BUDGET = 16 * 1024;
const BODY = Buffer.alloc(1000, 'x');
const REQUESTS = 200;

describe('publish.maxPendingBytes', () => {
  let database: string;
  let running: Running;

  beforeEach(async () => {
    database = testDatabase('budget');
    running = await runBroker(
      brokerOptions(database, [{ name: TOPIC, partitions: 1, maxMessageBytes: 1024 }], {
        publish: { maxRequestBytes: 4096, maxPendingBytes: BUDGET },
        // Commits wait on the test's table lock; the wait must not end as a storage error.
        mysql: { url: mysqlUrl(database), queryTimeoutMs: 60_000 },
      }),
    );
  });
  afterEach(async () => {
    await running.stop();
  });

  const metric = (name: string) => metricValue(running.broker.metricsAddress, name);
  const stops = async (method: string) => {
    const v = await metric(`herald_publish_budget_stops_total{method="${method}"}`);
    return Number.isNaN(v) ? 0 : v;
  };

  test('a full budget stops a stream from reading and refuses unary publishes; everything read is stored once', async () => {
    const lock = await mysql.createConnection(mysqlUrl(database));
    await lock.query(`LOCK TABLES \`m_${TOPIC}_0\` WRITE`);
    const stream = running.clients.broker.PublishStream();
    const responses: PublishStreamResponse[] = [];
    stream.on('data', (r: PublishStreamResponse) => responses.push(r));
    const ended = new Promise<number>((resolve) =>
      stream.on('status', (s: { code: number }) => resolve(s.code)),
    );
    try {
      // About 200 KB for a 16 KiB budget, written without waiting.
      for (let i = 0; i < REQUESTS; i++) {
        stream.write({ requestId: i, publish: { topic: TOPIC, partition: 0, messages: [{ body: BODY }] } });
      }
      await waitFor(
        'the stream to stop for the budget',
        async () => ((await stops('PublishStream')) >= 1 ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 20 },
      );
      const pending = await metric('herald_publish_pending_bytes');
      // Full, and over it by less than the one request that filled it.
      expect(pending).toBeGreaterThanOrEqual(BUDGET);
      expect(pending).toBeLessThan(BUDGET + 1024);
      // Nothing is acked before its commit, and the broker read less than a tenth of what was sent.
      expect(responses).toHaveLength(0);
      expect(await metric('herald_publish_pending_requests')).toBeLessThanOrEqual(BUDGET / 1000 + 1);

      const refused = await failure(
        api(running.clients).publish({ topic: TOPIC, partition: 0, messages: [{ body: BODY }] }),
      );
      expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(refused.info).toMatchObject({
        reason: 'RATE_LIMITED',
        metadata: { field: 'publish.maxPendingBytes', limit_bytes: String(BUDGET), retry_after_ms: '20' },
      });
      expect(await stops('Publish')).toBe(1);
    } finally {
      await lock.query('UNLOCK TABLES');
      await lock.end();
    }
    stream.end();
    expect(await ended).toBe(status.OK);
    // Every request answered, all acked, each at its own offset; the refused one is not stored.
    expect(responses).toHaveLength(REQUESTS);
    expect(responses.every((r) => r.ok !== undefined)).toBe(true);
    const offsets = responses.map((r) => Number(r.ok!.results[0].offset));
    expect(new Set(offsets).size).toBe(REQUESTS);
    expect(await storedCount(database, TOPIC, 1)).toBe(REQUESTS);
    const rows = await sql<RowDataPacket>(
      database,
      `SELECT MIN(id) AS lo, MAX(id) AS hi FROM \`m_${TOPIC}_0\``,
    );
    expect([Number(rows[0].lo), Number(rows[0].hi)]).toEqual([1, REQUESTS]);
    expect(await metric('herald_publish_pending_bytes')).toBe(0);
    // With room again, a unary publish is taken.
    const ok = await api(running.clients).publish({ topic: TOPIC, partition: 0, messages: [{ body: BODY }] });
    expect(Number(ok.results[0].offset)).toBe(REQUESTS + 1);
  });
});
