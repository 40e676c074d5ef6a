import {
  bodyOf,
  deliveryLine,
  deliveryRecord,
  jsonLines,
  LAG_COLUMNS,
  splitMessages,
  table,
  traceDetail,
} from '../../../client/cli/format';
import { EXIT, exitCodeFor } from '../../../client/cli/exit-codes';
import { UsageError } from '../../../client/cli/args';
import { HeraldError, UnavailableError } from '../../../common/errors';
import { status } from '@grpc/grpc-js';
import type { Delivery, TraceEvent } from '../../../client';

const delivery = (over: Partial<Delivery> = {}): Delivery => ({
  topic: 'orders',
  partition: 3,
  offset: 17,
  messageId: 'orders/3/17',
  key: 'c-1',
  refKey: '',
  tags: [],
  properties: {},
  body: Buffer.from('hello'),
  publishTimeMs: Date.parse('2026-05-01T12:00:00Z'),
  deliveryAttempt: 1,
  priority: false,
  scheduledId: '',
  deliverAtMs: 0,
  ...over,
});

const lagRow = { consumer: '', pendingRetries: 0, deadLetters: 0 };

test('tables pad every column but the last to its widest cell', () => {
  const out = table(
    [
      {
        ...lagRow,
        partition: 0,
        endOffset: 120,
        committedOffset: 100,
        lag: 20,
        inFlight: 3,
        pendingRetries: 12,
      },
      { ...lagRow, partition: 1, endOffset: 5, committedOffset: 5, lag: 0, inFlight: 0, deadLetters: 2 },
    ],
    LAG_COLUMNS,
  );
  expect(out).toBe(
    'PARTITION  END  COMMITTED  LAG  IN-FLIGHT  RETRYING  DEAD\n' +
      '0          120  100        20   3          12        0\n' +
      '1          5    5          0    0          0         2\n',
  );
  expect(table([], LAG_COLUMNS)).toBe('PARTITION  END  COMMITTED  LAG  IN-FLIGHT  RETRYING  DEAD\n');
});

test('json output is one object per line', () => {
  expect(jsonLines([{ a: 1 }, { b: 'x' }])).toBe('{"a":1}\n{"b":"x"}\n');
});

test('bodies print as text when printable UTF-8, else base64', () => {
  expect(bodyOf(Buffer.from('héllo'))).toEqual({ body: 'héllo', bodyEncoding: 'utf8' });
  expect(bodyOf(Buffer.from([0xff, 0x00, 0x01]))).toEqual({ body: '/wAB', bodyEncoding: 'base64' });
  expect(bodyOf(Buffer.from('a\u0001b'))).toMatchObject({ bodyEncoding: 'base64' });
});

test('a delivery for people and for scripts', () => {
  expect(deliveryLine(delivery())).toBe('orders/3/17  key=c-1  hello\n');
  expect(
    deliveryLine(
      delivery({
        tags: ['a', 'b'],
        refKey: 'o-1',
        properties: { src: 'x' },
        deliveryAttempt: 2,
        priority: true,
        body: Buffer.from('x\ny'),
      }),
    ),
  ).toBe('orders/3/17  key=c-1  ref=o-1  tags=a,b  src=x  priority  attempt=2  x\\ny\n');
  expect(deliveryRecord(delivery())).toEqual({
    messageId: 'orders/3/17',
    topic: 'orders',
    partition: 3,
    offset: 17,
    key: 'c-1',
    refKey: '',
    tags: [],
    properties: {},
    body: 'hello',
    bodyEncoding: 'utf8',
    publishTime: '2026-05-01T12:00:00.000Z',
    deliveryAttempt: 1,
    priority: false,
  });
});

test('input splits into messages', () => {
  expect(splitMessages('one message\n', false)).toEqual(['one message']);
  expect(splitMessages('a\r\nb\n\nc', true)).toEqual(['a', 'b', 'c']);
  expect(splitMessages('', true)).toEqual([]);
});

test('exit codes follow the error type and reason', () => {
  expect(exitCodeFor(new UsageError('x'))).toBe(EXIT.USAGE);
  expect(exitCodeFor(new RangeError('lingerMs must be...'))).toBe(EXIT.USAGE);
  expect(exitCodeFor(new HeraldError('INVALID_REQUEST', 'tags[0] bad', { field: 'tags[0]' }))).toBe(
    EXIT.USAGE,
  );
  expect(
    exitCodeFor(
      new HeraldError('INVALID_REQUEST', 'from the server', { field: 'x' }, { cause: new Error('grpc') }),
    ),
  ).toBe(EXIT.ERROR);
  expect(exitCodeFor(new HeraldError('TOPIC_NOT_FOUND', 'x'))).toBe(EXIT.NOT_FOUND);
  expect(exitCodeFor(new HeraldError('GROUP_NOT_FOUND', 'x'))).toBe(EXIT.NOT_FOUND);
  expect(exitCodeFor(new HeraldError('MESSAGE_TOO_LARGE', 'x'))).toBe(EXIT.ERROR);
  expect(exitCodeFor(new HeraldError('STORAGE_UNAVAILABLE', 'x'))).toBe(EXIT.UNAVAILABLE);
  expect(exitCodeFor(new UnavailableError('x', status.UNAVAILABLE, 'a:1'))).toBe(EXIT.UNAVAILABLE);
  expect(exitCodeFor(new Error('bug'))).toBe(EXIT.ERROR);
});

test('a push attempt reads as its answer, latency and endpoint; other details as key=value pairs', () => {
  const event = (name: string, detail: Record<string, string>): TraceEvent =>
    ({ event: name, detail }) as unknown as TraceEvent;
  const attempt = (detail: Record<string, string>) => traceDetail(event('push-attempt', detail));
  expect(attempt({ status: '200', durationMs: '12', endpoint: '127.0.0.1:8443' })).toBe(
    'HTTP 200 in 12 ms from 127.0.0.1:8443',
  );
  expect(attempt({ status: '500', durationMs: '3', endpoint: 'hooks.example:443', error: 'HTTP 500' })).toBe(
    'HTTP 500 in 3 ms from hooks.example:443',
  );
  // The text the endpoint answered follows.
  expect(
    attempt({ status: '503', durationMs: '4', endpoint: 'h:1', error: 'HTTP 503: busy, try later' }),
  ).toBe('HTTP 503 in 4 ms from h:1: busy, try later');
  // No answer: the error says why.
  expect(attempt({ status: '0', durationMs: '301', endpoint: 'h:1', error: 'timeout after 300 ms' })).toBe(
    'no answer in 301 ms from h:1: timeout after 300 ms',
  );
  expect(
    attempt({
      status: '0',
      durationMs: '9',
      endpoint: 'h:1',
      error: 'TLS error UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    }),
  ).toBe('no answer in 9 ms from h:1: TLS error UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  // Events recorded before the endpoint was: what there is, and any unknown field as a pair.
  expect(attempt({ status: '200', durationMs: '5', extra: 'x' })).toBe('HTTP 200 in 5 ms  extra=x');
  expect(traceDetail(event('nacked', { error: 'bad input', delay_ms: '1000' }))).toBe(
    'error="bad input" delay_ms=1000',
  );
  expect(traceDetail(event('published', { producer: '10.0.0.1:5' }))).toBe('producer=10.0.0.1:5');
});
