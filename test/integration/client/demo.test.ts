// `make demo` is the first thing a newcomer runs: examples/demo.sh end to end on the running
// environment (operator, brokers, the CLI round trip), then the console it prints, through its
// JSON API and in Debian's Chromium (playwright-core), against the demo's real operator,
// brokers and apiserver; then `--stop`. The console's screenshots in docs/console/ are taken here.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { Consumer, Producer } from '../../../client';
import { applyHeraldUser, kubectlApply } from '../operator/helpers';
import { runTool } from '../exec';
import { uniqueName } from '../env';
import { waitFor } from '../wait';

jest.setTimeout(480_000);

const root = join(__dirname, '..', '..', '..');
const NS = 'herald-demo';
const STATE =
  process.env.HERALD_STATE ??
  join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'herald');
const CA_FILE = join(STATE, 'run', 'demo-tls', 'ca.crt');
const META = '127.0.0.1:17700';
const SHOTS = join(root, 'docs', 'console');

function demo(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('bash', [join(root, 'examples', 'demo.sh'), ...args], {
      cwd: root,
      env: { ...process.env, ...env },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output, ms: Date.now() - started }));
  });
}

afterAll(async () => {
  await demo(['--stop']);
});

let consoleUrl = '';

test('the demo publishes and consumes through the CLI and prints the console', async () => {
  const run = await demo([]);
  if (run.code !== 0) throw new Error(`demo failed:\n${run.output}`);
  expect(run.output).toContain('published 5 of 5 messages to orders');
  // At least what it published (an interrupted earlier run may have left more).
  expect(Number(/consumed (\d+) messages/.exec(run.output)?.[1])).toBeGreaterThanOrEqual(5);
  expect(run.output).toMatch(/MESSAGE-ID\s+PARTITION\s+OFFSET/);
  expect(run.output).toContain('Try next:');
  // Security is on: the CLI calls with demo-app's token; without one, or outside its rules, it is refused.
  expect(run.output).toMatch(/REFUSED \(publish without a token\): .*CREDENTIALS_MISSING/);
  expect(run.output).toMatch(/REFUSED \(lag of group audit[^)]*\): .*PERMISSION_DENIED/);
  consoleUrl = /The console: (https:\/\/127\.0\.0\.1:\d+)\//.exec(run.output)?.[1] ?? '';
  expect(consoleUrl).not.toBe('');
  // Warm environment: 35-45 s when the demo starts every process (README); the bound leaves
  // room for a busy machine.
  expect(run.ms).toBeLessThan(90_000);
});

// ---- the console ---------------------------------------------------------------------------

interface Answer {
  status: number;
  type: string;
  body: Record<string, unknown>;
}

/** A console API call over HTTPS that trusts the demo's CA. */
function call(path: string, token: string | undefined, method = 'GET', body?: unknown): Promise<Answer> {
  const url = new URL(path, consoleUrl);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: readFileSync(CA_FILE),
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type']),
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function kubectl(...args: string[]): Promise<string> {
  const r = await runTool('kubectl', ['-n', NS, ...args]);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A HeraldUser with these rules (YAML flow) and its token, once the operator issued it. */
async function user(name: string, rules: string): Promise<string> {
  await applyHeraldUser(NS, name, 'token', rules);
  return waitFor(`the token of ${name}`, async () => {
    const r = await runTool('kubectl', [
      '-n',
      NS,
      'get',
      'secret',
      `herald-user-${name}`,
      '-o',
      'jsonpath={.data.token}',
    ]);
    return r.code === 0 && r.stdout !== '' ? Buffer.from(r.stdout, 'base64').toString('utf8') : undefined;
  });
}

describe('the console', () => {
  const DLQ = uniqueName('console-dlq');
  const refKey = uniqueName('console-ref');
  let ops = '';
  let viewer = '';
  let browser: Browser | undefined;
  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  const created: string[] = [];

  beforeAll(async () => {
    if (!consoleUrl) throw new Error('the demo did not run');
    // console-ops administers orders, billing and console-* groups and topics, and sees every
    // topic (like demo-app); console-viewer
    // may only consume orders as billing: it sees them, and is refused every destructive action.
    [ops, viewer] = await Promise.all([
      user(
        'console-ops',
        `[{operations: [publish, consume, admin], topics: [{name: orders}, {prefix: console-}], groups: [{name: billing}, {prefix: console-}]},
          {operations: [admin], topics: [{prefix: ''}]}]`,
      ),
      user(
        'console-viewer',
        '[{operations: [consume], topics: [{name: orders}], groups: [{name: billing}]}]',
      ),
    ]);
    // A group that dead-letters a message at its first failure.
    await kubectlApply(
      NS,
      `apiVersion: herald.dev/v1alpha1
kind: ConsumerGroup
metadata: {name: ${DLQ}}
spec: {topic: orders, startFrom: latest, retry: {delaysSeconds: [1], maxRetries: 0}, deadLetter: {enabled: true}}
`,
    );
    await kubectl('wait', '--for=condition=Ready', '--timeout=60s', `consumergroup/${DLQ}`);
  });

  afterAll(async () => {
    await browser?.close();
    await consumer?.close();
    await producer?.close();
    await runTool('kubectl', [
      '-n',
      NS,
      'delete',
      'heralduser',
      'console-ops',
      'console-viewer',
      '--wait=false',
    ]);
    await runTool('kubectl', ['-n', NS, 'delete', 'consumergroup', DLQ, '--wait=false']);
    for (const t of created) await runTool('kubectl', ['-n', NS, 'delete', 'topic', t, '--wait=false']);
  });

  test('the API refuses calls without a valid token, and calls outside the caller’s rules', async () => {
    const overview = `/api/v1/namespaces/${NS}/overview`;
    const none = await call(overview, undefined);
    expect({ status: none.status, type: none.type, reason: none.body.reason }).toEqual({
      status: 401,
      type: 'application/problem+json',
      reason: 'CREDENTIALS_MISSING',
    });
    expect((await call(overview, 'hrld_not-a-token')).body.reason).toBe('CREDENTIALS_INVALID');
    expect((await call(overview, 'not-a-jwt')).status).toBe(401);

    // The viewer sees what its rules name, and nothing else.
    const seen = await call(overview, viewer);
    expect(seen.status).toBe(200);
    const names = (k: string) => (seen.body[k] as { name: string }[]).map((x) => x.name).sort();
    expect(names('topics')).toEqual(['orders']);
    expect(names('groups')).toEqual(['billing']);
    expect((seen.body.brokers as unknown[]).length).toBeGreaterThan(0);
    expect((await call(`/api/v1/namespaces/${NS}/topics/clicks`, viewer)).body.reason).toBe(
      'PERMISSION_DENIED',
    );

    // The broker decides Admin calls: the viewer has no admin rule.
    const group = await call(`/api/v1/namespaces/${NS}/consumergroups/billing`, viewer);
    expect(group.status).toBe(200);
    expect(group.body.lag).toBeNull();
    expect(group.body.lagError).toMatchObject({ reason: 'PERMISSION_DENIED', status: 403 });
    const reset = await call(`/api/v1/namespaces/${NS}/consumergroups/billing/reset`, viewer, 'POST', {
      target: { earliest: true },
    });
    expect({ status: reset.status, reason: reset.body.reason }).toEqual({
      status: 403,
      reason: 'PERMISSION_DENIED',
    });
    expect(reset.body.detail).toContain('may not admin');
    const dl = await call(`/api/v1/namespaces/${NS}/deadletters?topic=orders&group=billing`, viewer);
    expect(dl.status).toBe(403);
    const trace = await call(`/api/v1/namespaces/${NS}/trace?topic=orders&refKey=x`, viewer);
    expect(trace.status).toBe(403);
    // Reading messages needs consume on the topic: the viewer reads the demo's orders, and
    // console-ops (admin on every topic, consume on orders only) is refused clicks.
    const bodies: string[] = [];
    for (let p = 0; p < 8; p++) {
      const page = await call(
        `/api/v1/namespaces/${NS}/topics/orders/messages?partition=${p}&limit=100`,
        viewer,
      );
      expect(page.status).toBe(200);
      bodies.push(...(page.body.messages as { bodyText?: string }[]).map((m) => m.bodyText ?? ''));
    }
    expect(bodies).toEqual(expect.arrayContaining(['order #1', 'order #5']));
    const clicks = await call(`/api/v1/namespaces/${NS}/topics/clicks/messages?partition=0`, ops);
    expect({ status: clicks.status, reason: clicks.body.reason }).toEqual({
      status: 403,
      reason: 'PERMISSION_DENIED',
    });
    expect(clicks.body.detail).toContain('may not consume');
    const tooMany = await call(
      `/api/v1/namespaces/${NS}/topics/orders/messages?partition=0&limit=101`,
      viewer,
    );
    expect({
      status: tooMany.status,
      field: (tooMany.body.metadata as Record<string, string>).field,
    }).toEqual({
      status: 400,
      field: 'limit',
    });
    const noPartition = await call(`/api/v1/namespaces/${NS}/topics/orders/messages?partition=8`, viewer);
    expect(noPartition.body.reason).toBe('PARTITION_OUT_OF_RANGE');
    // Writes: the console checks the admin rule before it writes with the operator's RBAC.
    const put = await call(`/api/v1/namespaces/${NS}/topics/console-nope`, viewer, 'PUT', {
      kind: 'Topic',
      metadata: { name: 'console-nope' },
      spec: { partitions: 1 },
    });
    expect({ status: put.status, reason: put.body.reason }).toEqual({
      status: 403,
      reason: 'PERMISSION_DENIED',
    });
    expect(await runTool('kubectl', ['-n', NS, 'get', 'topic', 'console-nope'])).toMatchObject({ code: 1 });

    // Allowed calls work; bad input is named; a manifest the apiserver refuses carries its message.
    const lag = await call(`/api/v1/namespaces/${NS}/consumergroups/billing`, ops);
    expect((lag.body.lag as unknown[]).length).toBe(8);
    const empty = await call(`/api/v1/namespaces/${NS}/deadletters/replay`, ops, 'POST', {
      topic: 'orders',
      group: 'billing',
      ids: [],
    });
    expect({ status: empty.status, field: (empty.body.metadata as Record<string, string>).field }).toEqual({
      status: 400,
      field: 'ids',
    });
    const refused = await call(`/api/v1/namespaces/${NS}/topics/console-bad`, ops, 'PUT', {
      kind: 'Topic',
      metadata: { name: 'console-bad' },
      spec: { partitions: 0 },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toMatch(/spec\.partitions.*should be greater than or equal to 1/);
    expect((await call('/api/v1/nowhere', ops)).status).toBe(404);
    const garbled = await call(`/api/v1/namespaces/${NS}/topics/%E0%A4%A`, ops);
    expect({ status: garbled.status, reason: garbled.body.reason }).toEqual({
      status: 400,
      reason: 'INVALID_REQUEST',
    });
    expect((await call(`/api/v1/namespaces/${NS}/overview`, ops, 'DELETE')).status).toBe(405);
    expect((await call('/api/v1/namespaces/other/overview', ops)).body.reason).toBe('INVALID_REQUEST');
  });

  test('in Chromium: sign in, trace, replay a dead letter, reset offsets, create a topic; the viewer is refused', async () => {
    mkdirSync(SHOTS, { recursive: true });
    const security = { caFile: CA_FILE, token: ops };
    producer = new Producer({ meta: [META], namespace: NS, ...security });
    // The first delivery of each message fails (dead-lettered at once); a replayed one is acked.
    const seen = new Set<string>();
    const acked = new Set<string>();
    consumer = new Consumer({ meta: [META], namespace: NS, group: DLQ, maxWaitMs: 500, ...security });
    await consumer.run({
      eachMessage: (m) => {
        if (!seen.has(m.messageId)) {
          seen.add(m.messageId);
          throw new Error('the invoice service refused it');
        }
        acked.add(m.messageId);
      },
    });
    await waitFor('the consumer to hold partitions', () =>
      Promise.resolve(consumer!.assignment().length === 8 ? true : undefined),
    );
    const sentAt = Date.now();
    const sent = await producer.send('orders', { body: 'order #console', key: 'customer-99', refKey });
    await waitFor('the message to be dead-lettered', async () => {
      const r = await call(`/api/v1/namespaces/${NS}/deadletters?topic=orders&group=${DLQ}`, ops);
      const letters = (r.body.deadLetters ?? []) as { message: { messageId: string } }[];
      return letters.some((d) => d.message.messageId === sent.messageId) ? true : undefined;
    });
    // The group's dead letters per partition come with its lag (GetLag).
    const withLetters = await call(`/api/v1/namespaces/${NS}/consumergroups/${DLQ}`, ops);
    const rows = withLetters.body.lag as { partition: number; deadLetters: number; pendingRetries: number }[];
    expect(rows.find((p) => p.partition === sent.partition)?.deadLetters).toBeGreaterThanOrEqual(1);
    expect(withLetters.body.deadLetters).toBe(rows.reduce((n, p) => n + p.deadLetters, 0));

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      // Root (CI) cannot use Chromium's sandbox.
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    // The demo's CA is not in Chromium's store: the certificate is checked by the API calls above.
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1200, height: 900 },
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

    // Sign in (keyboard only), and the demo's data in the overview.
    await page.goto(`${consoleUrl}/`);
    await page.locator('#token').fill(ops);
    await page.locator('#namespace').fill(NS);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: `Overview of ${NS}` }).waitFor();
    for (const name of ['orders', 'clicks', 'billing'])
      await page.getByRole('link', { name, exact: true }).first().waitFor();
    await expectText(page, 'default-broker-0');
    await shot('overview');

    // Trace by ref key: published, stored, delivered, dead-lettered.
    await page.goto(`${consoleUrl}/#/trace?topic=orders&refKey=${refKey}`);
    const timeline = page.getByRole('list', { name: 'timeline' });
    await timeline.waitFor();
    for (const e of ['published', 'stored', 'delivered', 'dead-lettered']) await expectText(timeline, e);
    await shot('trace');

    // Dead letters: inspect, replay the selection with confirmation, and see it delivered and acked.
    await page.goto(`${consoleUrl}/#/deadletters?topic=orders&group=${DLQ}`);
    await page.getByRole('table', { name: 'dead letters' }).waitFor();
    await page.getByRole('button', { name: 'Inspect' }).click();
    await expectText(page, 'the invoice service refused it');
    await page.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Replay selected' }).click();
    await shot('deadletters');
    await page.getByRole('button', { name: 'Yes, replay 1' }).click();
    await expectText(page, 'Replayed 1.');
    await waitFor('the replayed message acked', () =>
      Promise.resolve(acked.has(sent.messageId) ? true : undefined),
    );
    await page.goto(`${consoleUrl}/#/trace?messageId=${encodeURIComponent(sent.messageId)}`);
    await expectText(page.getByRole('list', { name: 'timeline' }), 'acked');

    // The message browser: the topic's partition from a time (keyboard), the message inspected.
    await page.goto(`${consoleUrl}/#/topics/orders`);
    await page.getByRole('link', { name: 'Browse messages' }).click();
    await page.getByRole('table', { name: 'messages' }).waitFor();
    await page.locator('#msg-partition').selectOption(String(sent.partition));
    await page.locator('#msg-time').fill(new Date(sentAt - 1000).toISOString());
    await page.keyboard.press('Enter');
    // By its offset: an earlier run of the demo on the same environment left its own
    // 'order #console' in the topic.
    const found = page
      .getByRole('table', { name: 'messages' })
      .getByRole('row', { name: new RegExp(`^${sent.offset} `) })
      .filter({ hasText: 'order #console' });
    await found.waitFor();
    await found.getByRole('button', { name: /^inspect message/ }).click();
    await page.getByRole('heading', { name: `Message ${sent.messageId}` }).waitFor();
    await expectText(page.getByRole('region', { name: `message ${sent.messageId}` }), 'customer-99');
    await shot('messages');
    // In a narrow window the page still fits.
    await page.setViewportSize({ width: 400, height: 800 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(400);
    await page.setViewportSize({ width: 1200, height: 900 });
    // console-ops may administer clicks but not consume it: the broker refuses the read.
    await page.goto(`${consoleUrl}/#/topics/clicks/messages?partition=0`);
    await expectText(page.getByRole('alert'), 'may not consume');

    // Reset the group to earliest: the preview, then the lag after confirming.
    await consumer.close();
    consumer = undefined;
    await page.goto(`${consoleUrl}/#/groups/${DLQ}`);
    await page.getByRole('table', { name: 'lag per partition' }).waitFor();
    const lagSum = async () => {
      const cells = await page.locator('[data-lag]').allTextContents();
      return cells.reduce((a, c) => a + Number(c), 0);
    };
    const before = await lagSum();
    await page.locator('#reset-to').selectOption('earliest');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByRole('table', { name: 'reset preview' }).waitFor();
    await page.getByRole('button', { name: 'Confirm reset' }).click();
    await expectText(page, 'Offsets reset on 8 partition(s).');
    await waitFor('the lag to grow', async () => ((await lagSum()) > before ? true : undefined));
    // Retries waiting per partition: none left once the replayed message was acked.
    expect(await page.locator('[data-retrying]').allTextContents()).toEqual(new Array(8).fill('0'));
    await shot('group');

    // Create a Topic from the form; the page shows it Ready. A refused manifest shows the apiserver's words.
    const topic = uniqueName('console-t').slice(0, 40);
    created.push(topic);
    await page.goto(`${consoleUrl}/#/new/topic`);
    const manifest = page.getByRole('textbox', { name: 'Topic manifest' });
    await manifest.fill(
      `apiVersion: herald.dev/v1alpha1\nkind: Topic\nmetadata: {name: ${topic}}\nspec: {partitions: 0}\n`,
    );
    await page.getByRole('button', { name: 'Create' }).click();
    await expectText(page.getByRole('alert'), 'should be greater than or equal to 1');
    await manifest.fill(
      `apiVersion: herald.dev/v1alpha1\nkind: Topic\nmetadata: {name: ${topic}}\nspec: {partitions: 2}\n`,
    );
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: `Topic ${topic}` }).waitFor({ timeout: 15_000 });
    await waitFor(
      'the topic Ready on the page',
      async () => {
        const row = page
          .getByRole('table', { name: 'conditions' })
          .getByRole('row')
          .filter({ hasText: /^Ready/ });
        return (await row.count()) > 0 && (await row.first().textContent())?.includes('True')
          ? true
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    await shot('topic');

    // A narrow window still shows everything, in one column.
    await page.setViewportSize({ width: 400, height: 800 });
    await page.goto(`${consoleUrl}/#/overview`);
    await page.getByRole('heading', { name: `Overview of ${NS}` }).waitFor();
    await shot('overview-narrow');

    // The viewer: refused the reset (by the broker) and the dead letters.
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#token').fill(viewer);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: `Overview of ${NS}` }).waitFor();
    await page.goto(`${consoleUrl}/#/groups/billing`);
    await expectText(page.getByRole('alert').first(), 'PERMISSION_DENIED');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expectText(page.getByRole('alert').last(), 'may not admin');
    await shot('refused');
    expect(errors).toEqual([]);
  });
});

async function expectText(scope: Page | ReturnType<Page['locator']>, text: string): Promise<void> {
  await scope.getByText(text).first().waitFor({ timeout: 15_000 });
}

test('the demo stops', async () => {
  const stop = await demo(['--stop']);
  expect(stop.code).toBe(0);
  expect(stop.output).toMatch(/stopped demo-operator/);
  expect(stop.output).toMatch(/stopped demo-broker-0/);
});

test('a failing step stops the demo with the step named, its logs and how to clean up', async () => {
  const run = await demo([], { HERALD_DEMO_NAMESPACE: 'Not_A_Namespace' });
  expect(run.code).toBe(1);
  expect(run.output).toContain('ERROR: the demo failed at: 2/7 CRDs, namespace Not_A_Namespace');
  expect(run.output).toContain('Stop what was started with: examples/demo.sh --stop');
  expect(run.output).not.toContain('Try next:');
});
