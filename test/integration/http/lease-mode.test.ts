// The REST gateway in lease mode: three broker processes under a real operator, and an HTTP
// client that knows only the first broker. Publishes, pulls, acks and nacks on partitions
// other brokers own are forwarded to the owner as gRPC calls are; a rate-limited topic answers
// 429 with Retry-After; a partition a consumer holds a lease on refuses a pull without that
// lease (409 LEASE_EXPIRED) and serves one with it.
import type { JoinGroupResponse } from '../../../proto/gen/herald/v1/JoinGroupResponse';
import { startLeaseCluster } from '../leases/helpers';
import type { LeaseCluster } from '../leases/helpers';
import { openApiChecker } from './openapi';
import type { OpenApiChecker } from './openapi';

jest.setTimeout(240_000);

let cluster: LeaseCluster | undefined;
let spec: OpenApiChecker;

afterAll(async () => {
  await cluster?.stop();
});

interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function call(base: string, path: string, init: { headers?: Record<string, string>; body: string }) {
  const res = await fetch(`${base}${path}`, { method: 'POST', ...init });
  const text = await res.text();
  const json = (text === '' ? undefined : JSON.parse(text)) as Record<string, unknown>;
  spec.check('POST', path, res.status, res.headers.get('content-type') ?? '', json);
  return { status: res.status, headers: res.headers, json };
}

test('any broker serves any partition over HTTP; rate limits and consumer leases hold', async () => {
  cluster = await startLeaseCluster({
    prefix: 'httpl',
    brokers: 3,
    topics: [
      { name: 'orders', partitions: 12 },
      { name: 'limited', partitions: 1, extra: '  rateLimit: {messagesPerSecond: 1, burst: 1}' },
    ],
    groups: [
      { name: 'billing', topic: 'orders', spec: 'retry: {delaysSeconds: [0]}' },
      { name: 'leased', topic: 'orders' },
    ],
  });
  const ids = cluster.brokers.map((b) => b.id);
  const routes = await cluster.waitBalanced('orders', ids);
  await cluster.waitAssigned('limited', ids);
  const entry = cluster.brokers[0];
  const base = `http://${entry.process.httpAddress}`;
  spec = openApiChecker((await (await fetch(`${base}/openapi.json`)).json()) as object);
  const ns = cluster.ns.name;
  const messages = (topic: string) => `/v1/namespaces/${ns}/topics/${topic}/messages`;
  const op = (g: string, name: string) => `/v1/namespaces/${ns}/topics/orders/groups/${g}/${name}`;
  const json = (body: unknown) => ({
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

  const foreign = routes.filter((r) => r.brokerId !== entry.id).map((r) => r.partition);
  expect(foreign.length).toBeGreaterThanOrEqual(6);
  for (let p = 0; p < 12; p++) {
    const r = await call(base, messages('orders'), {
      headers: { 'herald-partition': String(p) },
      body: `m${p}`,
    });
    expect(r).toMatchObject({ status: 201, json: { partition: p, results: [{ offset: 1 }] } });
  }
  // By key and round-robin as well.
  const keyed = await call(base, messages('orders'), { headers: { 'herald-key': 'customer-17' }, body: 'k' });
  expect(keyed.status).toBe(201);

  for (const p of foreign) {
    const pulled = await call(
      base,
      op('billing', 'pull'),
      json({ partition: p, maxMessages: 5, maxWaitMs: 5000 }),
    );
    const got = pulled.json.messages as { offset: number; body: string }[];
    expect(Buffer.from(got[0].body, 'base64').toString()).toBe(`m${p}`);
    expect(
      (await call(base, op('billing', 'ack'), json({ partition: p, offsets: [got[0].offset] }))).json,
    ).toEqual({
      committedOffset: got[0].offset,
    });
  }
  // A nack on a foreign partition, then the retry comes back through the forwarder too.
  const p = foreign[0];
  await call(base, messages('orders'), { headers: { 'herald-partition': String(p) }, body: 'again' });
  const first = await call(base, op('billing', 'pull'), json({ partition: p, maxWaitMs: 5000 }));
  const offset = (first.json.messages as { offset: number }[])[0].offset;
  expect(
    (await call(base, op('billing', 'nack'), json({ partition: p, offsets: [offset], delayMs: 0 }))).status,
  ).toBe(204);
  const retried = await call(base, op('billing', 'pull'), json({ partition: p, maxWaitMs: 5000 }));
  expect(retried.json.messages).toMatchObject([{ offset, deliveryAttempt: 2 }]);
  // The owner's refusal comes back unchanged through the forwarder.
  const undelivered = await call(base, op('billing', 'ack'), json({ partition: p, offsets: [999] }));
  expect(undelivered).toMatchObject({ status: 409, json: { reason: 'OFFSET_NOT_DELIVERED' } });

  // 429: one message per second for the whole topic.
  let limited: Reply | undefined;
  for (let i = 0; i < 20 && !limited; i++) {
    const r = await call(base, messages('limited'), { body: `x${i}` });
    if (r.status === 429) limited = r;
    else expect(r.status).toBe(201);
  }
  expect(limited).toMatchObject({ json: { reason: 'RATE_LIMITED', grpcCode: 'RESOURCE_EXHAUSTED' } });
  const waitMs = Number((limited!.json.metadata as Record<string, string>).retry_after_ms);
  expect(Number(limited!.headers.get('retry-after'))).toBe(Math.max(1, Math.ceil(waitMs / 1000)));

  // A consumer joins group `leased` and holds every partition's lease.
  const leases =
    (
      await cluster.meta.call<JoinGroupResponse>((m, cb) =>
        m.joinGroup({ namespace: ns, group: 'leased', consumerId: 'script-1', zone: '' }, cb),
      )
    ).assignment?.leases ?? [];
  const lease = leases.find((l) => l.partition === p)!;
  const without = await call(base, op('leased', 'pull'), json({ partition: p, maxWaitMs: 0 }));
  expect(without).toMatchObject({ status: 409, json: { reason: 'LEASE_EXPIRED' } });
  const claim = { consumerId: 'script-1', leaseEpoch: Number(lease.epoch) };
  const withLease = await call(base, op('leased', 'pull'), json({ partition: p, maxWaitMs: 5000, ...claim }));
  expect(withLease.status).toBe(200);
  expect((withLease.json.messages as unknown[]).length).toBeGreaterThan(0);
  expect(spec.seen.get('Publish')?.has('429')).toBe(true);
  expect(spec.seen.get('Pull')?.has('409')).toBe(true);
});
