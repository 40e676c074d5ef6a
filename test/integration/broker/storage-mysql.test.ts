// The MySQL adapter against the conformance suite, plus what only MySQL has: migrations,
// the per-partition table layout, and an unreachable server.
import type { RowDataPacket } from 'mysql2/promise';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { HeraldError } from '../../../common/errors';
import { createMysqlStore } from '../../../storage/mysql/mysql-store';
import { MIGRATIONS } from '../../../storage/mysql/sql';
import { describeStorageConformance } from '../../storage-conformance';
import { dropTestDatabases, mysqlUrl, sql, testDatabase, testLogger } from './helpers';

afterAll(dropTestDatabases);

const storeOptions = (database: string) => ({
  url: mysqlUrl(database),
  poolSize: 2,
  connectTimeoutMs: 1000,
  queryTimeoutMs: 5000,
  logger: testLogger,
});

describeStorageConformance(
  'mysql',
  {
    priorityLanes: true,
    delayedMessages: true,
    ownerFencing: true,
    atomicMultiPartitionAppend: true,
    segmentRetention: true,
    traceInAppend: true,
    offsetsInAppend: true,
  },
  async () => {
    return createMysqlStore(storeOptions(testDatabase('store')));
  },
);

describe('MySQL store specifics', () => {
  test('message tables of an earlier layout gain the new columns and keep their messages', async () => {
    const database = testDatabase('upgrade');
    const store = await createMysqlStore(storeOptions(database));
    // The layout of the first release: no lane, scheduled_id or deliver_at.
    await sql(
      database,
      'CREATE TABLE `m_old_0` (id BIGINT UNSIGNED NOT NULL, published_at BIGINT UNSIGNED NOT NULL, msg_key TEXT NOT NULL, ref_key TEXT NOT NULL, tags TEXT NOT NULL, properties TEXT NOT NULL, body LONGBLOB NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB PARTITION BY RANGE (id) (PARTITION p_max VALUES LESS THAN MAXVALUE)',
    );
    await sql(database, `INSERT INTO \`m_old_0\` VALUES (1, 1000, 'k', 'r', '["a"]', '{}', 'before')`);
    await store.messages.ensureTopic('old', 1);
    const ref = { topic: 'old', partition: 0 };
    expect(
      (await store.messages.read(ref, 0, 10)).map((m) => [m.offset, m.body.toString(), m.tags, m.priority]),
    ).toEqual([[1, 'before', ['a'], false]]);
    const m = { key: '', refKey: '', tags: [], properties: {}, body: Buffer.from('after'), priority: true };
    await store.messages.append([{ ref, firstOffset: 2, messages: [m] }], 2000);
    expect(await store.messages.lastOffset(ref)).toBe(2);
    expect((await store.messages.read(ref, 0, 10, 'priority')).map((r) => r.body.toString())).toEqual([
      'after',
    ]);
    expect(await store.messages.offsetAtTime(ref, 1500)).toBe(2);
    await store.close();
  });

  test('trace lookups and expiry use indexes and the primary key', async () => {
    const database = testDatabase('trace-idx');
    const store = await createMysqlStore(storeOptions(database));
    const indexes = await sql<RowDataPacket>(
      database,
      'SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? GROUP BY INDEX_NAME ORDER BY INDEX_NAME',
      [database, 'trace_events'],
    );
    expect(indexes.map((r) => [r.INDEX_NAME as string, r.cols as string])).toEqual([
      ['PRIMARY', 'id'],
      ['trace_by_message', 'message_id'],
      ['trace_by_ref', 'topic,ref_key'],
    ]);
    await store.close();
  });

  test('migrations are numbered, recorded once, and re-running them is a no-op', async () => {
    const database = testDatabase('migrate');
    const first = await createMysqlStore(storeOptions(database));
    const second = await createMysqlStore(storeOptions(database));
    const rows = await sql<RowDataPacket>(
      database,
      'SELECT version FROM herald_schema_migrations ORDER BY version',
    );
    expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
    await first.close();
    await second.close();
  });

  test('message tables have only a primary key and are partitioned by id range', async () => {
    const database = testDatabase('layout');
    const store = await createMysqlStore(storeOptions(database));
    await store.messages.ensureTopic('layout-check', 2);
    const indexes = await sql<RowDataPacket>(
      database,
      'SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [database, 'm_layout-check_1'],
    );
    expect(indexes.map((r) => r.INDEX_NAME as string)).toEqual(['PRIMARY']);
    const partitions = await sql<RowDataPacket>(
      database,
      'SELECT PARTITION_METHOD, PARTITION_EXPRESSION FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [database, 'm_layout-check_1'],
    );
    expect(partitions[0]).toMatchObject({ PARTITION_METHOD: 'RANGE', PARTITION_EXPRESSION: '`id`' });
    await store.close();
  });

  test('a failed statement names the operation, its Herald caller and the driver error', async () => {
    const store = await createMysqlStore(storeOptions(testDatabase('failed')));
    const err = await store.messages.lastOffset({ topic: 'nevercreated', partition: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await store.close();
    expect(err).toBeInstanceOf(HeraldError);
    const e = err as HeraldError;
    expect(e.reason).toBe('INTERNAL_ERROR');
    expect(e.message).toMatch(/^read last offset: Table .*nevercreated.* doesn't exist/);
    // The driver captures no stack per query (trace: false); the Herald error's stack reaches the store method.
    expect(e.stack).toMatch(/lastOffset/);
    expect((e.cause as { code?: string }).code).toBe('ER_NO_SUCH_TABLE');
  });

  test('an unreachable server fails with STORAGE_UNAVAILABLE', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve)); // nothing listens there now
    const err = await createMysqlStore({
      ...storeOptions('herald_x'),
      url: `mysql://herald:herald@127.0.0.1:${port}/herald_x`,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).reason).toBe('STORAGE_UNAVAILABLE');
  });
});
