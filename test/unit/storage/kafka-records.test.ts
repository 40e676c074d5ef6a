// How Herald messages become Kafka records and back, and the start-up check of Kafka's API
// versions against what kafkajs sends. Record sets are encoded with kafkajs' own RecordBatch
// encoder and decoded both by records.ts and by kafkajs' own fetch decoder.
import { createRequire } from 'node:module';
import {
  REF_KEY_HEADER,
  TAGS_HEADER,
  decodeRecordSet,
  encodeRecord,
  storedRecord,
  toHeraldOffset,
  toKafkaOffset,
} from '../../../storage/kafka/records';
import type { OutgoingRecord } from '../../../storage/kafka/records';
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

// kafkajs' internal modules: no typings of their own.
const internal = createRequire(require.resolve('kafkajs'));
type Encoded = { buffer: Buffer };
const { RecordBatch } = internal('./src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (b: Record<string, unknown>) => Promise<Encoded>;
};
const Record = internal('./src/protocol/recordBatch/record/v0/index.js') as (
  r: Record<string, unknown>,
) => unknown;
const Decoder = internal('./src/protocol/decoder.js') as { new (b: Buffer): unknown };
const decodeMessages = internal('./src/protocol/requests/fetch/v4/decodeMessages.js') as (
  d: unknown,
) => Promise<
  {
    offset: string;
    timestamp: string;
    key: Buffer | null;
    value: Buffer | null;
    headers: Record<string, unknown>;
  }[]
>;
const kafkajsCrc32C = internal('./src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;
const Long = internal('./src/utils/long.js') as { fromValue(v: string | number): unknown };

type Foreign = Omit<OutgoingRecord, 'headers' | 'value'> & {
  value: Buffer | null;
  headers: Record<string, string | string[]>;
};

/** One record batch at Kafka offset `first`, as kafkajs' producer writes it (gzip when asked). */
async function batch(
  first: number,
  records: (OutgoingRecord | Foreign)[],
  over: { gzip?: boolean; transactional?: boolean; producerId?: number } = {},
): Promise<Buffer> {
  const base = Math.min(...records.map((r) => Number(r.timestamp)));
  const encoded = await RecordBatch({
    compression: over.gzip ? 1 : 0,
    firstOffset: Long.fromValue(first),
    firstTimestamp: base,
    maxTimestamp: Math.max(...records.map((r) => Number(r.timestamp))),
    lastOffsetDelta: records.length - 1,
    transactional: over.transactional ?? false,
    producerId: Long.fromValue(over.producerId ?? -1),
    records: records.map((r, i) =>
      Record({
        offsetDelta: i,
        timestampDelta: Number(r.timestamp) - base,
        key: r.key,
        value: r.value,
        headers: r.headers,
      }),
    ),
  });
  return encoded.buffer;
}

/** A control batch of producer `producerId` at `offset`: its marker's type, 0 abort or 1 commit. */
async function marker(offset: number, producerId: number, type: number): Promise<Buffer> {
  const key = Buffer.alloc(4);
  key.writeInt16BE(type, 2);
  const set = await batch(offset, [{ key, value: Buffer.alloc(6), headers: {}, timestamp: '5' }], {
    transactional: true,
    producerId,
  });
  return withAttributes(set, set.readInt16BE(21) | 0x20);
}

/** The batch with other attributes (kafkajs writes only compression and transactional), CRC redone. */
function withAttributes(set: Buffer, attributes: number): Buffer {
  const out = Buffer.from(set);
  out.writeInt16BE(attributes, 21);
  out.writeUInt32BE(kafkajsCrc32C(out.subarray(21)) >>> 0, 17);
  return out;
}

const herald = (i: number) =>
  encodeRecord({ ...message, key: `k${i}`, body: Buffer.from(`body ${i}`) }, 1_000 + i);

test('Herald offsets are Kafka offsets + 1', () => {
  expect(toHeraldOffset('0')).toBe(1);
  expect(toHeraldOffset(41)).toBe(42);
  expect(toKafkaOffset(1)).toBe('0');
  expect(toKafkaOffset(toHeraldOffset('9007199254740990'))).toBe('9007199254740990');
});

test('a message round-trips through a record; its headers are what Kafka consumers see', async () => {
  const record = encodeRecord(message, 1234);
  expect(record.key).toEqual(Buffer.from('k'));
  expect(record.timestamp).toBe('1234');
  expect(record.headers).toEqual({
    trace: 'x',
    'herald.property.herald.tags': 'a property, not tags',
    [REF_KEY_HEADER]: 'order-1',
    [TAGS_HEADER]: '["a","b"]',
  });
  expect(decodeRecordSet(await batch(6, [record]), 1, [])).toEqual({
    messages: [{ ...message, offset: 7, publishedAt: 1234 }],
    coveredTo: 7,
  });
});

test("an owner's own record, handed to its tail, is what reading it back would give", async () => {
  for (const m of [
    message,
    { ...message, key: '', refKey: '', tags: [], properties: {}, body: Buffer.alloc(0) },
  ]) {
    const { messages } = decodeRecordSet(await batch(2, [encodeRecord(m, 77)]), 3, []);
    expect(messages).toEqual([storedRecord(m, 3, 77)]);
  }
});

test('no key, no ref key and no tags write no key and no headers', () => {
  const record = encodeRecord({ ...message, key: '', refKey: '', tags: [], properties: {} }, 1);
  expect(record.key).toBeNull();
  expect(record.headers).toEqual({});
});

test("a foreign producer's record gets defaults: its headers as properties, no ref key, no tags", async () => {
  const set = await batch(0, [
    {
      timestamp: '99',
      key: null,
      value: null,
      headers: { a: '1', multi: ['x', 'y'], [TAGS_HEADER]: 'not json' },
    },
  ]);
  expect(decodeRecordSet(set, 1, []).messages).toEqual([
    {
      key: '',
      refKey: '',
      tags: [],
      properties: { a: '1', multi: 'y' },
      body: Buffer.alloc(0),
      priority: false,
      offset: 1,
      publishedAt: 99,
    },
  ]);
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
    [...Object.values(KAFKAJS_MAX_VERSIONS), { apiKey: 0 }, { apiKey: 1 }].map(({ apiKey }) => [
      apiKey,
      { minVersion: 0, maxVersion: 20 },
    ]),
  );
  expect(unsupportedRequests(all)).toEqual([]);
  expect(unsupportedRequests({ ...all, 1: { minVersion: 12, maxVersion: 18 }, 8: undefined })).toEqual([
    'OffsetCommit (the broker does not implement it)',
    "Fetch v11, Herald's own (the broker accepts v12-v18)",
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

test('a fetch of several batches, plain and gzip, decodes as kafkajs decodes it', async () => {
  const records = Array.from({ length: 7 }, (_, i) => herald(i));
  const set = Buffer.concat([
    await batch(10, records.slice(0, 3)),
    await batch(13, records.slice(3, 5), { gzip: true }),
    await batch(15, records.slice(5)),
  ]);
  const ours = decodeRecordSet(set, 11, []);
  const theirs = await decodeMessages(fetchedSet(set));
  expect(theirs).toHaveLength(7);
  expect(ours.coveredTo).toBe(17);
  expect(ours.messages.map((m) => m.offset)).toEqual([11, 12, 13, 14, 15, 16, 17]);
  ours.messages.forEach((m, i) => {
    const r = theirs[i];
    expect([m.offset, m.publishedAt, m.key, m.body]).toEqual([
      toHeraldOffset(r.offset),
      Number(r.timestamp),
      r.key?.toString('utf8'),
      r.value,
    ]);
    expect(m).toEqual({
      ...message,
      key: `k${i}`,
      body: Buffer.from(`body ${i}`),
      offset: 11 + i,
      publishedAt: 1_000 + i,
    });
  });
  // From the middle of the first batch: its earlier records are not handed out.
  expect(decodeRecordSet(set, 13, []).messages.map((m) => m.offset)).toEqual([13, 14, 15, 16, 17]);
  expect(decodeRecordSet(set, 18, [])).toEqual({ messages: [], coveredTo: 17 });
});

test('a partial trailing batch (cut by the fetch size) is left for the next fetch', async () => {
  const set = Buffer.concat([await batch(0, [herald(0), herald(1)]), await batch(2, [herald(2), herald(3)])]);
  for (const cut of [set.length - 1, set.length - 40, Math.floor(set.length / 2) + 3]) {
    const ours = decodeRecordSet(set.subarray(0, cut), 1, []);
    expect(ours.messages.map((m) => m.offset)).toEqual([1, 2]);
    expect(ours.coveredTo).toBe(2);
    expect(await decodeMessages(fetchedSet(set.subarray(0, cut)))).toHaveLength(2);
  }
  expect(decodeRecordSet(set.subarray(0, 30), 1, [])).toEqual({ messages: [], coveredTo: 0 });
});

test('control batches and the batches of aborted transactions are skipped, but covered', async () => {
  const set = Buffer.concat([
    await batch(0, [herald(0)], { transactional: true, producerId: 7 }),
    await marker(1, 7, 1), // committed
    await batch(2, [herald(2), herald(3)], { transactional: true, producerId: 8 }),
    await batch(4, [herald(4)]), // not transactional
    await marker(5, 8, 0), // producer 8's transaction aborted
    await batch(6, [herald(6)], { transactional: true, producerId: 8 }), // its next, committed
    await marker(7, 8, 1),
  ]);
  const { messages, coveredTo } = decodeRecordSet(set, 1, [{ producerId: 8n, firstOffset: 2 }]);
  expect(messages.map((m) => m.offset)).toEqual([1, 5, 7]);
  expect(coveredTo).toBe(8);
  // Without the aborted list (read uncommitted), only the markers go.
  expect(decodeRecordSet(set, 1, []).messages.map((m) => m.offset)).toEqual([1, 3, 4, 5, 7]);
});

test('log append time gives every record the batch timestamp', async () => {
  const set = await batch(0, [herald(0), herald(5)]);
  const appended = withAttributes(set, set.readInt16BE(21) | 0x08);
  expect(decodeRecordSet(appended, 1, []).messages.map((m) => m.publishedAt)).toEqual([1_005, 1_005]);
});

test('a batch that does not match its CRC, or is compressed otherwise than gzip, fails', async () => {
  const set = await batch(0, [herald(0)]);
  const flipped = Buffer.from(set);
  flipped[flipped.length - 1] ^= 1;
  let error: unknown;
  try {
    decodeRecordSet(flipped, 1, []);
  } catch (err) {
    error = err;
  }
  expect(error).toMatchObject({ metadata: { kafkaError: 'CORRUPT_MESSAGE' } });
  expect(() => decodeRecordSet(withAttributes(set, 4), 1, [])).toThrow(/zstd/);
});

/** A record set as a fetch response carries it (its size first), for kafkajs' decoder. */
function fetchedSet(set: Buffer): unknown {
  const sized = Buffer.alloc(4 + set.length);
  sized.writeInt32BE(set.length, 0);
  set.copy(sized, 4);
  return new Decoder(sized);
}
