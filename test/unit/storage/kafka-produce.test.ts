// Herald's own Produce request (storage/kafka/produce.ts): each partition's record batch is
// decoded with kafkajs' own RecordBatch decoder and compared with what was written, and its
// CRC checked with kafkajs' own CRC32C (another implementation than the encoder's).
import { createRequire } from 'node:module';
import { decodeProduceResponse, encodeProduceRequest } from '../../../storage/kafka/produce';
import type { ProduceRequest } from '../../../storage/kafka/produce';
import { decodeRecordSet, encodeRecord } from '../../../storage/kafka/records';
import type { NewMessage } from '../../../storage/storage';

// kafkajs' internal modules: no typings of their own.
const internal = createRequire(require.resolve('kafkajs'));
type KafkaDecoder = { new (b: Buffer): unknown };
const Decoder = internal('./src/protocol/decoder.js') as KafkaDecoder;
const decodeBatch = internal('./src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{
  firstOffset: string;
  firstTimestamp: string;
  maxTimestamp: string;
  lastOffsetDelta: number;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  inTransaction: boolean;
  records: {
    offset: string;
    timestamp: string;
    key: Buffer | null;
    value: Buffer | null;
    headers?: Record<string, Buffer | Buffer[]>;
  }[];
}>;
const kafkajsCrc32C = internal('./src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;

const message = (over: Partial<NewMessage>): NewMessage => ({
  key: '',
  refKey: '',
  tags: [],
  properties: {},
  body: Buffer.from('body'),
  priority: false,
  ...over,
});

/** Reads a Produce v7 request body back: each partition's record set as raw bytes. */
function parseRequest(buf: Buffer) {
  let at = 0;
  const int16 = () => ((at += 2), buf.readInt16BE(at - 2));
  const int32 = () => ((at += 4), buf.readInt32BE(at - 4));
  const transactionalId = int16();
  const acks = int16();
  const timeout = int32();
  const topics: { topic: string; partitions: { partition: number; recordSet: Buffer }[] }[] = [];
  for (let t = int32(); t > 0; t--) {
    const len = int16();
    const topic = buf.toString('utf8', at, at + len);
    at += len;
    const partitions = [];
    for (let p = int32(); p > 0; p--) {
      const partition = int32();
      const size = int32();
      partitions.push({ partition, recordSet: buf.subarray(at, at + size) });
      at += size;
    }
    topics.push({ topic, partitions });
  }
  return { transactionalId, acks, timeout, topics, rest: buf.length - at };
}

const producer = { producerId: 4_000_000_123n, producerEpoch: 3 };

test('every partition batch decodes with kafkajs, keys, headers, empty bodies and timestamps as written', async () => {
  const messages = [
    message({
      key: 'k1',
      refKey: 'order-1',
      tags: ['a', 'b'],
      properties: { trace: 'x', 'herald.tags': 'p' },
    }),
    message({ body: Buffer.alloc(0) }),
    message({ key: 'ключ', properties: { 'ü-name': 'ünïcode ✓' }, body: Buffer.alloc(3000, 7) }),
  ];
  const records = messages.map((m, i) => encodeRecord(m, 1_764_000_000_000 + i * 1000));
  const request: ProduceRequest = {
    acks: -1,
    timeoutMs: 1500,
    producer,
    topics: [
      {
        topic: 'clicks',
        partitions: [
          { partition: 0, baseSequence: 0, records },
          { partition: 7, baseSequence: 2 ** 31 - 2, records: records.slice(1, 2) },
        ],
      },
      { topic: 'tópico', partitions: [{ partition: 2, baseSequence: 41, records: records.slice(0, 1) }] },
    ],
  };
  const parsed = parseRequest(encodeProduceRequest(request));
  expect(parsed).toMatchObject({ transactionalId: -1, acks: -1, timeout: 1500, rest: 0 });
  expect(parsed.topics.map((t) => [t.topic, t.partitions.map((p) => p.partition)])).toEqual([
    ['clicks', [0, 7]],
    ['tópico', [2]],
  ]);

  const expected = [
    [records, 0],
    [records.slice(1, 2), 2 ** 31 - 2],
    [records.slice(0, 1), 41],
  ] as const;
  const sets = parsed.topics.flatMap((t) => t.partitions.map((p) => p.recordSet));
  for (const [i, set] of sets.entries()) {
    const [want, sequence] = expected[i];
    // The CRC covers attributes to the end; kafkajs does not check it, so check it here.
    expect(set.readUInt32BE(17)).toBe(kafkajsCrc32C(set.subarray(21)));
    expect(set.readInt32BE(8)).toBe(set.length - 12);
    expect(set.readInt8(16)).toBe(2);
    const batch = await decodeBatch(new Decoder(set));
    expect(batch).toMatchObject({
      firstOffset: '0',
      firstTimestamp: want[0].timestamp,
      maxTimestamp: want[want.length - 1].timestamp,
      lastOffsetDelta: want.length - 1,
      producerId: String(producer.producerId),
      producerEpoch: producer.producerEpoch,
      firstSequence: sequence,
      inTransaction: false,
    });
    expect(batch.records).toHaveLength(want.length);
    batch.records.forEach((r, j) => {
      expect(r.offset).toBe(String(j));
      expect(r.timestamp).toBe(want[j].timestamp);
      expect(r.key).toEqual(want[j].key);
      expect(r.value).toEqual(want[j].value);
      expect(Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, String(v)]))).toEqual(
        want[j].headers,
      );
    });
  }

  // And back to the messages, through records.ts' own decoder.
  expect(decodeRecordSet(sets[0], 1, [])).toEqual({
    messages: messages.map((m, j) => ({ ...m, offset: j + 1, publishedAt: 1_764_000_000_000 + j * 1000 })),
    coveredTo: 3,
  });
});

test('a corrupted byte no longer matches the batch CRC', () => {
  const body = encodeProduceRequest({
    acks: -1,
    timeoutMs: 1000,
    producer,
    topics: [
      {
        topic: 't',
        partitions: [{ partition: 0, baseSequence: 0, records: [encodeRecord(message({}), 5)] }],
      },
    ],
  });
  const set = parseRequest(body).topics[0].partitions[0].recordSet;
  const crc = set.readUInt32BE(17);
  expect(crc).toBe(kafkajsCrc32C(set.subarray(21)));
  set[set.length - 2] ^= 1;
  expect(kafkajsCrc32C(set.subarray(21))).not.toBe(crc);
});

/** A Produce v7 response body, as Kafka writes it. */
function response(topics: { topic: string; partitions: [number, number, bigint][] }[]): Buffer {
  const parts: Buffer[] = [];
  const int32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    parts.push(b);
  };
  int32(topics.length);
  for (const t of topics) {
    const name = Buffer.from(t.topic);
    const len = Buffer.alloc(2);
    len.writeInt16BE(name.length);
    parts.push(len, name);
    int32(t.partitions.length);
    for (const [partition, errorCode, baseOffset] of t.partitions) {
      const b = Buffer.alloc(30);
      b.writeInt32BE(partition, 0);
      b.writeInt16BE(errorCode, 4);
      b.writeBigInt64BE(baseOffset, 6);
      b.writeBigInt64BE(-1n, 14); // log append time
      b.writeBigInt64BE(0n, 22); // log start offset
      parts.push(b);
    }
  }
  int32(0); // throttle time
  return Buffer.concat(parts);
}

test('the Produce response gives every partition its own error code and offset', () => {
  const buf = response([
    {
      topic: 'clicks',
      partitions: [
        [0, 0, 9_007_199_254_740_993n],
        [3, 6, -1n],
      ],
    },
    { topic: 'b', partitions: [[1, 46, 12n]] },
  ]);
  expect(decodeProduceResponse(buf)).toEqual([
    { topic: 'clicks', partition: 0, errorCode: 0, baseOffset: 9_007_199_254_740_993n },
    { topic: 'clicks', partition: 3, errorCode: 6, baseOffset: -1n },
    { topic: 'b', partition: 1, errorCode: 46, baseOffset: 12n },
  ]);
});

test('a cut-short Produce response is an error, not fewer partitions', () => {
  const buf = response([{ topic: 'clicks', partitions: [[0, 0, 5n]] }]);
  expect(() => decodeProduceResponse(buf.subarray(0, 20))).toThrow(/cut short/);
});
