// Three brokers in lease mode share a topic's 16 partitions within one (routes from Meta
// GetRoutes), each serves exactly the partitions it holds, and a graceful shutdown releases
// its leases so the others take its partitions over within one renew interval.
import * as grpc from '@grpc/grpc-js';
import { api, body, failure, unary } from '../broker/helpers';
import { FORWARDED_BY } from '../../../broker/server/forwarding';
import type { PublishResponse } from '../../../proto/gen/herald/v1/PublishResponse';
import type { PublishRequest__Input } from '../../../proto/gen/herald/v1/PublishRequest';
import { startLeaseCluster } from './helpers';
import type { LeaseBroker, LeaseCluster } from './helpers';

jest.setTimeout(180_000);

let cluster: LeaseCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
});

/** A publish that the receiving broker must serve itself (marked as already forwarded). */
function publishHere(b: LeaseBroker, req: PublishRequest__Input): Promise<PublishResponse> {
  const md = new grpc.Metadata();
  md.set(FORWARDED_BY, 'test');
  const c = b.clients.broker;
  return unary((r: PublishRequest__Input, cb) => c.Publish(r, md, cb), req);
}

test('three brokers share 16 partitions within one; each serves exactly its own', async () => {
  cluster = await startLeaseCluster({
    prefix: 'share',
    brokers: 3,
    topics: [{ name: 'orders', partitions: 16 }],
  });
  const ids = cluster.brokers.map((b) => b.id);
  const routes = await cluster.waitBalanced('orders', ids);
  const counts = ids.map((id) => routes.filter((r) => r.brokerId === id).length);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(16);
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);

  for (const r of routes) {
    const owner = cluster.brokers.find((b) => b.id === r.brokerId)!;
    expect(r.address).toBe(owner.address);
    // The owner serves it once it has loaded the partition (right after the grant).
    const res = await waitForOk(() =>
      publishHere(owner, { topic: 'orders', partition: r.partition, messages: [body(`p${r.partition}`)] }),
    );
    expect(res.partition).toBe(r.partition);
    // Another broker, not allowed to forward, refuses and names the owner.
    const other = cluster.brokers.find((b) => b.id !== r.brokerId)!;
    const f = await failure(
      publishHere(other, { topic: 'orders', partition: r.partition, messages: [body('x')] }),
    );
    expect(f.info?.reason).toBe('NOT_PARTITION_OWNER');
    expect(f.info?.metadata.owner).toBe(owner.address);
  }

  // Graceful shutdown releases: the others hold everything within one renew interval or so.
  const leaving = cluster.brokers[2];
  const t0 = Date.now();
  leaving.process.child.kill('SIGTERM');
  expect(await leaving.process.exited).toBe(0);
  await cluster.waitAssigned('orders', ids.slice(0, 2), cluster.brokerLeaseMs);
  const handover = Date.now() - t0;
  process.stdout.write(`graceful handover of b2's partitions: ${handover} ms\n`);
  await api(cluster.brokers[0].clients).publish({ topic: 'orders', messages: [body('after')] });
});

async function waitForOk<T>(call: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
