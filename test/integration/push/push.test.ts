// Push subscriptions end to end against real HTTP subscribers started here: one standalone
// broker on the real MariaDB with three push groups, each with its own topic and path on one
// local HTTP server. The subscriber checks every request's signature with the function
// docs/push.md shows. Covered: ordered delivery, once each, one request per partition at a
// time; every kind of answer (2xx, 4xx, 5xx, timeouts, Retry-After) and where it ends; the
// adaptive rate through 50 % failures, timeouts and recovery, with nothing lost.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { api, body, brokerOptions, dropTestDatabases, runBroker, testDatabase } from '../broker/helpers';
import type { Running } from '../broker/helpers';
import { waitFor } from '../wait';
import { createCa, issue } from '../../../operator/ca/ca';
import { startSubscriber } from './subscriber';
import type { Received, Subscriber } from './subscriber';

const KEY = 'push-test-signing-key-0123456789';

let sub: Subscriber;
/** An HTTPS subscriber whose certificate a test CA signed. */
let secureSub: Subscriber;
let running: Running;
let metricsAddress: string;

const push = (url: string, extra: Record<string, unknown> = {}) => ({
  url,
  signingKey: KEY,
  keyId: 'k1',
  ...extra,
});

beforeAll(async () => {
  sub = await startSubscriber({ k1: KEY });
  const base = sub.url;
  const ca = await createCa('push test CA', 1);
  const cert = await issue(ca, {
    commonName: 'subscriber',
    ipAddresses: ['127.0.0.1'],
    server: true,
    days: 1,
  });
  secureSub = await startSubscriber({ k1: KEY }, cert);
  const database = testDatabase('push');
  running = await runBroker(
    brokerOptions(
      database,
      [
        { name: 'p-order', partitions: 2 },
        { name: 'p-codes', partitions: 1 },
        { name: 'p-flappy', partitions: 1 },
        { name: 'p-batch', partitions: 1 },
        { name: 'p-tls', partitions: 1 },
        { name: 'p-untrusted', partitions: 1 },
      ],
      {
        groups: {
          inorder: {
            topic: 'p-order',
            ordering: 'ordered',
            push: push(`${base}/inorder`, { maxInFlight: 50 }),
          },
          codes: {
            topic: 'p-codes',
            retry: { delaysMs: [100], maxRetries: 2 },
            push: push(`${base}/codes`, { timeoutMs: 300 }),
          },
          batched: {
            topic: 'p-batch',
            push: push(`${base}/batched`, { batch: { maxMessages: 10, maxDelayMs: 300 } }),
          },
          // HTTPS to the test CA's subscriber: trusted through push.ca; without it (the system
          // CAs), the certificate does not verify.
          secure: { topic: 'p-tls', push: push(`${secureSub.url}/secure`, { ca: ca.cert }) },
          untrusted: {
            topic: 'p-untrusted',
            retry: { delaysMs: [100], maxRetries: 1 },
            push: push(`${secureSub.url}/untrusted`),
          },
          flappy: {
            topic: 'p-flappy',
            retry: { exponential: { initialMs: 100, multiplier: 2, maxMs: 800 }, maxRetries: 4 },
            push: push(`${base}/flappy`, { timeoutMs: 300, rate: 200 }),
          },
        },
        push: { reconcileIntervalMs: 100, ratePeriodMs: 200, heartbeatIntervalMs: 1500 },
        trace: { flushIntervalMs: 50 },
      },
    ),
  );
  metricsAddress = running.broker.metricsAddress;
});

afterAll(async () => {
  await running?.stop();
  await sub?.close();
  await secureSub?.close();
  await dropTestDatabases();
});

const requestsTo = (path: string) => sub.received.filter((r) => r.path === path);
const offsetOf = (r: Received) => Number(r.headers['herald-offset']);

async function publish(topic: string, bodies: string[], partition = 0): Promise<void> {
  await api(running.clients).publish({ topic, partition, messages: bodies.map((b) => body(b)) });
}

async function lag(group: string, topic: string): Promise<number> {
  const r = await api(running.clients).getLag({ group, topic });
  return r.partitions.reduce((n, p) => n + Number(p.lag) + p.inFlight, 0);
}

async function deadLetters(group: string, topic: string) {
  return (await api(running.clients).listDeadLetters({ filter: { group, topic }, pageSize: 1000 }))
    .deadLetters;
}

/** The adaptive rate of a group's partition 0, from the broker's /metrics. */
async function pushRate(group: string): Promise<number> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('herald_push_rate{') && l.includes(`group="${group}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

test('a subscriber that answers 200: every message once, in order, one request per partition at a time, each signed', async () => {
  sub.behaviours.set('/inorder', () => ({ status: 200 }));
  for (const partition of [0, 1])
    await publish(
      'p-order',
      Array.from({ length: 30 }, (_, i) => `m${partition}-${i}`),
      partition,
    );
  await waitFor('60 pushed and acknowledged', async () =>
    requestsTo('/inorder').length >= 60 && (await lag('inorder', 'p-order')) === 0 ? true : undefined,
  );
  const got = requestsTo('/inorder');
  expect(got).toHaveLength(60);
  for (const partition of [0, 1]) {
    const mine = got.filter((r) => r.headers['herald-partition'] === String(partition));
    expect(mine.map(offsetOf)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(mine.map((r) => r.body.toString())).toEqual(
      Array.from({ length: 30 }, (_, i) => `m${partition}-${i}`),
    );
    expect(sub.maxConcurrent.get(`/inorder/${partition}`)).toBe(1);
  }
  expect(got[0].headers).toMatchObject({
    'herald-message-id': 'p-order/0/1',
    'herald-topic': 'p-order',
    'herald-group': 'inorder',
    'herald-attempt': '1',
    'content-type': 'application/octet-stream',
  });
  expect(sub.badSignatures()).toBe(0);
  // A changed body (or another key) fails the documented check.
  const { headers, body: sent } = got[0];
  const signature = String(headers['herald-signature']);
  expect(sub.verify(signature, sent, { k1: KEY })).toBe(true);
  expect(sub.verify(signature, Buffer.concat([sent, Buffer.from('!')]), { k1: KEY })).toBe(false);
  expect(sub.verify(signature, sent, { k1: 'another-key-0123456789' })).toBe(false);
  expect(sub.verify(signature, sent, { k2: KEY })).toBe(false);
});

test('each answer ends where docs/push.md says: ack, retry, dead letter at once, Retry-After honoured', async () => {
  sub.behaviours.set('/codes', (r, attempt) => {
    switch (r.body.toString()) {
      case 'bad':
        return { status: 400 };
      case 'flaky':
        return { status: attempt === 1 ? 500 : 200 };
      case 'always500':
        return { status: 500 };
      case 'slow':
        return 'hang';
      case 'later':
        return attempt === 1 ? { status: 503, headers: { 'Retry-After': '1' } } : { status: 200 };
      default:
        return { status: 200 };
    }
  });
  await publish('p-codes', ['ok', 'bad', 'flaky', 'always500', 'slow', 'later']);
  const letters = await waitFor(
    'three dead letters and nothing in flight',
    async () => {
      const dl = await deadLetters('codes', 'p-codes');
      return dl.length === 3 && (await lag('codes', 'p-codes')) === 0 ? dl : undefined;
    },
    { timeoutMs: 30_000 },
  );
  const byOffset = new Map(letters.map((d) => [Number(d.message!.offset), d]));
  expect(byOffset.get(2)).toMatchObject({ reason: 'rejected', attempts: 1, lastError: 'HTTP 400' });
  expect(byOffset.get(4)).toMatchObject({ reason: 'max-retries', attempts: 3, lastError: 'HTTP 500' });
  expect(byOffset.get(5)).toMatchObject({
    reason: 'max-retries',
    attempts: 3,
    lastError: 'timeout after 300 ms',
  });
  const attemptsOf = (offset: number) => requestsTo('/codes').filter((r) => offsetOf(r) === offset);
  expect(attemptsOf(1).map((r) => r.status)).toEqual([200]);
  expect(attemptsOf(2).map((r) => r.status)).toEqual([400]);
  expect(attemptsOf(3).map((r) => [r.headers['herald-attempt'], r.status])).toEqual([
    ['1', 500],
    ['2', 200],
  ]);
  const later = attemptsOf(6);
  expect(later.map((r) => r.status)).toEqual([503, 200]);
  expect(later[1].at - later[0].at).toBeGreaterThanOrEqual(1000);
  // Meanwhile the partition sent nothing else (what was in flight with the 503 aside).
  expect(requestsTo('/codes').filter((r) => r.at > later[0].at + 100 && r.at < later[0].at + 950)).toEqual(
    [],
  );

  // Every attempt is traced with its HTTP status.
  const events = await waitFor('the trace of the flaky message', async () => {
    const t = await api(running.clients).trace({ messageId: 'p-codes/0/3' });
    const pushes = t.events.filter((e) => e.event === 'push-attempt');
    return pushes.length === 2 && t.events.some((e) => e.event === 'acked') ? t.events : undefined;
  });
  expect(
    events.filter((e) => e.event === 'push-attempt').map((e) => [e.attempt, e.detail.status, e.detail.error]),
  ).toEqual([
    [1, '500', 'HTTP 500'],
    [2, '200', undefined],
  ]);
  const requests = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  expect(requests).toMatch(/herald_push_requests_total\{topic="p-codes",group="codes",code="timeout"\} 3/);

  // As an operator reads them: the real CLI, its table's push-attempt lines.
  const endpoint = new URL(sub.url).host;
  const lines = (await heraldCli(['trace', 'p-codes/0/3'])).split('\n');
  const attempts = lines.filter((l) => l.includes(' push-attempt '));
  expect(attempts).toHaveLength(2);
  expect(attempts[0]).toMatch(new RegExp(`  codes {2,}1 .* HTTP 500 in \\d+ ms from ${endpoint}$`));
  expect(attempts[1]).toMatch(new RegExp(`  codes {2,}2 .* HTTP 200 in \\d+ ms from ${endpoint}$`));
});

/** `bin/herald <args>` against the broker; its standard output (a non-zero exit fails). */
function heraldCli(args: string[]): Promise<string> {
  const env = { ...process.env, HERALD_BROKER: running.broker.address };
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(__dirname, '..', '..', '..', 'bin', 'herald'), ...args],
      { env },
      (err, out, errOut) =>
        err ? reject(new Error(`herald ${args.join(' ')}: ${err.message}\n${errOut}`)) : resolve(out),
    );
  });
}

test("HTTPS: delivered over verified TLS with the group's CA; a certificate that does not verify gets nothing, and says why", async () => {
  secureSub.behaviours.set('/secure', () => ({ status: 200 }));
  secureSub.behaviours.set('/untrusted', () => ({ status: 200 }));
  await publish('p-tls', ['over tls']);
  await publish('p-untrusted', ['never sent']);
  await waitFor('pushed over TLS', async () =>
    secureSub.received.some((r) => r.path === '/secure') && (await lag('secure', 'p-tls')) === 0
      ? true
      : undefined,
  );
  expect(secureSub.received.find((r) => r.path === '/secure')?.body.toString()).toBe('over tls');
  expect(secureSub.badSignatures()).toBe(0);

  const [letter] = await waitFor("the untrusted endpoint's message dead-lettered", async () => {
    const dl = await deadLetters('untrusted', 'p-untrusted');
    return dl.length === 1 ? dl : undefined;
  });
  expect(letter).toMatchObject({ reason: 'max-retries', attempts: 2 });
  expect(letter.lastError).toMatch(/^TLS error UNABLE_TO_VERIFY_LEAF_SIGNATURE: /);
  // Not one request reached the endpoint: no fallback to an unverified connection.
  expect(secureSub.received.filter((r) => r.path === '/untrusted')).toEqual([]);
  const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  expect(metrics).toMatch(/herald_push_requests_total\{topic="p-untrusted",group="untrusted",code="tls"\} 2/);
  const attempts = (await heraldCli(['trace', 'p-untrusted/0/1']))
    .split('\n')
    .filter((l) => l.includes(' push-attempt '));
  expect(attempts).toHaveLength(2);
  for (const l of attempts)
    expect(l).toMatch(
      / no answer in \d+ ms from 127\.0\.0\.1:\d+: TLS error UNABLE_TO_VERIFY_LEAF_SIGNATURE: /,
    );
});

test('batches: JSON of up to maxMessages, cut after maxDelayMs, acknowledged as a whole', async () => {
  sub.behaviours.set('/batched', () => ({ status: 200 }));
  for (let i = 0; i < 25; i++) await publish('p-batch', [`b${i}`]);
  await waitFor('25 pushed in batches and acknowledged', async () =>
    (await lag('batched', 'p-batch')) === 0 && requestsTo('/batched').length > 0 ? true : undefined,
  );
  const batches = requestsTo('/batched').map((r) => {
    expect(r.headers['content-type']).toBe('application/vnd.herald.push-batch+json');
    return (JSON.parse(r.body.toString()) as { messages: { id: string; offset: number; body: string }[] })
      .messages;
  });
  const all = batches.flat();
  expect(all.map((m) => Buffer.from(m.body, 'base64').toString())).toEqual(
    Array.from({ length: 25 }, (_, i) => `b${i}`),
  );
  expect(all.map((m) => m.id)).toEqual(Array.from({ length: 25 }, (_, i) => `p-batch/0/${i + 1}`));
  expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(10);
  // Published one by one, yet batched: fewer requests than messages.
  expect(batches.length).toBeLessThan(25);
  expect(sub.badSignatures()).toBe(0);
});

test('50 % failures, then timeouts, then recovery: the rate falls to a heartbeat and recovers, attempts back off, nothing is lost', async () => {
  let mode: 'half' | 'hang' | 'ok' = 'half';
  let n = 0;
  sub.behaviours.set('/flappy', () => {
    if (mode === 'hang') return 'hang';
    if (mode === 'half') return { status: n++ % 2 === 0 ? 500 : 200 };
    return { status: 200 };
  });
  const ceiling = 200;
  await waitFor(
    'the pusher started',
    async () => ((await pushRate('flappy')) === ceiling ? true : undefined),
    {
      intervalMs: 50,
    },
  );
  await publish(
    'p-flappy',
    Array.from({ length: 300 }, (_, i) => `f${i}`),
  );
  await waitFor(
    'the rate falls under half failures',
    async () => ((await pushRate('flappy')) < ceiling / 2 ? true : undefined),
    { intervalMs: 50 },
  );
  mode = 'hang';
  // Down: only a heartbeat (one request per 1.5 s, i.e. 0.67 messages/s).
  await waitFor(
    'the endpoint counts as down',
    async () => ((await pushRate('flappy')) < 1 ? true : undefined),
    {
      intervalMs: 50,
    },
  );
  const downAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const duringDown = requestsTo('/flappy').filter((r) => r.at >= downAt + 100 && r.at < downAt + 3000);
  // Heartbeats only: at most one per 1.5 s (plus one at the edge).
  expect(duringDown.length).toBeLessThanOrEqual(3);
  mode = 'ok';
  await publish(
    'p-flappy',
    Array.from({ length: 200 }, (_, i) => `g${i}`),
  );
  await waitFor(
    'everything settled',
    async () => ((await lag('flappy', 'p-flappy')) === 0 ? true : undefined),
    {
      timeoutMs: 40_000,
    },
  );
  expect(await pushRate('flappy')).toBeGreaterThan(ceiling / 2);

  // Nothing lost: every offset was answered 200 or is a dead letter with its last status.
  const letters = await deadLetters('flappy', 'p-flappy');
  for (const d of letters) expect(d.lastError).toMatch(/^(HTTP 500|timeout after 300 ms)$/);
  const acked = new Set(
    requestsTo('/flappy')
      .filter((r) => r.status === 200)
      .map(offsetOf),
  );
  const dead = new Set(letters.map((d) => Number(d.message!.offset)));
  for (let offset = 1; offset <= 500; offset++)
    expect([offset, acked.has(offset) || dead.has(offset)]).toEqual([offset, true]);
  // Attempts back off: retry n comes at least 100 * 2^(n-1) ms after the attempt before it.
  const byOffset = new Map<number, number[]>();
  for (const r of requestsTo('/flappy'))
    byOffset.set(offsetOf(r), [...(byOffset.get(offsetOf(r)) ?? []), r.at]);
  let retried = 0;
  for (const times of byOffset.values()) {
    for (let i = 1; i < times.length; i++) {
      expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(Math.min(800, 100 * 2 ** (i - 1)) - 5);
      retried++;
    }
  }
  expect(retried).toBeGreaterThan(0);
});
