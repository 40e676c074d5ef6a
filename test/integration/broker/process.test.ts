// The broker as a separate process (broker/main.ts): killed with SIGKILL while producers
// wait, and driven by grpcurl through server reflection alone.
import type { RowDataPacket } from 'mysql2/promise';
import { runTool } from '../exec';
import {
  api,
  body,
  brokerOptions,
  connect,
  dropTestDatabases,
  killSpawnedBrokers,
  runBroker,
  spawnBroker,
  sql,
  testDatabase,
  until,
} from './helpers';

afterAll(async () => {
  killSpawnedBrokers();
  await dropTestDatabases();
});

test('kill -9 while producers wait: every acked publish is stored exactly once', async () => {
  const database = testDatabase('kill');
  const proc = await spawnBroker(brokerOptions(database, [{ name: 'kill', partitions: 2 }]));
  const clients = connect(proc.address);
  const call = api(clients);
  const acked = new Map<string, { partition: number; offset: number }>();
  let failed = 0;
  const producer = async (id: number) => {
    for (let n = 0; ; n++) {
      const text = `p${id}-${n}`;
      try {
        const r = await call.publish({ topic: 'kill', partition: n % 2, messages: [body(text)] });
        acked.set(text, { partition: r.partition, offset: r.results[0].offset });
      } catch {
        failed++;
        return;
      }
    }
  };
  const producers = Array.from({ length: 16 }, (_, i) => producer(i));
  await until('some publishes to be acked', () => acked.size >= 500);
  proc.child.kill('SIGKILL');
  expect(await proc.exited).toBeNull();
  await Promise.all(producers);
  clients.close();
  expect(failed).toBe(16); // every producer saw its in-flight publish fail

  const stored = new Map<string, { partition: number; offset: number; copies: number }>();
  for (const partition of [0, 1]) {
    const rows = await sql<RowDataPacket>(database, `SELECT id, body FROM \`m_kill_${partition}\``);
    for (const row of rows) {
      const text = (row.body as Buffer).toString();
      const seen = stored.get(text);
      stored.set(text, { partition, offset: Number(row.id), copies: (seen?.copies ?? 0) + 1 });
    }
  }
  for (const [text, where] of acked) {
    expect({ text, ...stored.get(text) }).toEqual({ text, ...where, copies: 1 });
  }
  for (const [text, s] of stored) expect({ text, copies: s.copies }).toEqual({ text, copies: 1 });
});

test('grpcurl lists the services, publishes and pulls through reflection alone', async () => {
  const database = testDatabase('grpcurl');
  const running = await runBroker(brokerOptions(database, [{ name: 'cli', partitions: 1 }]));
  const addr = running.broker.address;
  try {
    const list = await runTool('grpcurl', ['-plaintext', addr, 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')).toEqual(
      expect.arrayContaining(['herald.v1.Broker', 'herald.v1.Admin', 'grpc.health.v1.Health']),
    );

    const hello = Buffer.from('hello from grpcurl').toString('base64');
    const published = await runTool('grpcurl', [
      '-plaintext',
      '-d',
      JSON.stringify({ topic: 'cli', partition: 0, messages: [{ body: hello, refKey: 'r-1' }] }),
      addr,
      'herald.v1.Broker/Publish',
    ]);
    expect(published.stderr).toBe('');
    expect(JSON.parse(published.stdout)).toMatchObject({
      topic: 'cli',
      results: [{ offset: '1', messageId: 'cli/0/1' }],
    });

    const pulled = await runTool('grpcurl', [
      '-plaintext',
      '-d',
      JSON.stringify({ group: 'cli-group', topic: 'cli', partition: 0, maxMessages: 10, maxWaitMs: 1000 }),
      addr,
      'herald.v1.Broker/Pull',
    ]);
    expect(JSON.parse(pulled.stdout)).toMatchObject({
      messages: [{ offset: '1', body: hello, refKey: 'r-1', deliveryAttempt: 1 }],
    });

    const bad = await runTool('grpcurl', [
      '-plaintext',
      '-d',
      '{"topic":"nope","messages":[{}]}',
      addr,
      'herald.v1.Broker/Publish',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('NotFound');

    // Types from other packages (google.rpc.Status) resolve through the served descriptors.
    const described = await runTool('grpcurl', [
      '-plaintext',
      addr,
      'describe',
      'herald.v1.PublishStreamResponse',
    ]);
    expect(described.stderr).toBe('');
    expect(described.stdout).toContain('.google.rpc.Status error = 3;');

    const health = await runTool('grpcurl', ['-plaintext', addr, 'grpc.health.v1.Health/Check']);
    expect(JSON.parse(health.stdout)).toEqual({ status: 'SERVING' });
  } finally {
    await running.stop();
  }
});
