// Forwarding: a client that only knows one broker publishes to, pulls from, acks and nacks
// every partition, most of which other brokers own; the broker forwards each call to the owner.
// Subscribe is not forwarded: it answers NOT_PARTITION_OWNER with the owner's address.
import * as grpc from '@grpc/grpc-js';
import { readErrorInfo } from '../../../common/errors';
import { api, body, failure } from '../broker/helpers';
import type { SubscribeResponse } from '../../../proto/gen/herald/v1/SubscribeResponse';
import { startLeaseCluster } from './helpers';
import type { LeaseCluster } from './helpers';

jest.setTimeout(180_000);

let cluster: LeaseCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
});

test('a client pointed at one broker publishes, pulls, acks and nacks on partitions others own', async () => {
  cluster = await startLeaseCluster({
    prefix: 'fwd',
    brokers: 3,
    topics: [{ name: 'orders', partitions: 16 }],
    // Retries at once, so that each nacked message below comes back without a wait.
    groups: [{ name: 'billing', topic: 'orders', spec: 'retry: {delaysSeconds: [0]}' }],
  });
  const ids = cluster.brokers.map((b) => b.id);
  const routes = await cluster.waitBalanced('orders', ids);
  const entry = cluster.brokers[0];
  const foreign = routes.filter((r) => r.brokerId !== entry.id).map((r) => r.partition);
  expect(foreign.length).toBeGreaterThanOrEqual(10);
  const c = api(entry.clients);

  for (let p = 0; p < 16; p++) {
    const res = await c.publish({ topic: 'orders', partition: p, messages: [body(`m${p}`), body(`n${p}`)] });
    expect(res.partition).toBe(p);
    expect(res.results.map((r) => Number(r.offset))).toEqual([1, 2]);
  }
  // Routed by key and round-robin too.
  const keyed = await c.publish({ topic: 'orders', key: 'customer-17', messages: [body('k')] });
  expect(keyed.partition).toBe(0);
  await c.publish({ topic: 'orders', messages: [body('any')] });

  for (const p of foreign) {
    const pulled = await c.pull({
      group: 'billing',
      topic: 'orders',
      partition: p,
      maxMessages: 2,
      maxWaitMs: 5000,
    });
    expect(pulled.messages.map((m) => m.body.toString())).toEqual([`m${p}`, `n${p}`]);
    await c.nack({ group: 'billing', topic: 'orders', partition: p, offsets: [2], delayMs: 0 });
    const ack = await c.ack({ group: 'billing', topic: 'orders', partition: p, offsets: [1] });
    // The nacked message waits in the resend schedule, out of the partition's order.
    expect(Number(ack.committedOffset)).toBe(2);
    const again = await c.pull({
      group: 'billing',
      topic: 'orders',
      partition: p,
      maxMessages: 1,
      maxWaitMs: 5000,
    });
    expect(again.messages[0]?.deliveryAttempt).toBe(2);
  }

  // Errors of the owner come back unchanged through the forwarder.
  const f = await failure(c.ack({ group: 'billing', topic: 'orders', partition: foreign[0], offsets: [99] }));
  expect(f.info?.reason).toBe('OFFSET_NOT_DELIVERED');
  const unknown = await failure(c.publish({ topic: 'nope', messages: [body('x')] }));
  expect(unknown.info?.reason).toBe('TOPIC_NOT_FOUND');

  // Subscribe is refused with the owner named.
  const p = foreign[0];
  const owner = cluster.brokers.find((b) => b.id === routes[p].brokerId)!;
  const stream = entry.clients.broker.Subscribe();
  const refused = await new Promise<{ code?: grpc.status; owner?: string }>((resolve) => {
    stream.on('data', (_d: SubscribeResponse) => undefined);
    stream.on('error', (err: grpc.ServiceError) =>
      resolve({ code: err.code, owner: readErrorInfo(err)?.metadata.owner }),
    );
    stream.on('end', () => resolve({}));
    stream.write({ start: { group: 'billing', topic: 'orders', partition: p, credits: 1 } });
  });
  expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
  expect(refused.owner).toBe(owner.address);
});
