// Herald's own Fetch v11 request and response (storage/kafka/fetch.ts), against kafkajs' own
// v11 request encoder and response decoder on the same bytes.
import { createRequire } from 'node:module';
import { decodeFetchResponse, encodeFetchRequest } from '../../../storage/kafka/fetch';
import { FETCH_TOTAL_BYTES } from '../../../storage/kafka/cluster';
import { encodeRecord, toHeraldOffset } from '../../../storage/kafka/records';
import type { NewMessage } from '../../../storage/storage';

// kafkajs' internal modules: no typings of their own.
const internal = createRequire(require.resolve('kafkajs'));
type Encoded = { buffer: Buffer };
const fetchV11 = internal('./src/protocol/requests/fetch/v11/request.js') as (r: Record<string, unknown>) => {
  encode(): Promise<Encoded>;
};
const { decode: decodeV11 } = internal('./src/protocol/requests/fetch/v11/response.js') as {
  decode: (b: Buffer) => Promise<{
    errorCode: number;
    responses: {
      topicName: string;
      partitions: {
        partition: number;
        errorCode: number;
        highWatermark: string;
        messages: { offset: string }[];
      }[];
    }[];
  }>;
};
const Encoder = internal('./src/protocol/encoder.js') as {
  new (): {
    writeInt16(v: number): unknown;
    writeInt32(v: number): unknown;
    writeInt64(v: unknown): unknown;
    writeString(v: string): unknown;
    writeBytes(v: Buffer): unknown;
    writeBuffer(v: Buffer): unknown;
    buffer: Buffer;
  };
};
const { RecordBatch } = internal('./src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (b: Record<string, unknown>) => Promise<Encoded>;
};
const Record = internal('./src/protocol/recordBatch/record/v0/index.js') as (
  r: Record<string, unknown>,
) => unknown;
const Long = internal('./src/utils/long.js') as { fromValue(v: string | number): unknown };

const message = (i: number): NewMessage => ({
  key: `k${i}`,
  refKey: '',
  tags: [],
  properties: { n: String(i) },
  body: Buffer.from(`body ${i}`),
  priority: false,
});

test('the request is the bytes kafkajs writes for the same partitions, read committed, no session', async () => {
  const positions = [
    { ref: { topic: 'clicks', partition: 3 }, from: 1 },
    { ref: { topic: 'clicks', partition: 0 }, from: 9_007_199_254_740_000 },
    { ref: { topic: 'tópico', partition: 1 }, from: 42 },
    { ref: { topic: 'clicks', partition: 5 }, from: 7 },
  ];
  const ours = encodeFetchRequest(positions, 500, 1_048_576);
  const theirs = await fetchV11({
    replicaId: -1,
    maxWaitTime: 500,
    minBytes: 1,
    maxBytes: FETCH_TOTAL_BYTES,
    isolationLevel: 1,
    // Consecutive partitions of one topic in one entry, as kafkajs' Broker#fetch combines them.
    topics: [
      { topic: 'clicks', partitions: positions.slice(0, 2) },
      { topic: 'tópico', partitions: positions.slice(2, 3) },
      { topic: 'clicks', partitions: positions.slice(3) },
    ].map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map((p) => ({
        partition: p.ref.partition,
        fetchOffset: String(p.from - 1),
        maxBytes: 1_048_576,
      })),
    })),
  }).encode();
  expect(ours).toEqual(theirs.buffer);
});

/** A Fetch v11 response body; each partition's record set as given. */
function response(
  topics: {
    topic: string;
    partitions: {
      partition: number;
      errorCode?: number;
      highWatermark: number;
      aborted?: [number, number][];
      set: Buffer | null;
    }[];
  }[],
): Buffer {
  const e = new Encoder();
  e.writeInt32(0); // throttle
  e.writeInt16(0);
  e.writeInt32(0); // session id
  e.writeInt32(topics.length);
  for (const t of topics) {
    e.writeString(t.topic);
    e.writeInt32(t.partitions.length);
    for (const p of t.partitions) {
      e.writeInt32(p.partition);
      e.writeInt16(p.errorCode ?? 0);
      e.writeInt64(Long.fromValue(p.highWatermark));
      e.writeInt64(Long.fromValue(p.highWatermark)); // last stable offset
      e.writeInt64(Long.fromValue(0)); // log start offset
      if (p.aborted === undefined) e.writeInt32(-1);
      else {
        e.writeInt32(p.aborted.length);
        for (const [producerId, firstOffset] of p.aborted) {
          e.writeInt64(Long.fromValue(producerId));
          e.writeInt64(Long.fromValue(firstOffset));
        }
      }
      e.writeInt32(-1); // preferred read replica
      if (p.set === null) e.writeInt32(-1);
      else e.writeBytes(p.set);
    }
  }
  return e.buffer;
}

async function batch(first: number, count: number, producerId = -1): Promise<Buffer> {
  const encoded = await RecordBatch({
    firstOffset: Long.fromValue(first),
    firstTimestamp: 1_000,
    maxTimestamp: 1_000,
    lastOffsetDelta: count - 1,
    transactional: producerId >= 0,
    producerId: Long.fromValue(producerId),
    records: Array.from({ length: count }, (_, i) => {
      const r = encodeRecord(message(first + i), 1_000);
      return Record({ offsetDelta: i, key: r.key, value: r.value, headers: r.headers });
    }),
  });
  return encoded.buffer;
}

test('the response decodes as kafkajs decodes it: partitions, errors, high watermarks, records', async () => {
  const body = response([
    {
      topic: 'clicks',
      partitions: [
        { partition: 3, highWatermark: 10, set: Buffer.concat([await batch(4, 3), await batch(7, 3)]) },
        { partition: 0, highWatermark: 0, set: null },
        { partition: 1, errorCode: 1, highWatermark: -1, set: Buffer.alloc(0) },
      ],
    },
    {
      topic: 'tópico',
      partitions: [{ partition: 2, highWatermark: 3, aborted: [[9, 1]], set: await batch(0, 3, 9) }],
    },
  ]);
  const froms: Record<string, number> = { 'clicks/3': 6, 'clicks/0': 1, 'clicks/1': 1, 'tópico/2': 1 };
  const ours = decodeFetchResponse(body, (t, p) => froms[`${t}/${p}`]);
  const theirs = await decodeV11(body);
  expect(ours.errorCode).toBe(theirs.errorCode);
  const flat = theirs.responses.flatMap((t) => t.partitions.map((p) => ({ topic: t.topicName, ...p })));
  expect(ours.partitions.map((p) => [p.topic, p.partition, p.errorCode, p.end])).toEqual(
    flat.map((p) => [p.topic, p.partition, p.errorCode, toHeraldOffset(p.highWatermark) - 1]),
  );
  // kafkajs gives the whole batches; records.ts those from the position on.
  expect(ours.partitions[0].messages.map((m) => m.offset)).toEqual(
    flat[0].messages.map((m) => toHeraldOffset(m.offset)).filter((o) => o >= 6),
  );
  expect(ours.partitions[0].messages[0]).toEqual({ ...message(5), offset: 6, publishedAt: 1_000 });
  expect(ours.partitions[0].coveredTo).toBe(10);
  expect(ours.partitions[1]).toMatchObject({ messages: [], coveredTo: 0 });
  expect(ours.partitions[2]).toMatchObject({ errorCode: 1, messages: [] });
  // The aborted transaction's records, which kafkajs' decoder leaves in, are dropped.
  expect(flat[3].messages).toHaveLength(3);
  expect(ours.partitions[3]).toMatchObject({ messages: [], coveredTo: 3 });
});

test('a response cut short fails rather than decoding garbage', async () => {
  const body = response([
    { topic: 't', partitions: [{ partition: 0, highWatermark: 3, set: await batch(0, 3) }] },
  ]);
  expect(() => decodeFetchResponse(body.subarray(0, body.length - 5), () => 1)).toThrow(/cut short/);
});
