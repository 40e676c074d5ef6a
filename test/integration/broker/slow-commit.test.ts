// A commit held up inside MariaDB (here by another session's table lock, as DDL on one of its
// tables would) is logged by the broker, naming the partitions it held: the stall of a
// latency run is found in the log, not only in a histogram bucket.
import mysql from 'mysql2/promise';
import { waitFor } from '../wait';
import {
  api,
  body,
  brokerOptions,
  connect,
  dropTestDatabases,
  killSpawnedBrokers,
  mysqlUrl,
  spawnBroker,
  testDatabase,
} from './helpers';

afterAll(async () => {
  killSpawnedBrokers();
  await dropTestDatabases();
});

test('a commit slower than publish.slowCommitMs is logged at warn with its partitions and rows', async () => {
  const database = testDatabase('slowcommit');
  const broker = await spawnBroker(
    brokerOptions(database, [{ name: 'slow', partitions: 2 }], { publish: { slowCommitMs: 400 } }),
  );
  const clients = connect(broker.address);
  const locker = await mysql.createConnection(mysqlUrl(database));
  try {
    const call = api(clients);
    await locker.query('LOCK TABLES `m_slow_0` WRITE');
    const held = call.publish({ topic: 'slow', partition: 0, messages: [body('a'), body('b')] });
    await new Promise((r) => setTimeout(r, 1000));
    await locker.query('UNLOCK TABLES');
    // Durable as ever: the publish is answered after its (late) commit, at its offsets.
    expect((await held).results[0].offset).toBe(1);
    const slow = await waitFor('the slow commit logged', async () => {
      const lines = broker.logs
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'slow commit');
      return Promise.resolve(lines.length > 0 ? lines : undefined);
    });
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatchObject({ level: 'warn', partitions: ['slow/0'], rows: 2 });
    expect(slow[0].ms).toBeGreaterThanOrEqual(900);
  } finally {
    await locker.end();
    clients.close();
    broker.child.kill('SIGTERM');
    await broker.exited;
  }
});
