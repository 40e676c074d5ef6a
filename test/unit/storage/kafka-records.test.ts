// How Herald messages become Kafka records and back, and the start-up check of Kafka's API
// versions against what kafkajs sends.
import {
  REF_KEY_HEADER,
  TAGS_HEADER,
  decodeRecord,
  encodeRecord,
  recordsFrom,
  storedRecord,
  toHeraldOffset,
  toKafkaOffset,
} from '../../../storage/kafka/records';
import { KAFKAJS_MAX_VERSIONS, unsupportedRequests } from '../../../storage/kafka/api-versions';
import type { NewMessage } from '../../../storage/storage';

const message: NewMessage = {
  key: 'k',
  refKey: 'order-1',
  tags: ['a', 'b'],
  properties: { trace: 'x', 'herald.tags': 'a property, not tags' },
  body: Buffer.from('hello'),
  priority: false,
};

test('Herald offsets are Kafka offsets + 1', () => {
  expect(toHeraldOffset('0')).toBe(1);
  expect(toHeraldOffset(41)).toBe(42);
  expect(toKafkaOffset(1)).toBe('0');
  expect(toKafkaOffset(toHeraldOffset('9007199254740990'))).toBe('9007199254740990');
});

test("a fetch's records from an offset on: those of the first batch before it are dropped", () => {
  const fetched = ['4', '5', '6', '7'].map((offset) => ({ offset }));
  expect(recordsFrom(fetched, 7)).toEqual([{ offset: '6' }, { offset: '7' }]);
  expect(recordsFrom(fetched, 5)).toBe(fetched);
  expect(recordsFrom(fetched, 9)).toEqual([]);
});

test('a message round-trips through a record; its headers are what Kafka consumers see', () => {
  const record = encodeRecord(message, 1234);
  expect(record.key).toEqual(Buffer.from('k'));
  expect(record.timestamp).toBe('1234');
  expect(record.headers).toEqual({
    trace: 'x',
    'herald.property.herald.tags': 'a property, not tags',
    [REF_KEY_HEADER]: 'order-1',
    [TAGS_HEADER]: '["a","b"]',
  });
  const headers = Object.fromEntries(Object.entries(record.headers).map(([k, v]) => [k, Buffer.from(v)]));
  expect(decodeRecord({ ...record, offset: '6', headers })).toEqual({
    ...message,
    offset: 7,
    publishedAt: 1234,
  });
});

test("an owner's own record, handed to its tail, is what reading it back would give", () => {
  for (const m of [
    message,
    { ...message, key: '', refKey: '', tags: [], properties: {}, body: Buffer.alloc(0) },
  ]) {
    const record = encodeRecord(m, 77);
    const headers = Object.fromEntries(Object.entries(record.headers).map(([k, v]) => [k, Buffer.from(v)]));
    expect(storedRecord(m, 3, 77)).toEqual(decodeRecord({ ...record, offset: '2', headers }));
  }
});

test('no key, no ref key and no tags write no key and no headers', () => {
  const record = encodeRecord({ ...message, key: '', refKey: '', tags: [], properties: {} }, 1);
  expect(record.key).toBeNull();
  expect(record.headers).toEqual({});
});

test("a foreign producer's record gets defaults: its headers as properties, no ref key, no tags", () => {
  expect(
    decodeRecord({
      offset: '0',
      timestamp: '99',
      key: null,
      value: null,
      headers: {
        a: Buffer.from('1'),
        multi: [Buffer.from('x'), Buffer.from('y')],
        [TAGS_HEADER]: Buffer.from('not json'),
      },
    }),
  ).toEqual({
    key: '',
    refKey: '',
    tags: [],
    properties: { a: '1', multi: 'y' },
    body: Buffer.alloc(0),
    priority: false,
    offset: 1,
    publishedAt: 99,
  });
});

test('the version table matches the request versions kafkajs implements', () => {
  // A test may look inside kafkajs: the table must follow an upgrade.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { requests } = require('kafkajs/src/protocol/requests') as {
    requests: Record<string, { versions: string[] }>;
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const apiKeys = require('kafkajs/src/protocol/requests/apiKeys') as Record<string, number>;
  for (const [name, { apiKey, maxVersion }] of Object.entries(KAFKAJS_MAX_VERSIONS)) {
    expect([name, apiKey, maxVersion]).toEqual([
      name,
      apiKeys[name],
      Math.max(...requests[name].versions.map(Number)),
    ]);
  }
});

test('a broker whose minimum versions exceed what kafkajs sends is named, request by request', () => {
  const all = Object.fromEntries(
    [...Object.values(KAFKAJS_MAX_VERSIONS), { apiKey: 0 }].map(({ apiKey }) => [
      apiKey,
      { minVersion: 0, maxVersion: 20 },
    ]),
  );
  expect(unsupportedRequests(all)).toEqual([]);
  expect(unsupportedRequests({ ...all, 1: { minVersion: 12, maxVersion: 18 }, 8: undefined })).toEqual([
    'Fetch v11 (the broker accepts v12-v18)',
    'OffsetCommit (the broker does not implement it)',
  ]);
  // Herald's own Produce is sent at v7 only: a broker above or below it is named too.
  expect(unsupportedRequests({ ...all, 0: { minVersion: 3, maxVersion: 6 } })).toEqual([
    "Produce v7, Herald's own (the broker accepts v3-v6)",
  ]);
  expect(unsupportedRequests({ ...all, 0: { minVersion: 8, maxVersion: 13 } })).toEqual([
    "Produce v7, Herald's own (the broker accepts v8-v13)",
  ]);
  expect(unsupportedRequests({ ...all, 0: undefined })).toEqual([
    'Produce (the broker does not implement it)',
  ]);
});
