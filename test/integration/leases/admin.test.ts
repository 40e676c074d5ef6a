// Admin in lease mode: Trace and ResetOffsets are not forwarded; any broker answers them from
// the shared store, and a reset reaches the partition's owner through the command log. A
// forwarded Publish is traced with the original producer's address. Meta ListTopics describes
// the topic as the operator declared it.
import type { ListTopicsResponse } from '../../../proto/gen/herald/v1/ListTopicsResponse';
import { waitFor } from '../wait';
import { api, body } from '../broker/helpers';
import type { Clients } from '../broker/helpers';
import { startLeaseCluster } from './helpers';
import type { LeaseCluster } from './helpers';

jest.setTimeout(180_000);

let cluster: LeaseCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
});

function admin(c: Clients) {
  const { resetOffsets: reset, trace } = api(c);
  return { reset, trace };
}

test('any broker traces and resets any partition; forwarded publishes keep the producer address', async () => {
  const fast = { trace: { flushIntervalMs: 20 }, commands: { pollIntervalMs: 100 } };
  cluster = await startLeaseCluster({
    prefix: 'admin',
    brokers: 2,
    topics: [{ name: 'orders', partitions: 4 }],
    groups: [{ name: 'billing', topic: 'orders' }],
    brokerOverrides: [fast, fast],
  });
  const [b0, b1] = cluster.brokers;
  const routes = await cluster.waitBalanced('orders', [b0.id, b1.id]);
  const ownedBy1 = routes.find((r) => r.brokerId === b1.id)!.partition;
  const ownedBy0 = routes.find((r) => r.brokerId === b0.id)!.partition;

  // Through b0 only: one publish it serves, one it forwards to b1.
  const c0 = api(b0.clients);
  for (const p of [ownedBy0, ownedBy1])
    await c0.publish({
      topic: 'orders',
      partition: p,
      messages: ['1', '2', '3'].map((t) => ({ ...body(t), refKey: 'k' })),
    });
  const events = await waitFor('the trace of ref key k', async () => {
    const r = await admin(b1.clients).trace({ topic: 'orders', refKey: 'k' });
    return r.events.length >= 12 ? r.events : undefined;
  });
  const published = events.filter((e) => e.event === 'published');
  expect(published).toHaveLength(6);
  // One client connection: the same producer address whichever broker stored the message.
  expect(new Set(published.map((e) => e.detail.producer)).size).toBe(1);
  const storedBy = (p: number) => new Set(events.filter((e) => e.partition === p).map((e) => e.broker));
  expect(storedBy(ownedBy0)).toEqual(new Set([b0.id]));
  expect(storedBy(ownedBy1)).toEqual(new Set([b1.id]));

  // The owner b1 delivers and stores the acks; b0 serves the reset.
  const c1 = api(b1.clients);
  const pull = () =>
    c1.pull({ group: 'billing', topic: 'orders', partition: ownedBy1, maxMessages: 10, maxWaitMs: 1000 });
  const first = await pull();
  expect(first.messages.map((m) => Number(m.offset))).toEqual([1, 2, 3]);
  await c1.ack({ group: 'billing', topic: 'orders', partition: ownedBy1, offsets: [1, 2, 3] });
  const reset = await admin(b0.clients).reset({
    group: 'billing',
    topic: 'orders',
    partitions: [ownedBy1],
    offset: 1,
  });
  expect(reset.partitions.map((p) => Number(p.committedOffset))).toEqual([1]);
  const again = await waitFor('redelivery from offset 2 at the owner', async () => {
    const r = await pull();
    return r.messages.length > 0 ? r.messages.map((m) => Number(m.offset)) : undefined;
  });
  expect(again).toEqual([2, 3]);
  const trace = await admin(b0.clients).trace({ messageId: `orders/${ownedBy1}/2` });
  expect(trace.events.find((e) => e.event === 'offsets-reset')).toMatchObject({
    group: 'billing',
    broker: b0.id,
  });

  const topics = await cluster.meta.call<ListTopicsResponse>((c, cb) =>
    c.listTopics({ namespace: cluster!.ns.name }, cb),
  );
  expect(topics.topics).toEqual([
    expect.objectContaining({
      name: 'orders',
      partitions: 4,
      storage: 'mysql',
      pool: 'default',
      assignedPartitions: 4,
      groups: ['billing'],
    }),
  ]);
  expect(topics.topics[0].retentionHours).toBeGreaterThan(0);
});
