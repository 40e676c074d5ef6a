// Delayed messages across a change of owner in lease mode: the meta-server passes the Topic's
// spec.delay and spec.retention.hours to brokers through GetRoutes; a broker killed while it
// holds delayed messages loses nothing, and the partition's next owner dispatches them once,
// those due while nobody held the partition at once.
import type { GetRoutesResponse } from '../../../proto/gen/herald/v1/GetRoutesResponse';
import type { Delivery } from '../../../proto/gen/herald/v1/Delivery';
import { api, body, sql } from '../broker/helpers';
import type { RowDataPacket } from 'mysql2/promise';
import { waitFor } from '../wait';
import { startLeaseCluster } from './helpers';
import type { LeaseCluster } from './helpers';

jest.setTimeout(120_000);

let cluster: LeaseCluster | undefined;
afterAll(async () => {
  await cluster?.stop();
});

test('a new owner dispatches the delayed messages of a killed broker, once', async () => {
  cluster = await startLeaseCluster({
    prefix: 'delay',
    brokers: 2,
    topics: [{ name: 'later', partitions: 2, extra: '  delay: true\n  retention: {hours: 48}\n' }],
    groups: [{ name: 'g', topic: 'later' }],
  });
  const c = cluster;
  const spec = await c.meta.call<GetRoutesResponse>((m, cb) =>
    m.getRoutes({ namespace: c.ns.name, topic: 'later' }, cb),
  );
  expect(spec).toMatchObject({ delay: true, retentionHours: 48 });
  const routes = await waitFor('both brokers hold a partition', async () => {
    const r = await c.routes('later');
    return r.length === 2 && new Set(r.map((x) => x.brokerId)).size === 2 ? r : undefined;
  });
  const [b0, b1] = c.brokers;
  const partition = routes.find((r) => r.brokerId === b0.id)!.partition;
  const call0 = api(b0.clients);
  // One falls due while nobody holds the partition, one after the takeover.
  const early = await call0.publish({
    topic: 'later',
    partition,
    messages: [{ ...body('early'), delayMs: 1500 }],
  });
  const late = await call0.publish({
    topic: 'later',
    partition,
    messages: [{ ...body('late'), delayMs: 9000 }],
  });
  expect(early.results[0].messageId).toMatch(new RegExp(`^later/${partition}/d\\d+$`));
  b0.process.child.kill('SIGKILL');
  await b0.process.exited;
  await c.waitAssigned('later', [b1.id]);

  const call1 = api(b1.clients);
  const got: { message: Delivery; at: number }[] = [];
  const lateAt = Number(late.results[0].deliverAtMs);
  while (got.length < 2 && Date.now() < lateAt + 10_000) {
    const res = await call1.pull({ group: 'g', topic: 'later', partition, maxMessages: 10, maxWaitMs: 500 });
    for (const message of res.messages) got.push({ message, at: Date.now() });
    if (res.messages.length > 0) {
      await call1.ack({ group: 'g', topic: 'later', partition, offsets: res.messages.map((m) => m.offset) });
    }
  }
  expect(got.map((g) => g.message.body.toString())).toEqual(['early', 'late']);
  expect(got[0].message.scheduledId).toBe(early.results[0].messageId);
  expect(got[1].at).toBeGreaterThanOrEqual(lateAt);
  expect(got[1].at - lateAt).toBeLessThan(1000);
  const again = await call1.pull({ group: 'g', topic: 'later', partition, maxMessages: 10, maxWaitMs: 1000 });
  expect(again.messages).toEqual([]);
  const stored = await sql<RowDataPacket>(
    c.ns.database,
    `SELECT COUNT(*) AS n FROM \`m_later_${partition}\``,
  );
  expect(Number(stored[0].n)).toBe(2);
});
