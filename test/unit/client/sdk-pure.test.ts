// The SDK's pure parts: backoff and the retry loop, option checks, message checks.
import { backoffDelay, checkBackoff, isRetriable, retry } from '../../../common/backoff';
import { consumerOptions, producerOptions } from '../../../client/options';
import { toWire, wireSize } from '../../../client/message';
import { HeraldError, UnavailableError, callError, fromRpcStatus } from '../../../common/errors';
import { toRpcStatus } from '../../../common/grpc/status';
import { loadProtos } from '../../../proto/load';
import { status } from '@grpc/grpc-js';

const o = { initialMs: 100, maxMs: 1000, multiplier: 2 };

test('backoff: full jitter under a cap that doubles up to maxMs', () => {
  expect([1, 2, 3, 4, 5, 10].map((a) => backoffDelay(a, o, () => 0.999))).toEqual([
    99, 199, 399, 799, 999, 999,
  ]);
  expect(backoffDelay(3, o, () => 0)).toBe(0);
  expect(() => checkBackoff('retry', { ...o, maxMs: 50 })).toThrow(
    'retry.maxMs must be an integer >= 100, got 50',
  );
  expect(() => checkBackoff('retry', { ...o, multiplier: 0.5 })).toThrow(
    'retry.multiplier must be a number >= 1, got 0.5',
  );
});

test('retry: retriable errors until success, non-retriable at once, the deadline bounds it', async () => {
  const fast = { initialMs: 1, maxMs: 2, multiplier: 2 };
  let calls = 0;
  const flaky = () =>
    ++calls < 3 ? Promise.reject(new HeraldError('STORAGE_UNAVAILABLE', 'down')) : Promise.resolve('ok');
  await expect(retry(flaky, { ...fast, deadline: Date.now() + 5000 })).resolves.toBe('ok');
  expect(calls).toBe(3);

  calls = 0;
  const fatal = () => {
    calls++;
    return Promise.reject(new HeraldError('MESSAGE_TOO_LARGE', 'big'));
  };
  await expect(retry(fatal, { ...fast, deadline: Date.now() + 5000 })).rejects.toMatchObject({
    reason: 'MESSAGE_TOO_LARGE',
  });
  expect(calls).toBe(1);

  const down = () => Promise.reject(new UnavailableError('no route', status.UNAVAILABLE, 'a:1'));
  const started = Date.now();
  await expect(retry(down, { ...fast, deadline: Date.now() + 50 })).rejects.toBeInstanceOf(UnavailableError);
  expect(Date.now() - started).toBeLessThan(1000);

  // onRetry may ask for an immediate retry (a new owner is known).
  const delays: number[] = [];
  calls = 0;
  await retry(flaky, {
    ...o,
    deadline: Date.now() + 5000,
    onRetry: (_err, attempt) => {
      delays.push(attempt);
      return 0;
    },
  });
  expect(delays).toEqual([1, 2]);
  expect(isRetriable(new Error('x'))).toBe(false);
});

test('callError: a reason from the server, a transport failure, or an unexpected status', () => {
  const unavailable = callError({ code: status.UNAVAILABLE, details: 'connect failed', message: '' }, 'b:1');
  expect(unavailable).toBeInstanceOf(UnavailableError);
  expect(unavailable).toMatchObject({ retriable: true, address: 'b:1' });
  const unimplemented = callError({ code: status.UNIMPLEMENTED, details: 'no Trace', message: '' }, 'b:1');
  expect(unimplemented).toMatchObject({ reason: 'INTERNAL_ERROR', retriable: false });
  expect(unimplemented.message).toBe('b:1: UNIMPLEMENTED: no Trace');
  const typed = new HeraldError('TOPIC_NOT_FOUND', 'x');
  expect(callError(typed, 'b:1')).toBe(typed);
});

test('fromRpcStatus: a PublishStream error result with its reason, or INTERNAL_ERROR without one', () => {
  const refused = new HeraldError('RATE_LIMITED', 'slow down', { retry_after_ms: '40' });
  const Status = loadProtos().grpc.google.rpc.Status;
  const onTheWire = Status.deserialize(Status.serialize(toRpcStatus(refused)));
  expect(fromRpcStatus(onTheWire, 'b:1')).toMatchObject({
    reason: 'RATE_LIMITED',
    retriable: true,
    message: 'slow down',
    metadata: { retry_after_ms: '40' },
  });
  const bare = fromRpcStatus({ code: status.UNIMPLEMENTED, message: 'no', details: [] }, 'b:1');
  expect(bare).toMatchObject({ reason: 'INTERNAL_ERROR', message: 'b:1: UNIMPLEMENTED: no' });
  expect(fromRpcStatus(undefined, 'b:1').reason).toBe('INTERNAL_ERROR');
});

test('producer options: defaults first, then errors naming the field', () => {
  const p = producerOptions({ meta: '127.0.0.1:7700, 127.0.0.2:7700' });
  expect(p).toMatchObject({
    meta: ['127.0.0.1:7700', '127.0.0.2:7700'],
    lingerMs: 0,
    maxBatchMessages: 500,
    namespace: 'default',
  });
  expect(producerOptions({ broker: 'b:7600', lingerMs: 0, retry: { maxMs: 100 } })).toMatchObject({
    broker: 'b:7600',
    lingerMs: 0,
    retry: { initialMs: 50, maxMs: 100, multiplier: 2 },
  });
  expect(() => producerOptions({})).toThrow('meta or broker must be set');
  expect(() => producerOptions({ broker: 'nope' })).toThrow('broker must be host:port, got "nope"');
  expect(() => producerOptions({ broker: 'b:1', lingerMs: -1 })).toThrow(
    'lingerMs must be an integer in 0..60000, got -1',
  );
  expect(() => producerOptions({ broker: 'b:1', maxBatchMessages: 0 })).toThrow('maxBatchMessages');
  expect(producerOptions({ broker: 'b:1' }).maxInFlight).toBe(1);
  expect(() => producerOptions({ broker: 'b:1', maxInFlight: 0 })).toThrow(
    'maxInFlight must be an integer in 1..16, got 0',
  );
  expect(() => producerOptions({ broker: 'b:1', namespace: '' })).toThrow(
    'namespace must be a non-empty string',
  );
  expect(() => producerOptions({ broker: 'b:1', retry: { initialMs: 0 } })).toThrow('retry.initialMs');
});

test('consumer options', () => {
  const c = consumerOptions({ meta: 'm:1', group: 'billing' });
  expect(c).toMatchObject({ fetch: 'pull', concurrency: 10, autoAck: true, group: 'billing' });
  expect(c.consumerId).toMatch(/-\d+-[a-z0-9]+$/);
  expect(() => consumerOptions({ meta: 'm:1', group: 'Billing' })).toThrow('group must be a DNS-1123 label');
  expect(() => consumerOptions({ meta: 'm:1', group: 'g', fetch: 'push' as 'pull' })).toThrow(
    'fetch must be',
  );
  expect(() => consumerOptions({ meta: 'm:1', group: 'g', concurrency: 0 })).toThrow(
    'concurrency must be an integer in 1..10000, got 0',
  );
  expect(() => consumerOptions({ meta: 'm:1', group: 'g', autoAck: 'yes' as unknown as boolean })).toThrow(
    'autoAck must be true or false, got "yes"',
  );
  expect(() => consumerOptions({ broker: 'b:1', group: 'g' })).toThrow('topic must be set');
  expect(() => consumerOptions({ broker: 'b:1', group: 'g', topic: 't' })).toThrow(
    'partitions must be a list of at least one partition',
  );
  expect(consumerOptions({ broker: 'b:1', group: 'g', topic: 't', partitions: [0, 2] }).partitions).toEqual([
    0, 2,
  ]);
});

test('messages: the wire form, and errors naming the field', () => {
  expect(toWire({ body: 'hi', key: 'k', tags: ['a.b:c-1'], delayMs: 500, priority: true })).toEqual({
    key: 'k',
    refKey: '',
    tags: ['a.b:c-1'],
    properties: {},
    body: Buffer.from('hi'),
    priority: true,
    delayMs: 500,
  });
  expect(toWire({ body: Buffer.from('x'), deliverAt: new Date(1_800_000_000_000) }).deliverAtMs).toBe(
    1_800_000_000_000,
  );
  const bad = (m: Parameters<typeof toWire>[0], field: string) => {
    try {
      toWire(m);
    } catch (err) {
      expect(err).toMatchObject({ reason: 'INVALID_REQUEST', metadata: { field } });
      return;
    }
    throw new Error(`accepted a bad ${field}`);
  };
  bad({ body: 'x', tags: ['ok', 'has space'] }, 'tags[1]');
  bad({ body: 'x', tags: ['t'.repeat(65)] }, 'tags[0]');
  bad({ body: 'x', key: 'k', partition: 1 }, 'partition');
  bad({ body: 'x', partition: -1 }, 'partition');
  bad({ body: 'x', delayMs: 1, deliverAt: 5 }, 'deliverAt');
  bad({ body: 'x', delayMs: -5 }, 'delayMs');
  bad({ body: 42 as unknown as string }, 'body');
  expect(
    wireSize(toWire({ body: 'abc', key: 'kk', refKey: 'r', tags: ['t1'], properties: { p: 'vv' } })),
  ).toBe(11);
});
