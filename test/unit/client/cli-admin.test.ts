// The CLI's Admin and Meta commands (trace, dlq, reset-offsets, topics, lag) against stand-in
// servers on loopback that record what they were asked: the requests the SDK sends and the
// output the CLI prints, ahead of the brokers' own implementations of these calls.
import * as grpc from '@grpc/grpc-js';
import { parseCommandLine } from '../../../client/cli/args';
import { runCommand } from '../../../client/cli/commands';
import { loadMetaProto, loadProtos } from '../../../proto/load';
import type { AdminHandlers } from '../../../proto/gen/herald/v1/Admin';
import type { MetaHandlers } from '../../../proto/gen/herald/v1/Meta';
import type { DeadLetter__Input } from '../../../proto/gen/herald/v1/DeadLetter';

const requests: { method: string; request: unknown }[] = [];
let server: grpc.Server;
let address = '';

const deadLetter = (id: number): DeadLetter__Input => ({
  id,
  group: 'billing',
  reason: 'max-retries',
  attempts: 4,
  lastError: 'boom',
  deadAtMs: Date.parse('2026-05-01T12:00:00Z') + id,
  message: {
    topic: 'orders',
    partition: 1,
    offset: id,
    messageId: `orders/1/${id}`,
    body: Buffer.from(`body ${id}`),
  },
});

beforeAll(async () => {
  const record = (method: string, request: unknown) => requests.push({ method, request });
  const admin: AdminHandlers = {
    GetLag(call, cb) {
      record('GetLag', call.request);
      cb(null, { partitions: [{ partition: 0, endOffset: 10, committedOffset: 7, lag: 3, inFlight: 1 }] });
    },
    ListDeadLetters(call, cb) {
      record('ListDeadLetters', call.request);
      const first = call.request.pageToken === '';
      cb(null, {
        deadLetters: first ? [deadLetter(3), deadLetter(2)] : [deadLetter(1)],
        nextPageToken: first ? 'p2' : '',
      });
    },
    ReplayDeadLetters(call, cb) {
      record('ReplayDeadLetters', call.request);
      cb(null, { replayed: 2 });
    },
    PurgeDeadLetters(call, cb) {
      record('PurgeDeadLetters', call.request);
      cb(null, { purged: 5 });
    },
    Trace(call, cb) {
      record('Trace', call.request);
      if (call.request.messageId === 'orders/1/404') return cb(null, { events: [] });
      cb(null, {
        events: [
          {
            atMs: Date.parse('2026-05-01T12:00:00Z'),
            event: 'published',
            messageId: 'orders/1/7',
            broker: 'b0',
            detail: { producer: '10.0.0.1' },
          },
          {
            atMs: Date.parse('2026-05-01T12:00:01Z'),
            event: 'acked',
            messageId: 'orders/1/7',
            group: 'billing',
            consumerId: 'c1',
            attempt: 1,
            broker: 'b0',
          },
        ],
      });
    },
    Peek(call, cb) {
      record('Peek', call.request);
      cb(null, {
        messages: [7, 8].map((offset) => ({
          topic: 'orders',
          partition: 1,
          offset,
          messageId: `orders/1/${offset}`,
          key: 'k',
          body: Buffer.from(`body ${offset}`),
        })),
        firstOffset: 7,
        endOffset: 20,
        startOffset: 7,
        startMoved: true,
        nextOffset: 9,
      });
    },
    ResetOffsets(call, cb) {
      record('ResetOffsets', call.request);
      cb(null, { partitions: [{ partition: 0, previousOffset: 7, committedOffset: 0 }] });
    },
  };
  const meta: Pick<MetaHandlers, 'GetRoutes' | 'ListTopics'> = {
    GetRoutes(call, cb) {
      record('GetRoutes', call.request);
      cb(null, {
        topic: call.request.topic,
        routes: [0, 1].map((partition) => ({ partition, brokerId: 'b0', address })),
      });
    },
    ListTopics(call, cb) {
      record('ListTopics', call.request);
      cb(null, {
        topics: [
          {
            name: 'orders',
            partitions: 8,
            assignedPartitions: 8,
            storage: 'mysql',
            pool: 'default',
            priority: true,
            retentionHours: 72,
            groups: ['billing', 'audit'],
            owner: 'payments',
            contact: '#payments-oncall',
          },
          // A topic that names no owner: empty columns.
          { name: 'scratch', partitions: 1, assignedPartitions: 0, storage: 'mysql', pool: 'default' },
        ],
      });
    },
  };
  server = new grpc.Server();
  server.addService(loadProtos().grpc.herald.v1.Admin.service, admin);
  server.addService(loadMetaProto().grpc.herald.v1.Meta.service, meta);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(() => server.forceShutdown());

async function herald(line: string): Promise<{ code: number; out: string; err: string }> {
  const { global, command } = parseCommandLine(['--meta', address, '-n', 'shop', ...line.split(' ')], {});
  let out = '';
  let err = '';
  const code = await runCommand(global, command, {
    out: (t) => (out += t),
    err: (t) => (err += t),
    readStdin: () => Promise.resolve(''),
    readFile: () => Promise.resolve(''),
    interrupted: new Promise(() => undefined),
  });
  return { code, out, err };
}

const asked = (method: string) => requests.filter((r) => r.method === method).map((r) => r.request);

beforeEach(() => requests.splice(0));

test('trace by message id and by ref key', async () => {
  const t = await herald('trace orders/1/7');
  expect(t.code).toBe(0);
  expect(t.out.split('\n')).toEqual([
    'TIME                      EVENT      MESSAGE-ID  GROUP    CONSUMER  ATTEMPT  BROKER  DETAIL',
    '2026-05-01T12:00:00.000Z  published  orders/1/7                              b0      producer=10.0.0.1',
    '2026-05-01T12:00:01.000Z  acked      orders/1/7  billing  c1        1        b0',
    '',
  ]);
  expect(asked('Trace')[0]).toMatchObject({ messageId: 'orders/1/7', query: 'messageId' });
  await herald('trace --ref-key order-1 --topic orders --limit 5 -o json');
  expect(asked('Trace')[1]).toMatchObject({ refKey: 'order-1', topic: 'orders', limit: 5, query: 'refKey' });
  expect(asked('GetRoutes')).toContainEqual({ namespace: 'shop', topic: 'orders' });
  const none = await herald('trace orders/1/404');
  expect(none.code).toBe(3);
  expect(none.err).toContain('no trace events');
});

test('dlq list reads every page; replay and purge send the filter', async () => {
  const list = await herald('dlq list --topic orders --group billing --since 2026-05-01T00:00:00Z -o json');
  expect(list.code).toBe(0);
  const rows = list.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: number; message: { body: string } });
  expect(rows.map((r) => r.id)).toEqual([3, 2, 1]);
  expect(rows[0].message.body).toBe('body 3');
  expect(asked('ListDeadLetters').map((r) => (r as { pageToken: string }).pageToken)).toEqual(['', 'p2']);
  expect(asked('ListDeadLetters')[0]).toMatchObject({
    filter: {
      topic: 'orders',
      group: 'billing',
      sinceMs: Date.parse('2026-05-01T00:00:00Z'),
      untilMs: 0,
      ids: [],
    },
    pageSize: 100,
  });
  const limited = await herald('dlq list --topic orders --group billing --limit 2');
  expect(limited.out.trim().split('\n')).toHaveLength(3); // header + 2
  expect(limited.out).toMatch(
    /^ID\s+MESSAGE-ID\s+DEAD-AT\s+ATTEMPTS\s+REASON\s+LAST-ERROR\s+BODY\n3\s+orders\/1\/3\s/,
  );

  const replay = await herald('dlq replay 4 5 --topic orders --group billing');
  expect(replay.out).toBe('replayed 2 dead letters\n');
  expect(asked('ReplayDeadLetters')[0]).toMatchObject({
    filter: { ids: [4, 5], topic: 'orders', group: 'billing' },
  });
  const purge = await herald('dlq purge --topic orders --group billing --all -o json');
  expect(purge.out).toBe('{"purged":5}\n');
  expect(asked('PurgeDeadLetters')[0]).toMatchObject({ filter: { ids: [], sinceMs: 0, untilMs: 0 } });
});

test('reset-offsets sends one target', async () => {
  const r = await herald('reset-offsets --group billing --topic orders --to earliest --partition 0');
  expect(r.out).toBe('PARTITION  PREVIOUS  COMMITTED\n0          7         0\n');
  expect(asked('ResetOffsets')[0]).toMatchObject({
    group: 'billing',
    topic: 'orders',
    partitions: [0],
    earliest: true,
    target: 'earliest',
  });
  await herald('reset-offsets --group billing --topic orders --to 2026-05-01T12:00:00Z');
  expect(asked('ResetOffsets')[1]).toMatchObject({
    timestampMs: Date.parse('2026-05-01T12:00:00Z'),
    target: 'timestampMs',
  });
});

test('peek sends the partition, the start and the limit, prints the messages and where to go on', async () => {
  const r = await herald('peek orders --partition 1 --offset 3 --limit 2');
  expect(r.code).toBe(0);
  expect(r.out).toBe('orders/1/7  key=k  body 7\norders/1/8  key=k  body 8\n');
  expect(r.err).toBe(
    'retained offsets 7..20 (retention dropped older offsets: started at 7); next page: --offset 9\n',
  );
  expect(asked('Peek')[0]).toMatchObject({
    topic: 'orders',
    partition: 1,
    offset: 3,
    limit: 2,
    from: 'offset',
  });
  await herald('peek orders --partition 0 --since 2026-05-01T12:00:00Z');
  expect(asked('Peek')[1]).toMatchObject({
    partition: 0,
    timestampMs: Date.parse('2026-05-01T12:00:00Z'),
    from: 'timestampMs',
  });
  const json = await herald('peek orders --partition 1 -o json');
  expect(JSON.parse(json.out.split('\n')[0])).toMatchObject({ messageId: 'orders/1/7', body: 'body 7' });
  expect(() => parseCommandLine(['peek', 'orders'], {})).toThrow('peek needs --partition N, once');
  expect(() =>
    parseCommandLine(['peek', 'orders', '--partition', '0', '--offset', '1', '--since', '1h'], {}),
  ).toThrow('--offset and --since are exclusive');
});

test('topics list and lag', async () => {
  const t = await herald('topics list');
  expect(t.out).toBe(
    'NAME     PARTITIONS  STORAGE  POOL     FEATURES  RETENTION  GROUPS         OWNER     CONTACT\n' +
      'orders   8/8         mysql    default  priority  72h        billing,audit  payments  #payments-oncall\n' +
      'scratch  0/1         mysql    default\n',
  );
  expect(asked('ListTopics')).toEqual([{ namespace: 'shop' }]);
  const lag = await herald('lag --group billing --topic orders -o json');
  expect(lag.out).toBe(
    '{"partition":0,"endOffset":10,"committedOffset":7,"lag":3,"inFlight":1,"consumer":"","pendingRetries":0,"deadLetters":0}\n',
  );
  // Both partitions live on one broker: GetLag is asked once.
  expect(asked('GetLag')).toEqual([{ group: 'billing', topic: 'orders' }]);
});
