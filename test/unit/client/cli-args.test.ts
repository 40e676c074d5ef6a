import { duration, parseCommandLine, time, UsageError } from '../../../client/cli/args';

const NOW = Date.parse('2026-05-01T12:00:00Z');
const parse = (line: string, env: Record<string, string> = {}) =>
  parseCommandLine(line.split(' ').filter(Boolean), env, NOW);
const usage = (line: string) => {
  try {
    parse(line);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`"${line}" parsed without an error`);
};

test('global flags anywhere, with environment fallbacks', () => {
  const p = parse('publish orders hello --meta m:1 -n shop -o json --timeout 2s');
  expect(p.global).toEqual({
    meta: 'm:1',
    broker: undefined,
    namespace: 'shop',
    output: 'json',
    timeoutMs: 2000,
  });
  const e = parse('topics', {
    HERALD_META: 'meta:7700',
    HERALD_NAMESPACE: 'herald',
    HERALD_BROKER: 'b:7600',
  });
  expect(e.global).toMatchObject({
    meta: 'meta:7700',
    broker: 'b:7600',
    namespace: 'herald',
    output: 'table',
  });
  expect(e.command).toEqual({ name: 'topics-list' });
});

test('TLS and credentials from flags or the environment', () => {
  const p = parse('topics --ca /ca.crt --token-file /t --cert /u.crt --cert-key /u.key');
  expect(p.global).toMatchObject({
    caFile: '/ca.crt',
    tokenFile: '/t',
    certFile: '/u.crt',
    keyFile: '/u.key',
  });
  const e = parse('topics', { HERALD_CA_FILE: '/env-ca', HERALD_TOKEN: 'hrld_x' });
  expect(e.global).toMatchObject({ caFile: '/env-ca', token: 'hrld_x', tokenFile: undefined });
});

test('publish: messages from arguments, a file, or stdin, with every message field', () => {
  const p = parse(
    'publish orders a b --key k1 --tag red --tag vip --ref-key order-1 --property src=cli --property x=a=b --priority --delay 1.5s',
  );
  expect(p.command).toEqual({
    name: 'publish',
    topic: 'orders',
    source: { from: 'args', texts: ['a', 'b'] },
    lines: false,
    key: 'k1',
    partition: undefined,
    tags: ['red', 'vip'],
    refKey: 'order-1',
    properties: { src: 'cli', x: 'a=b' },
    priority: true,
    delayMs: 1500,
    deliverAtMs: undefined,
  });
  expect(parse('publish orders -f msgs.txt --lines').command).toMatchObject({
    source: { from: 'file', path: 'msgs.txt' },
    lines: true,
  });
  expect(parse('publish orders --partition 3 --deliver-at 2026-05-01T13:00:00Z').command).toMatchObject({
    source: { from: 'stdin' },
    partition: 3,
    deliverAtMs: NOW + 3_600_000,
  });
  expect(parse('publish orders -f -').command).toMatchObject({ source: { from: 'stdin' } });
});

test('publish: usage errors name the flag', () => {
  expect(usage('publish')).toMatch(/needs a topic/);
  expect(usage('publish orders x --key k --partition 1')).toMatch(/--partition and --key/);
  expect(usage('publish orders x --delay 5s --deliver-at 1h')).toMatch(/--delay and --deliver-at/);
  expect(usage('publish orders x --delay 5')).toMatch(/--delay must be a duration/);
  expect(usage('publish orders x --partition -1')).toMatch(/--partition/);
  expect(usage('publish orders x --property novalue')).toMatch(/--property must be name=value/);
  expect(usage('publish orders x --group g')).toMatch(/--group is not an option of "herald publish"/);
  expect(usage('publish orders x --bogus')).toMatch(/bogus/);
  expect(usage('publish orders x -o yaml')).toMatch(/-o must be table or json/);
});

test('consume', () => {
  expect(parse('consume orders --group billing --max 5 --no-ack').command).toEqual({
    name: 'consume',
    topic: 'orders',
    group: 'billing',
    follow: false,
    max: 5,
    ack: false,
    idleMs: 3000,
    partitions: [],
  });
  expect(parse('consume -g billing --follow --partition 0 --partition 2 --idle 500ms').command).toMatchObject(
    {
      topic: undefined,
      follow: true,
      ack: true,
      idleMs: 500,
      partitions: [0, 2],
    },
  );
  expect(usage('consume orders')).toBe('--group is required');
  expect(usage('consume orders -g b --max 0')).toMatch(/--max must be an integer >= 1/);
  expect(usage('consume orders -g b --ack --no-ack')).toMatch(/exclusive/);
});

test('trace by message id or by ref key', () => {
  expect(parse('trace orders/3/17').command).toEqual({
    name: 'trace',
    query: { messageId: 'orders/3/17' },
    limit: 0,
  });
  expect(parse('trace orders/3/d5 --limit 10').command).toMatchObject({
    query: { messageId: 'orders/3/d5' },
    limit: 10,
  });
  expect(parse('trace --ref-key order-1 --topic orders').command).toMatchObject({
    query: { refKey: 'order-1', topic: 'orders' },
  });
  expect(usage('trace --ref-key order-1')).toBe('--topic is required');
  expect(usage('trace orders-3-17')).toMatch(/looks like orders\/3\/17/);
  expect(usage('trace')).toMatch(/needs a message id/);
});

test('lag, dlq, reset-offsets, topics', () => {
  expect(parse('lag --group g --topic t').command).toEqual({ name: 'lag', group: 'g', topic: 't' });
  expect(parse('dlq list --topic t --group g --since 1h').command).toEqual({
    name: 'dlq-list',
    topic: 't',
    group: 'g',
    consumer: '',
    sinceMs: NOW - 3_600_000,
    untilMs: 0,
    limit: 100,
  });
  expect(parse('dlq replay 4 7 --topic t --group g --consumer pod-0').command).toEqual({
    name: 'dlq-replay',
    topic: 't',
    group: 'g',
    consumer: 'pod-0',
    selection: { ids: [4, 7], sinceMs: 0, untilMs: 0 },
  });
  expect(parse('dlq purge --topic t --group g --all').command).toMatchObject({ name: 'dlq-purge' });
  expect(usage('dlq purge --topic t --group g')).toMatch(/needs dead-letter ids, --since\/--until, or --all/);
  expect(usage('dlq replay x --topic t --group g')).toMatch(/dead-letter id must be an integer/);
  expect(usage('dlq')).toMatch(/unknown command "dlq"/);
  expect(usage('dlq frob')).toMatch(/unknown command "dlq frob"/);
  for (const [to, target] of [
    ['earliest', { earliest: true }],
    ['latest', { latest: true }],
    ['2026-05-01T11:00:00Z', { timestampMs: NOW - 3_600_000 }],
  ] as const) {
    expect(parse(`reset-offsets --group g --topic t --to ${to}`).command).toMatchObject({
      target,
      partitions: [],
    });
  }
  expect(parse('reset-offsets -g g -t t --offset 0 --partition 1').command).toMatchObject({
    target: { offset: 0 },
    partitions: [1],
    consumer: '',
  });
  expect(parse('reset-offsets -g g -t t --offset 0 --consumer pod-1').command).toMatchObject({
    consumer: 'pod-1',
  });
  expect(usage('reset-offsets -g g -t t')).toMatch(/exactly one of/);
  expect(usage('reset-offsets -g g -t t --to yesterday')).toMatch(/--to must be an ISO 8601 time/);
  expect(usage('frobnicate')).toMatch(/unknown command "frobnicate"/);
  expect(parse('topics list').command).toEqual({ name: 'topics-list' });
});

test('help', () => {
  expect(parse('').command).toEqual({ name: 'help', about: undefined });
  expect(parse('publish --help').command).toEqual({ name: 'help', about: 'publish' });
});

test('durations and times', () => {
  expect(duration('--x', '250ms')).toBe(250);
  expect(duration('--x', '2m')).toBe(120_000);
  expect(duration('--x', '1d')).toBe(86_400_000);
  expect(() => duration('--x', '10')).toThrow('--x must be a duration');
  expect(time('--t', '1714564800000', NOW)).toBe(1714564800000);
  expect(time('--t', '30m', NOW)).toBe(NOW - 1_800_000);
  expect(() => time('--t', 'soon', NOW)).toThrow(UsageError);
});
