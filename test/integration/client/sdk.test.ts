// The SDK against a lease-mode cluster of two broker processes and the operator (meta-server):
// keys land where the broker hashes them, linger batching saves Publish calls, non-retriable
// errors fail fast with typed errors, a consumer group of two splits the partitions, a handler
// that throws gets the message again, close() hands partitions over without losing messages,
// and a producer and a consumer survive the loss of a broker without losing an acknowledged message.
import type { RowDataPacket } from 'mysql2/promise';
import { Consumer, HeraldError, Producer, partitionForKey } from '../../../client';
import type { Delivery, SendResult } from '../../../client';
import { metricValue, sql, testLogger } from '../broker/helpers';
import { kubectlApply, topicManifest, waitReady } from '../operator/helpers';
import { waitFor } from '../wait';
import { startLeaseCluster } from '../leases/helpers';
import type { LeaseCluster } from '../leases/helpers';

jest.setTimeout(240_000);

let cluster: LeaseCluster;
const closers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  cluster = await startLeaseCluster({
    prefix: 'sdk',
    brokers: 2,
    topics: [
      { name: 'keys', partitions: 4 },
      { name: 'work', partitions: 4 },
      { name: 'retry', partitions: 2 },
      { name: 'handover', partitions: 4 },
      { name: 'moves', partitions: 4 },
      { name: 'stream', partitions: 2 },
      { name: 'direct', partitions: 2 },
    ],
    groups: [
      { name: 'split', topic: 'work' },
      { name: 'again', topic: 'retry' },
      { name: 'leaving', topic: 'handover' },
      { name: 'streamed', topic: 'stream' },
      { name: 'movers', topic: 'moves' },
      { name: 'direct-readers', topic: 'direct' },
    ],
    consumerLeaseSeconds: 6,
  });
  await kubectlApply(cluster.ns.name, topicManifest('small', 2, '  maxMessageBytes: 1024\n'));
  await waitReady(cluster.ns.name, 'small');
  for (const t of ['keys', 'work', 'retry', 'handover', 'moves', 'stream', 'direct', 'small'])
    await cluster.waitAssigned(t, ['b0', 'b1']);
});

afterAll(async () => {
  for (const c of closers.splice(0)) await c.close().catch(() => undefined);
  await cluster?.stop();
});

/** The sum over both brokers of the /metrics lines that match. */
async function brokerMetrics(line: RegExp): Promise<number> {
  let sum = 0;
  for (const b of cluster.brokers) {
    const text = await (await fetch(`http://${b.process.metricsAddress}/metrics`)).text();
    for (const l of text.split('\n')) if (line.test(l)) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  return sum;
}

function producer(extra: ConstructorParameters<typeof Producer>[0] = {}): Producer {
  const p = new Producer({ meta: cluster.operator.metaAddress, namespace: cluster.ns.name, ...extra });
  closers.push(p);
  return p;
}

function consumer(group: string, extra: Partial<ConstructorParameters<typeof Consumer>[0]> = {}): Consumer {
  const c = new Consumer({
    meta: cluster.operator.metaAddress,
    namespace: cluster.ns.name,
    group,
    logger: testLogger,
    ...extra,
  });
  closers.push(c);
  return c;
}

async function publishRequests(): Promise<number> {
  let n = 0;
  for (const b of cluster.brokers)
    n += await metricValue(b.process.metricsAddress, 'herald_publish_requests_total');
  return n;
}

test('keys land in the partition the broker computes, on the owner of that partition', async () => {
  const p = producer();
  const direct = producer({ meta: undefined, broker: cluster.brokers[1].address });
  const keys = Array.from({ length: 40 }, (_, i) => `customer-${i}`);
  const routed = await Promise.all(keys.map((key) => p.send('keys', { key, body: key })));
  const hashedByBroker = await Promise.all(keys.map((key) => direct.send('keys', { key, body: key })));
  keys.forEach((key, i) => {
    expect(routed[i].partition).toBe(partitionForKey(key, 4));
    expect(hashedByBroker[i].partition).toBe(routed[i].partition);
    expect(routed[i].messageId).toBe(`keys/${routed[i].partition}/${routed[i].offset}`);
  });
  expect(new Set(routed.map((r) => r.partition)).size).toBe(4);
});

test('linger batching sends fewer Publish calls than messages', async () => {
  const p = producer({ lingerMs: 50 });
  const before = await publishRequests();
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) => p.send('keys', { key: `k${i % 8}`, body: `batched-${i}` })),
  );
  const calls = (await publishRequests()) - before;
  expect(results).toHaveLength(200);
  // One Publish per partition batch: 4 partitions, so a handful of calls, counted by the brokers.
  expect(p.publishRequests).toBeLessThanOrEqual(8);
  expect(calls).toBe(p.publishRequests);
});

test('non-retriable errors fail fast with a typed error', async () => {
  const p = producer({ deliveryTimeoutMs: 20_000 });
  const started = Date.now();
  const notFound = await p.send('no-such-topic', { body: 'x' }).catch((e: unknown) => e);
  expect(notFound).toBeInstanceOf(HeraldError);
  expect((notFound as HeraldError).reason).toBe('TOPIC_NOT_FOUND');

  const big = 'x'.repeat(2000);
  const tooLarge = await p.send('small', { body: big }).catch((e: unknown) => e);
  expect((tooLarge as HeraldError).reason).toBe('MESSAGE_TOO_LARGE');

  // Without a meta-server the broker judges the size; the rest of the batch is still stored.
  const direct = producer({ meta: undefined, broker: cluster.brokers[0].address, lingerMs: 50 });
  const [ok1, bad, ok2] = await Promise.allSettled([
    direct.send('small', { partition: 0, body: 'fine' }),
    direct.send('small', { partition: 0, body: big }),
    direct.send('small', { partition: 0, body: 'also fine' }),
  ]);
  expect(ok1.status).toBe('fulfilled');
  expect(ok2.status).toBe('fulfilled');
  expect(bad.status === 'rejected' && (bad.reason as HeraldError).reason).toBe('MESSAGE_TOO_LARGE');
  expect(Date.now() - started).toBeLessThan(5_000);

  await expect(p.send('keys', { body: 'x', tags: ['bad tag'] })).rejects.toMatchObject({
    reason: 'INVALID_REQUEST',
    metadata: { field: 'tags[0]' },
  });
});

test('a group of two consumers splits the partitions and processes every message', async () => {
  const seen = new Map<string, string>();
  const a = consumer('split', { consumerId: 'a' });
  const b = consumer('split', { consumerId: 'b' });
  const handler = (id: string) => (m: Delivery) => {
    seen.set(m.body.toString(), id);
  };
  await a.run({ eachMessage: handler('a') });
  await b.run({ eachMessage: handler('b') });
  await waitFor('both consumers to hold two partitions each', () =>
    Promise.resolve(a.assignment().length === 2 && b.assignment().length === 2 ? true : undefined),
  );
  expect([...a.assignment(), ...b.assignment()].sort()).toEqual([0, 1, 2, 3]);
  const p = producer();
  const bodies = Array.from({ length: 60 }, (_, i) => `work-${i}`);
  const sent = await Promise.all(bodies.map((body, i) => p.send('work', { key: `k${i}`, body })));
  await waitFor('every message processed', () => Promise.resolve(seen.size === 60 ? true : undefined));
  expect([...seen.keys()].sort()).toEqual([...bodies].sort());
  // Each message went to the consumer holding its partition.
  sent.forEach((r, i) => expect(seen.get(bodies[i])).toBe(a.assignment().includes(r.partition) ? 'a' : 'b'));
});

test('subscribe mode: a stream per partition paced by credits, never more handlers than `concurrency`', async () => {
  const p = producer();
  await Promise.all(Array.from({ length: 30 }, (_, i) => p.send('stream', { key: `k${i}`, body: `s-${i}` })));
  const seen = new Set<string>();
  let running = 0;
  let most = 0;
  const unaryAcks = () => brokerMetrics(/^herald_grpc_server_handled_total\{.*method="Ack"/);
  const acked = () => brokerMetrics(/^herald_acked_messages_total\{.*group="streamed"/);
  const [acksBefore, ackedBefore] = [await unaryAcks(), await acked()];
  const c = consumer('streamed', { fetch: 'subscribe', concurrency: 3 });
  await c.run({
    eachMessage: async (m) => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.add(m.body.toString());
      running--;
    },
  });
  await waitFor('every message processed', () => Promise.resolve(seen.size === 30 ? true : undefined));
  expect(most).toBeLessThanOrEqual(3);
  // The acks travel on the streams (SubscribeRequest.ack), not as unary Ack calls.
  await waitFor('every message acked', async () => ((await acked()) - ackedBefore >= 30 ? true : undefined));
  expect((await unaryAcks()) - acksBefore).toBe(0);
  await c.close();
});

test('a handler that throws nacks the message with its error and gets it again', async () => {
  const p = producer();
  await p.send('retry', { partition: 0, body: 'flaky' });
  const attempts: number[] = [];
  const c = consumer('again', { maxWaitMs: 1000 });
  await c.run({
    eachMessage: (m) => {
      attempts.push(m.deliveryAttempt);
      if (m.deliveryAttempt === 1) throw new Error('first try fails');
    },
  });
  await waitFor('the redelivery', () => Promise.resolve(attempts.length >= 2 ? true : undefined));
  expect(attempts.slice(0, 2)).toEqual([1, 2]);
  await c.close();
});

test('close() waits for handlers, acks them and leaves the group; the other consumer takes over at once', async () => {
  const p = producer();
  const total = 80;
  const processed = new Set<string>();
  const a = consumer('leaving', { consumerId: 'a', concurrency: 4 });
  const b = consumer('leaving', { consumerId: 'b', concurrency: 4 });
  const slow = async (m: Delivery) => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    processed.add(m.body.toString());
  };
  await a.run({ eachMessage: slow });
  await b.run({ eachMessage: slow });
  await waitFor('a split', () => Promise.resolve(a.assignment().length === 2 ? true : undefined));
  await Promise.all(
    Array.from({ length: total }, (_, i) => p.send('handover', { key: `k${i}`, body: `h-${i}` })),
  );
  await waitFor('some progress', () => Promise.resolve(processed.size >= 10 ? true : undefined));
  await a.close();
  const left = Date.now();
  // Leaving releases the leases: b holds every partition at its next heartbeat (every 2 s),
  // before a's leases (6 s) could have expired.
  await waitFor('b to hold every partition', () =>
    Promise.resolve(b.assignment().length === 4 ? true : undefined),
  );
  expect(Date.now() - left).toBeLessThan(4_000);
  // Nothing waits for an ack timeout (30 s): what a fetched is acked or given back.
  const handedOver = Date.now();
  await waitFor('every message processed', () =>
    Promise.resolve(processed.size === total ? true : undefined),
  );
  expect(Date.now() - handedOver).toBeLessThan(15_000);
});

test('without a meta-server, a Subscribe to a broker that does not own the partition follows the owner it names', async () => {
  const routes = await cluster.routes('direct');
  const [other] = cluster.brokers.filter((b) => b.id !== routes[0].brokerId);
  const p = producer({ meta: undefined, broker: other.address });
  await Promise.all(Array.from({ length: 5 }, (_, i) => p.send('direct', { partition: 0, body: `d-${i}` })));
  const seen: string[] = [];
  const c = consumer('direct-readers', {
    meta: undefined,
    broker: other.address,
    topic: 'direct',
    partitions: [0],
    fetch: 'subscribe',
  });
  await c.run({ eachMessage: (m) => void seen.push(m.body.toString()) });
  await waitFor('the messages', () => Promise.resolve(seen.length === 5 ? true : undefined));
  expect(seen).toEqual(['d-0', 'd-1', 'd-2', 'd-3', 'd-4']);
  await c.close();
});

test('a producer and a consumer survive the loss of a broker: every acknowledged message is stored and consumed', async () => {
  const p = producer({ deliveryTimeoutMs: 60_000 });
  const consumed = new Set<string>();
  const c = consumer('movers', { ackTimeoutMs: 3_000 });
  await c.run({
    eachMessage: (m) => {
      consumed.add(m.body.toString());
    },
  });
  const acked: SendResult[] = [];
  const bodies = new Map<string, string>();
  let stop = false;
  let i = 0;
  const failures: unknown[] = [];
  const loop = (async () => {
    while (!stop) {
      const body = `move-${i++}`;
      const batch = Array.from({ length: 4 }, (_, j) =>
        p
          .send('moves', { key: `${body}-${j}`, body: `${body}-${j}` })
          .then((r) => {
            acked.push(r);
            bodies.set(r.messageId, `${body}-${j}`);
          })
          .catch((err: unknown) => failures.push(err)),
      );
      await Promise.all(batch);
    }
  })();
  await waitFor('some acks', () => Promise.resolve(acked.length >= 40 ? true : undefined));
  cluster.brokers[0].process.child.kill('SIGKILL');
  await cluster.waitAssigned('moves', ['b1']);
  const after = acked.length;
  await waitFor('acks after the takeover', () =>
    Promise.resolve(acked.length >= after + 40 ? true : undefined),
  );
  stop = true;
  await loop;
  expect(failures).toEqual([]);
  for (const r of acked) {
    const rows = await sql<RowDataPacket>(
      cluster.ns.database,
      `SELECT body FROM \`m_moves_${r.partition}\` WHERE id = ?`,
      [r.offset],
    );
    expect(rows.map((x) => Buffer.from(x.body as Buffer).toString())).toEqual([bodies.get(r.messageId)]);
  }
  // The consumer follows its partitions to b1 (routes refreshed after b0 stopped answering).
  await waitFor('every acknowledged message consumed', () =>
    Promise.resolve([...bodies.values()].every((b) => consumed.has(b)) ? true : undefined),
  );
});
