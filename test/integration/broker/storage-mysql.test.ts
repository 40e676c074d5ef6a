// The MySQL adapter against the conformance suite, plus what only MySQL has: migrations,
// the per-partition table layout, and an unreachable server.
import type { RowDataPacket } from 'mysql2/promise';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { HeraldError } from '../../../client/errors';
import { createMysqlStore } from '../../../broker/storage/mysql/mysql-store';
import { MIGRATIONS } from '../../../broker/storage/mysql/sql';
import { describeMessageStoreConformance, describeRetryStoreConformance } from './storage-conformance';
import { dropTestDatabases, mysqlUrl, sql, testDatabase, testLogger } from './helpers';

afterAll(dropTestDatabases);

const storeOptions = (database: string) => ({
  url: mysqlUrl(database),
  poolSize: 2,
  connectTimeoutMs: 1000,
  queryTimeoutMs: 5000,
  logger: testLogger,
});

describeMessageStoreConformance('mysql', async () => {
  const database = testDatabase('store');
  return { store: await createMysqlStore(storeOptions(database)) };
});

describeRetryStoreConformance('mysql', async () => {
  const database = testDatabase('retries');
  return { store: await createMysqlStore(storeOptions(database)) };
});

describe('MySQL store specifics', () => {
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
    await store.ensureTopic('layout-check', 2);
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
