// The REST gateway of a standalone broker on MariaDB, over real sockets: publish (raw and
// batch), pull, ack and nack; every documented error with its status, reason and headers; and
// every answer checked against the OpenAPI document the broker serves (proto/http/openapi.json).
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';
import {
  api,
  brokerOptions,
  dropTestDatabases,
  metricValue,
  proxiedBrokerOptions,
  runBroker,
  testDatabase,
} from '../broker/helpers';
import type { Running, TcpProxy } from '../broker/helpers';
import { waitFor } from '../wait';
import { OPENAPI_FILE } from '../../../broker/server/http-gateway';
import { HTTP_STATUS } from '../../../common/http/problem';
import { REASONS } from '../../../common/errors';
import { openApiChecker } from './openapi';
import type { OpenApiChecker } from './openapi';

jest.setTimeout(60_000);

let running: Running;
let outage: { running: Running; proxy: TcpProxy } | undefined;
let base: string;
let spec: OpenApiChecker;

interface Reply {
  status: number;
  headers: Headers;
  json: unknown;
}

/** A request, its answer checked against the OpenAPI document (operation, status, content type, schema). */
async function call(
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
  at = base,
): Promise<Reply> {
  const method = init.method ?? 'POST';
  const res = await fetch(`${at}${path}`, { method, headers: init.headers, body: init.body });
  return checked(method, path, res.status, res.headers, await res.text());
}

function checked(method: string, path: string, status: number, headers: Headers, text: string): Reply {
  const type = headers.get('content-type') ?? '';
  const json = text === '' ? undefined : type.includes('json') ? (JSON.parse(text) as unknown) : text;
  spec.check(method, path, status, type, json);
  return { status, headers, json };
}

/** A JSON POST through node:http on `agent` (one keep-alive connection), checked like call(). */
function callOn(agent: Agent, at: string, path: string, body: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json' };
    const req = httpRequest(`${at}${path}`, { method: 'POST', headers, agent }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve(checked('POST', path, res.statusCode ?? 0, h, text));
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const messages = (topic: string) => `/v1/namespaces/default/topics/${topic}/messages`;
const group = (topic: string, g: string, op: string) =>
  `/v1/namespaces/default/topics/${topic}/groups/${g}/${op}`;
const json = (body: unknown) => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const batch = (body: unknown) => ({
  headers: { 'content-type': 'application/vnd.herald.batch+json' },
  body: JSON.stringify(body),
});

beforeAll(async () => {
  running = await runBroker(
    brokerOptions(
      testDatabase('http'),
      [
        { name: 'orders', partitions: 4, priority: true, delay: true, maxMessageBytes: 8192 },
        { name: 'small', partitions: 1, maxMessageBytes: 100 },
        { name: 'quiet', partitions: 1, maxMessageBytes: 1024 },
      ],
      { publish: { maxRequestBytes: 16 * 1024 } },
    ),
  );
  base = `http://${running.broker.httpAddress}`;
  const served = await fetch(`${base}/openapi.json`);
  expect(served.status).toBe(200);
  const document = (await served.json()) as object;
  // The served document is the checked-in file.
  expect(document).toEqual(JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')));
  spec = openApiChecker(document);
});
afterAll(async () => {
  await running?.stop();
  await outage?.running.stop();
  await outage?.proxy.stop();
  await dropTestDatabases();
});

test('a raw body publishes one message with its headers; pull, nack, pull again and ack', async () => {
  const published = await call(messages('orders'), {
    headers: {
      'content-type': 'text/plain',
      'herald-partition': '2',
      'herald-key': 'customer-17',
      'herald-ref-key': 'order-1',
      'herald-tags': 'vip, eu',
      'herald-property': 'source=docs',
    },
    body: 'hello',
  });
  expect(published).toMatchObject({
    status: 201,
    json: { topic: 'orders', partition: 2, results: [{ messageId: 'orders/2/1', offset: 1 }] },
  });
  // A second Herald-Property header (percent-encoded) through node:http, which keeps repeats.
  const second = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
    const headers: OutgoingHttpHeaders = {
      'herald-partition': '2',
      'herald-property': ['a=1', 'b%20c=d%3De'],
      'content-type': 'application/octet-stream',
    };
    const req = httpRequest(`${base}${messages('orders')}`, { method: 'POST', headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end(Buffer.from([0, 1, 2, 255]));
  });
  expect(second.status).toBe(201);

  const pulled = await call(
    group('orders', 'billing', 'pull'),
    json({ partition: 2, maxMessages: 10, maxWaitMs: 2000 }),
  );
  expect(pulled.status).toBe(200);
  const got = (pulled.json as { messages: Record<string, unknown>[] }).messages;
  expect(got).toHaveLength(2);
  expect(got[0]).toMatchObject({
    messageId: 'orders/2/1',
    offset: 1,
    key: 'customer-17',
    refKey: 'order-1',
    tags: ['vip', 'eu'],
    properties: { source: 'docs' },
    body: Buffer.from('hello').toString('base64'),
    deliveryAttempt: 1,
    priority: false,
  });
  expect(got[1]).toMatchObject({ offset: 2, properties: { a: '1', 'b c': 'd=e' }, body: 'AAEC/w==' });

  const nacked = await call(
    group('orders', 'billing', 'nack'),
    json({ partition: 2, offsets: [2], delayMs: 0, error: 'boom' }),
  );
  expect(nacked.status).toBe(204);
  const acked = await call(group('orders', 'billing', 'ack'), json({ partition: 2, offsets: [1] }));
  expect(acked).toMatchObject({ status: 200, json: { committedOffset: 2 } });
  const again = await call(group('orders', 'billing', 'pull'), json({ partition: 2, maxWaitMs: 5000 }));
  expect((again.json as { messages: { offset: number; deliveryAttempt: number }[] }).messages).toMatchObject([
    { offset: 2, deliveryAttempt: 2 },
  ]);
  // What gRPC sees is the same store: the group's committed offset.
  const lag = await api(running.clients).getLag({ group: 'billing', topic: 'orders' });
  expect(lag.partitions.find((p) => p.partition === 2)?.committedOffset).toBe(2);
});

test('a JSON batch is stored atomically in one partition, with priority and delayed messages', async () => {
  const res = await call(
    messages('orders'),
    batch({
      key: 'customer-42',
      messages: [
        { text: 'one', refKey: 'r1' },
        { body: Buffer.from('two').toString('base64'), tags: ['x'], priority: true },
      ],
    }),
  );
  expect(res.status).toBe(201);
  const out = res.json as { partition: number; results: { messageId: string; offset: number }[] };
  expect(out.results.map((r) => r.offset)).toEqual([1, 2].map((n) => n + (out.partition === 2 ? 2 : 0)));
  const delayed = await call(
    messages('orders'),
    batch({ partition: 0, messages: [{ text: 'later', delayMs: 60_000 }] }),
  );
  expect(delayed.status).toBe(201);
  const result = (delayed.json as { results: { messageId: string; offset: number; deliverAtMs: number }[] })
    .results[0];
  expect(result.messageId).toMatch(/^orders\/0\/d\d+$/);
  expect(result.offset).toBe(0);
  expect(result.deliverAtMs).toBeGreaterThan(Date.now() + 50_000);
  // The priority message comes first.
  const pulled = await call(
    group('orders', 'prio', 'pull'),
    json({ partition: out.partition, maxMessages: 10, maxWaitMs: 1000 }),
  );
  const bodies = (pulled.json as { messages: { body: string; priority: boolean }[] }).messages;
  expect(bodies[0]).toMatchObject({ body: Buffer.from('two').toString('base64'), priority: true });
});

test('a long poll waits for the message published after it started', async () => {
  const started = Date.now();
  const poll = call(group('orders', 'waiter', 'pull'), json({ partition: 3, maxWaitMs: 10_000 }));
  await new Promise((r) => setTimeout(r, 300));
  await call(messages('orders'), { headers: { 'herald-partition': '3' }, body: 'wake' });
  const res = await poll;
  expect((res.json as { messages: unknown[] }).messages).toHaveLength(1);
  expect(Date.now() - started).toBeLessThan(5_000);
  // And an empty one answers empty after its wait.
  const empty = await call(group('quiet', 'waiter', 'pull'), json({ partition: 0, maxWaitMs: 200 }));
  expect(empty).toMatchObject({ status: 200, json: { messages: [] } });
});

/** Expects a problem+json answer with this status and reason (and the gRPC code of the reason). */
function expectProblem(r: Reply, status: number, reason: string, metadata: Record<string, string> = {}) {
  expect(r.headers.get('content-type')).toBe('application/problem+json');
  expect(r.json).toMatchObject({ status, reason, title: reason, domain: 'herald.dev', metadata });
  expect(r.status).toBe(status);
}

test('every documented error comes back with its status and reason', async () => {
  // 400
  expectProblem(
    await call(messages('orders'), { headers: { 'herald-priority': 'maybe' }, body: 'x' }),
    400,
    'INVALID_REQUEST',
    {
      field: 'Herald-Priority',
    },
  );
  expectProblem(
    await call(messages('orders'), { headers: { 'herald-partition': '9' }, body: 'x' }),
    400,
    'PARTITION_OUT_OF_RANGE',
  );
  expectProblem(
    await call(messages('orders'), { headers: { 'herald-tags': 'bad tag' }, body: 'x' }),
    400,
    'INVALID_REQUEST',
  );
  expectProblem(await call(messages('orders'), batch({ messages: [] })), 400, 'INVALID_REQUEST', {
    field: 'messages',
  });
  expectProblem(await call(messages('orders'), { ...batch({}), body: '{not json' }), 400, 'INVALID_REQUEST', {
    field: 'body',
  });
  expectProblem(await call(messages('orders'), batch({ messages: [{ txt: 'x' }] })), 400, 'INVALID_REQUEST', {
    field: 'messages[0].txt',
  });
  expectProblem(await call(messages('Bad_Name'), { body: 'x' }), 400, 'INVALID_NAME');
  expectProblem(
    await call(group('orders', 'billing', 'pull'), json({ maxWaitMs: 1 })),
    400,
    'INVALID_REQUEST',
    {
      field: 'partition',
    },
  );
  expectProblem(
    await call(group('small', 'g', 'pull'), json({ partition: 0, maxWaitMs: 1, extra: 1 })),
    400,
    'INVALID_REQUEST',
  );
  // 404
  expectProblem(await call(messages('no-such-topic'), { body: 'x' }), 404, 'TOPIC_NOT_FOUND', {
    topic: 'no-such-topic',
  });
  expectProblem(
    await call('/v1/namespaces/elsewhere/topics/orders/messages', { body: 'x' }),
    404,
    'TOPIC_NOT_FOUND',
    {
      namespace: 'elsewhere',
    },
  );
  expectProblem(await call('/v1/nothing', { body: 'x' }), 404, 'INVALID_REQUEST', { field: 'path' });
  // 405
  expectProblem(await call(messages('orders'), { method: 'GET' }), 405, 'INVALID_REQUEST', {
    field: 'method',
  });
  // 409
  expectProblem(
    await call(group('orders', 'billing', 'ack'), json({ partition: 0, offsets: [99] })),
    409,
    'OFFSET_NOT_DELIVERED',
  );
  expectProblem(await call(group('nope', 'g', 'pull'), json({ partition: 0 })), 404, 'TOPIC_NOT_FOUND');
  expectProblem(
    await call(group('nope', 'g', 'ack'), json({ partition: 0, offsets: [1] })),
    404,
    'TOPIC_NOT_FOUND',
  );
  expectProblem(
    await call(group('nope', 'g', 'nack'), json({ partition: 0, offsets: [1] })),
    404,
    'TOPIC_NOT_FOUND',
  );
  expectProblem(
    await call(group('orders', 'g', 'ack'), json({ partition: 0, offsets: 1 })),
    400,
    'INVALID_REQUEST',
    {
      field: 'offsets',
    },
  );
  expectProblem(await call(group('orders', 'g', 'nack'), json({ partition: 0 })), 400, 'INVALID_REQUEST', {
    field: 'offsets',
  });
  expectProblem(
    await call(group('orders', 'g', 'nack'), json({ partition: 0, offsets: [77] })),
    409,
    'OFFSET_NOT_DELIVERED',
  );
  // 413: one message over the topic's maxMessageBytes, a batch over publish.maxRequestBytes, and
  // a body so large that it is refused before it is read.
  expectProblem(await call(messages('small'), { body: 'x'.repeat(200) }), 413, 'MESSAGE_TOO_LARGE', {
    limit: '100',
  });
  const many = { messages: Array.from({ length: 20 }, () => ({ text: 'y'.repeat(1000) })) };
  expectProblem(await call(messages('orders'), batch(many)), 413, 'BATCH_TOO_LARGE', {
    limit: String(16 * 1024),
  });
  const huge = await call(messages('orders'), { body: Buffer.alloc(200 * 1024) });
  expectProblem(huge, 413, 'BATCH_TOO_LARGE', { field: 'body' });
  // Priority and delay on a topic without them.
  expectProblem(
    await call(messages('small'), { headers: { 'herald-delay-ms': '1000' }, body: 'x' }),
    400,
    'INVALID_REQUEST',
  );
  // The table covers every reason, and the gRPC code name matches errors.ts.
  expect(Object.keys(HTTP_STATUS).sort()).toEqual(Object.keys(REASONS).sort());
  const nf = await call(messages('no-such-topic'), { body: 'x' });
  expect(nf.json).toMatchObject({ grpcCode: 'NOT_FOUND' });
});

test('503 STORAGE_UNAVAILABLE with Retry-After while the store is down; served again after it', async () => {
  const { options, proxy } = await proxiedBrokerOptions(testDatabase('http-outage'), [
    { name: 'orders', partitions: 1 },
  ]);
  outage = { running: await runBroker(options), proxy };
  const at = `http://${outage.running.broker.httpAddress}`;
  expect((await call(messages('orders'), { body: 'before' }, at)).status).toBe(201);
  await proxy.stop();
  const refused = await waitFor('a publish refused', async () => {
    const r = await call(messages('orders'), { body: 'during' }, at);
    return r.status === 503 ? r : undefined;
  });
  expectProblem(refused, 503, 'STORAGE_UNAVAILABLE');
  expect(refused.headers.get('retry-after')).toBe('1');
  await proxy.start();
  await waitFor('publishing again', async () =>
    (await call(messages('orders'), { body: 'after' }, at)).status === 201 ? true : undefined,
  );
});

test('a broker shutting down answers pull, ack and nack on its open connections 503 SHUTTING_DOWN; what was acked stays acked, the rest is delivered again after a restart', async () => {
  const options = brokerOptions(testDatabase('http-stop'), [{ name: 'orders', partitions: 2 }]);
  const first = await runBroker(options);
  let at = `http://${first.broker.httpAddress}`;
  for (const text of ['acked', 'not-acked'])
    expect(
      (await call(messages('orders'), { headers: { 'herald-partition': '0' }, body: text }, at)).status,
    ).toBe(201);
  const pull = group('orders', 'stopping', 'pull');
  const taken = await call(
    pull,
    json({ partition: 0, maxMessages: 2, maxWaitMs: 2000, ackTimeoutMs: 60_000 }),
    at,
  );
  expect((taken.json as { messages: unknown[] }).messages).toHaveLength(2);
  expect(
    (await call(group('orders', 'stopping', 'ack'), json({ partition: 0, offsets: [1] }), at)).status,
  ).toBe(200);

  // A client's keep-alive connection is busy with a long poll when the shutdown starts: the
  // requests it sends next on that connection reach the stopping broker (new connections are
  // refused). They queue on the one socket and go out as the long poll ends.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const metrics = first.broker.metricsAddress;
  const poll = callOn(agent, at, pull, { partition: 1, maxWaitMs: 30_000 });
  const next = [
    callOn(agent, at, pull, { partition: 0, maxWaitMs: 0 }),
    callOn(agent, at, group('orders', 'stopping', 'ack'), { partition: 0, offsets: [2] }),
    callOn(agent, at, group('orders', 'stopping', 'nack'), { partition: 0, offsets: [2] }),
  ];
  await waitFor('the long poll waiting', async () =>
    (await metricValue(metrics, 'herald_waiting_pulls')) === 1 ? true : undefined,
  );
  const stopped = first.stop();
  // The long poll ends at once, empty.
  expect(await poll).toMatchObject({ status: 200, json: { messages: [] } });
  for (const refused of await Promise.all(next)) {
    expectProblem(refused, 503, 'SHUTTING_DOWN');
    expect(refused.headers.get('retry-after')).toBe('1');
  }
  agent.destroy();
  await stopped;

  // Restarted on the same database: offset 1 stays acked, offset 2 comes again.
  const second = await runBroker(options);
  try {
    at = `http://${second.broker.httpAddress}`;
    const again = await call(pull, json({ partition: 0, maxMessages: 10, maxWaitMs: 2000 }), at);
    const got = (again.json as { messages: { offset: number; body: string }[] }).messages;
    expect(got.map((m) => [m.offset, Buffer.from(m.body, 'base64').toString()])).toEqual([[2, 'not-acked']]);
  } finally {
    await second.stop();
  }
});

test('the answers seen cover what the document lists, but those shown elsewhere', () => {
  // Shown elsewhere: 401 and 403 (security.test.ts); 429 and Pull's 409 LEASE_EXPIRED
  // (lease-mode.test.ts); Pull, Ack and Nack answer 503 for NOT_PARTITION_OWNER and
  // AUTHENTICATION_UNAVAILABLE too.
  const shownHere: Record<string, string[]> = {
    Publish: ['201', '400', '404', '413', '503'],
    Pull: ['200', '400', '404', '503'],
    Ack: ['200', '400', '404', '409', '503'],
    Nack: ['204', '400', '404', '409', '503'],
  };
  for (const [operation, statuses] of Object.entries(shownHere)) {
    for (const s of statuses) expect(spec.documented().get(operation)?.has(s)).toBe(true);
    expect([operation, [...(spec.seen.get(operation) ?? [])].sort()]).toEqual([
      operation,
      expect.arrayContaining(statuses),
    ]);
  }
});

test('requests are counted by operation and status', async () => {
  const metrics = running.broker.metricsAddress;
  expect(
    await metricValue(metrics, 'herald_http_server_handled_total{operation="Publish",status="201"}'),
  ).toBeGreaterThan(0);
  expect(
    await metricValue(metrics, 'herald_http_server_handled_total{operation="Publish",status="404"}'),
  ).toBeGreaterThan(0);
  expect(await metricValue(metrics, 'herald_http_server_handled_total{operation="none",status="404"}')).toBe(
    1,
  );
});
