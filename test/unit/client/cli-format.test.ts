import {
  bodyOf,
  deliveryLine,
  deliveryRecord,
  jsonLines,
  LAG_COLUMNS,
  splitMessages,
  table,
} from '../../../client/cli/format';
import { EXIT, exitCodeFor } from '../../../client/cli/exit-codes';
import { UsageError } from '../../../client/cli/args';
import { HeraldError, UnavailableError } from '../../../common/errors';
import { status } from '@grpc/grpc-js';
import type { Delivery } from '../../../client';

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
