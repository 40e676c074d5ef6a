// The herald CLI as a user runs it: `node bin/herald ...` in a child process against a
// lease-mode cluster (the operator and one broker process), reading stdin and files, printing
// tables or JSON lines, and exiting with the documented codes.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../wait';
import { api } from '../broker/helpers';
import { startLeaseCluster } from '../leases/helpers';
import type { LeaseCluster } from '../leases/helpers';

jest.setTimeout(180_000);

const root = join(__dirname, '..', '..', '..');
let cluster: LeaseCluster;

beforeAll(async () => {
  cluster = await startLeaseCluster({
    prefix: 'cli',
    brokers: 1,
    topics: [
      { name: 'orders', partitions: 2, extra: "  owner: shop-team\n  contact: '#shop-oncall'" },
      { name: 'jobs', partitions: 2 },
    ],
    groups: [
      { name: 'readers', topic: 'orders' },
      // Given up at the first failure: dead-lettered at once.
      { name: 'fragile', topic: 'jobs', spec: 'retry: {delaysSeconds: [0], maxRetries: 0}' },
    ],
  });
  await cluster.waitAssigned('orders', ['b0']);
  await cluster.waitAssigned('jobs', ['b0']);
});

afterAll(async () => {
  await cluster?.stop();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function herald(args: string[], input?: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'herald'), ...args], {
      cwd: root,
      env: {
        ...process.env,
        HERALD_META: cluster.operator.metaAddress,
        HERALD_NAMESPACE: cluster.ns.name,
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input ?? '');
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('publish from stdin (one message per line) and from a file, consume them as JSON lines', async () => {
  const fromStdin = await herald(
    ['publish', 'orders', '--lines', '--key', 'c-1', '--tag', 'cli', '-o', 'json'],
    'one\ntwo\nthree\n',
  );
  expect(fromStdin.stderr).toContain('published 3 of 3 messages to orders');
  expect(fromStdin.code).toBe(0);
  const published = jsonLines(fromStdin.stdout);
  expect(published).toHaveLength(3);
  expect(new Set(published.map((p) => p.partition)).size).toBe(1);
  expect(published.map((p) => p.messageId)).toEqual(
    published.map((p) => `orders/${String(p.partition)}/${String(p.offset)}`),
  );

  const file = join(mkdtempSync(join(tmpdir(), 'herald-cli-')), 'message.txt');
  writeFileSync(file, 'a whole file\nis one message\n');
  const fromFile = await herald([
    'publish',
    'orders',
    '--file',
    file,
    '--ref-key',
    'order-9',
    '--property',
    'src=file',
  ]);
  expect(fromFile.code).toBe(0);
  expect(fromFile.stdout).toMatch(
    /^MESSAGE-ID\s+PARTITION\s+OFFSET\s+DELIVER-AT\norders\/\d\/\d+\s+\d\s+\d+\s+now\n$/,
  );

  const consumed = await herald(['consume', 'orders', '--group', 'readers', '--max', '4', '-o', 'json']);
  expect(consumed.code).toBe(0);
  expect(consumed.stderr).toContain('consumed 4 messages');
  const messages = jsonLines(consumed.stdout);
  expect(messages.map((m) => m.body).sort()).toEqual(['a whole file\nis one message', 'one', 'three', 'two']);
  const fileMessage = messages.find((m) => m.refKey === 'order-9');
  expect(fileMessage).toMatchObject({
    properties: { src: 'file' },
    bodyEncoding: 'utf8',
    deliveryAttempt: 1,
  });
  expect(messages.find((m) => m.body === 'one')).toMatchObject({ key: 'c-1', tags: ['cli'] });

  // Acked: the group's lag drops to zero (offsets are stored every 100 ms).
  await waitFor('lag 0', async () => {
    const lag = await herald(['lag', '--group', 'readers', '--topic', 'orders', '-o', 'json']);
    const rows = jsonLines(lag.stdout);
    return lag.code === 0 && rows.length === 2 && rows.every((r) => r.lag === 0) ? true : undefined;
  });
  const table = await herald(['lag', '--group', 'readers', '--topic', 'orders']);
  const [header, ...rows] = table.stdout.trim().split('\n');
  expect(header).toMatch(/^PARTITION\s+END\s+COMMITTED\s+LAG\s+IN-FLIGHT\s+RETRYING\s+DEAD$/);
  // Everything acked: nothing waits in the resend schedule or lies in the dead-letter table.
  for (const row of rows) expect(row.trim().split(/\s+/).slice(-2)).toEqual(['0', '0']);
  expect(table.stderr).toContain('total lag: 0');

  // Nothing left: without --follow, consume stops after --idle and says so.
  const idle = await herald(['consume', 'orders', '--group', 'readers', '--idle', '500ms']);
  expect(idle).toMatchObject({ code: 0, stdout: '' });
  expect(idle.stderr).toContain('consumed 0 messages');
});

test('trace, dlq list/replay/purge, reset-offsets and topics list against the real brokers', async () => {
  const published = await herald([
    'publish',
    'jobs',
    'poison',
    '--partition',
    '0',
    '--ref-key',
    'r-1',
    '-o',
    'json',
  ]);
  expect(published.code).toBe(0);
  const [{ messageId, offset }] = jsonLines(published.stdout) as { messageId: string; offset: number }[];
  // The group fails the message once, through the broker's own API: it is dead-lettered.
  const call = api(cluster.brokers[0].clients);
  const pulled = await call.pull({
    group: 'fragile',
    topic: 'jobs',
    partition: 0,
    maxMessages: 100,
    maxWaitMs: 5000,
  });
  expect(pulled.messages.map((m) => m.messageId)).toContain(messageId);
  await call.nack({ group: 'fragile', topic: 'jobs', partition: 0, offsets: [offset], error: 'bad input' });
  for (const m of pulled.messages.filter((d) => d.offset !== offset))
    await call.ack({ group: 'fragile', topic: 'jobs', partition: 0, offsets: [m.offset] });

  const listed = await herald(['dlq', 'list', '--topic', 'jobs', '--group', 'fragile', '-o', 'json']);
  expect(listed.code).toBe(0);
  const letters = jsonLines(listed.stdout);
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({
    reason: 'max-retries',
    attempts: 1,
    lastError: 'bad input',
    message: { messageId, body: 'poison' },
  });

  const replayed = await herald([
    'dlq',
    'replay',
    '--topic',
    'jobs',
    '--group',
    'fragile',
    '--all',
    '-o',
    'json',
  ]);
  expect(jsonLines(replayed.stdout)).toEqual([{ replayed: 1 }]);
  const again = await call.pull({
    group: 'fragile',
    topic: 'jobs',
    partition: 0,
    maxMessages: 10,
    maxWaitMs: 5000,
  });
  expect(again.messages.map((m) => [m.messageId, m.deliveryAttempt])).toEqual([[messageId, 1]]);
  await call.ack({ group: 'fragile', topic: 'jobs', partition: 0, offsets: [offset] });
  const empty = await herald([
    'dlq',
    'purge',
    '--topic',
    'jobs',
    '--group',
    'fragile',
    '--all',
    '-o',
    'json',
  ]);
  expect(jsonLines(empty.stdout)).toEqual([{ purged: 0 }]);

  // Trace events are written in batches: wait for the last one.
  const life = async () =>
    jsonLines((await herald(['trace', messageId, '-o', 'json'])).stdout).map((e) => e.event as string);
  await waitFor('the acked event in the trace', async () =>
    (await life()).includes('acked') ? true : undefined,
  );
  expect(await life()).toEqual([
    'published',
    'stored',
    'delivered',
    'nacked',
    'dead-lettered',
    'replayed',
    'delivered',
    'acked',
  ]);
  const byRef = await herald(['trace', '--ref-key', 'r-1', '--topic', 'jobs']);
  expect(byRef.code).toBe(0);
  expect(byRef.stdout).toContain('dead-lettered');

  const reset = await herald([
    'reset-offsets',
    '--group',
    'fragile',
    '--topic',
    'jobs',
    '--to',
    'earliest',
    '-o',
    'json',
  ]);
  expect(reset.code).toBe(0);
  expect(jsonLines(reset.stdout).map((r) => r.committedOffset)).toEqual([0, 0]);

  const topicsList = await herald(['topics', 'list', '-o', 'json']);
  expect(topicsList.code).toBe(0);
  expect(jsonLines(topicsList.stdout)).toEqual([
    expect.objectContaining({
      name: 'jobs',
      partitions: 2,
      storage: 'mysql',
      groups: ['fragile'],
      owner: '',
    }),
    expect.objectContaining({
      name: 'orders',
      partitions: 2,
      storage: 'mysql',
      groups: ['readers'],
      owner: 'shop-team',
      contact: '#shop-oncall',
    }),
  ]);
  // The table shows who to call about a topic (the Topic's spec.owner and spec.contact).
  const table = await herald(['topics', 'list']);
  expect(table.stdout.split('\n')[0]).toMatch(/GROUPS +OWNER +CONTACT$/);
  expect(table.stdout.split('\n').find((l) => l.startsWith('orders '))).toMatch(
    /readers +shop-team +#shop-oncall$/,
  );
});

test('--broker without a meta-server, and --follow until Ctrl-C', async () => {
  const broker = cluster.brokers[0].address;
  const published = await herald(
    ['publish', 'orders', 'direct', '--partition', '1', '--broker', broker, '-o', 'json'],
    undefined,
    {
      HERALD_META: '',
    },
  );
  expect(published.code).toBe(0);
  expect(jsonLines(published.stdout)[0]).toMatchObject({ partition: 1 });

  // --follow keeps reading until SIGINT, then closes (acks, leaves) and exits 0.
  const child = spawn(
    process.execPath,
    [join(root, 'bin', 'herald'), 'consume', 'orders', '--group', 'readers', '--follow', '-o', 'json'],
    {
      cwd: root,
      env: { ...process.env, HERALD_META: cluster.operator.metaAddress, HERALD_NAMESPACE: cluster.ns.name },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor('the message printed', () =>
    Promise.resolve(stdout.includes('"body":"direct"') ? true : undefined),
  );
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(stderr).toContain('consumed 1 message');
});

test('exit codes: usage errors, an unknown topic or group, an unreachable meta-server', async () => {
  const usage = await herald(['publish']);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain('publish needs a topic');
  expect((await herald(['consume', 'orders'])).code).toBe(2);
  expect((await herald(['publish', 'orders', 'x', '--bogus'])).code).toBe(2);
  const badTag = await herald(['publish', 'orders', 'x', '--tag', 'not valid']);
  expect(badTag.code).toBe(2);
  expect(badTag.stderr).toContain('tags[0]');

  const unknownTopic = await herald(['publish', 'no-such-topic', 'x']);
  expect(unknownTopic.code).toBe(3);
  expect(unknownTopic.stderr).toContain('TOPIC_NOT_FOUND');
  const unknownGroup = await herald(['consume', '--group', 'no-such-group']);
  expect(unknownGroup.code).toBe(3);
  expect(unknownGroup.stderr).toContain('GROUP_NOT_FOUND');

  const unreachable = await herald(['publish', 'orders', 'x', '--timeout', '1s'], undefined, {
    HERALD_META: '127.0.0.1:1',
  });
  expect(unreachable.code).toBe(4);
});
