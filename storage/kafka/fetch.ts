// Herald's own Kafka Fetch request (v11) and its response, decoded straight into messages by
// records.ts' decodeRecordSet. kafkajs' decoder built a Decoder, a record object, a headers
// object and a batch context per record, and turned every offset and timestamp into a Long
// and a decimal string; records.ts then mapped each of those records to a message.
//
// v11 is the version kafkajs 2.2.4 sends (api-versions.ts checks Kafka accepts it): the last
// one before flexible versions. No fetch session (id 0, epoch -1): each fetch names all its
// partitions. Partitions go in a shuffled order, as kafkajs sends them (KIP-74: Kafka fills a
// fetch in request order up to its byte limit, so a fixed order could starve the last ones).
import type { PartitionRef } from '../storage';
import { FETCH_TOTAL_BYTES, KafkaProtocolError, READ_COMMITTED, kafkaErrorName } from './cluster';
import type { KafkaBroker } from './cluster';
import { decodeRecordSet, toKafkaOffset } from './records';
import type { AbortedTransaction, DecodedRecords } from './records';

export const FETCH_API_KEY = 1;
export const FETCH_VERSION = 11;
/** A fetch's request timeout beyond its maxWaitTime (kafkajs' margin for the network). */
const NETWORK_DELAY_MS = 100;

/** A partition to fetch and the Herald offset to read from. */
export interface FetchPosition {
  ref: PartitionRef;
  from: number;
}

/** One partition's part of a Fetch response. */
export interface FetchedPartition extends DecodedRecords {
  topic: string;
  partition: number;
  errorCode: number;
  /** The partition's last Herald offset: Kafka's high watermark (its next offset). */
  end: number;
}

/** The Fetch v11 request body: each partition from its position, `partitionMaxBytes` each. */
export function encodeFetchRequest(
  positions: readonly FetchPosition[],
  maxWaitTime: number,
  partitionMaxBytes: number,
): Buffer {
  // Consecutive partitions of one topic share its entry (a topic may appear more than once).
  const topics: { topic: string; bytes: number; partitions: FetchPosition[] }[] = [];
  let size = 4 + 4 + 4 + 4 + 1 + 4 + 4 + 4 + 4 + 2; // .. topics count, forgotten count, rack id
  for (const p of positions) {
    const last = topics[topics.length - 1];
    if (last?.topic === p.ref.topic) last.partitions.push(p);
    else {
      const bytes = Buffer.byteLength(p.ref.topic, 'utf8');
      topics.push({ topic: p.ref.topic, bytes, partitions: [p] });
      size += 2 + bytes + 4;
    }
    size += 4 + 4 + 8 + 8 + 4;
  }
  const buf = Buffer.allocUnsafe(size);
  let at = buf.writeInt32BE(-1, 0); // replica id: a consumer
  at = buf.writeInt32BE(maxWaitTime, at);
  at = buf.writeInt32BE(1, at); // min bytes
  at = buf.writeInt32BE(FETCH_TOTAL_BYTES, at);
  at = buf.writeInt8(READ_COMMITTED, at);
  at = buf.writeInt32BE(0, at); // session id: none
  at = buf.writeInt32BE(-1, at); // session epoch: no session
  at = buf.writeInt32BE(topics.length, at);
  for (const t of topics) {
    at = buf.writeInt16BE(t.bytes, at);
    at += buf.write(t.topic, at, t.bytes, 'utf8');
    at = buf.writeInt32BE(t.partitions.length, at);
    for (const p of t.partitions) {
      at = buf.writeInt32BE(p.ref.partition, at);
      at = buf.writeInt32BE(-1, at); // current leader epoch: unknown
      at = buf.writeBigInt64BE(BigInt(toKafkaOffset(p.from)), at);
      at = buf.writeBigInt64BE(-1n, at); // log start offset: a consumer's
      at = buf.writeInt32BE(partitionMaxBytes, at);
    }
  }
  at = buf.writeInt32BE(0, at); // forgotten topics
  at = buf.writeInt16BE(0, at); // rack id ''
  if (at !== size) throw new Error(`fetch request sized ${size} bytes, written ${at}`);
  return buf;
}

/**
 * Decodes a Fetch v11 response body; each partition's records from `fromOf(topic, partition)`
 * on. Errors stay in errorCode: the caller decides.
 */
export function decodeFetchResponse(
  buf: Buffer,
  fromOf: (topic: string, partition: number) => number,
): { errorCode: number; partitions: FetchedPartition[] } {
  let at = 0;
  const need = (n: number) => {
    if (at + n > buf.length)
      throw new Error(`Fetch response cut short: ${buf.length} bytes, needed ${at + n}`);
  };
  need(10);
  const errorCode = buf.readInt16BE(4); // after throttle time; then the session id
  at = 10;
  const partitions: FetchedPartition[] = [];
  need(4);
  for (let t = buf.readInt32BE((at += 4) - 4); t > 0; t--) {
    need(2);
    const nameBytes = buf.readInt16BE(at);
    need(2 + nameBytes + 4);
    const topic = buf.toString('utf8', at + 2, at + 2 + nameBytes);
    at += 2 + nameBytes;
    for (let p = buf.readInt32BE((at += 4) - 4); p > 0; p--) {
      need(4 + 2 + 8 + 8 + 8 + 4);
      const partition = buf.readInt32BE(at);
      const code = buf.readInt16BE(at + 4);
      const highWatermark = Number(buf.readBigInt64BE(at + 6));
      at += 4 + 2 + 8 + 8 + 8; // .. last stable offset, log start offset
      const aborted: AbortedTransaction[] = [];
      const count = buf.readInt32BE((at += 4) - 4); // -1: null
      for (let a = 0; a < count; a++) {
        need(16);
        aborted.push({ producerId: buf.readBigInt64BE(at), firstOffset: Number(buf.readBigInt64BE(at + 8)) });
        at += 16;
      }
      need(4 + 4);
      at += 4; // preferred read replica
      const setBytes = buf.readInt32BE((at += 4) - 4); // -1: null
      const setEnd = at + Math.max(0, setBytes);
      need(setEnd - at);
      const from = fromOf(topic, partition);
      const records =
        setBytes > 0
          ? decodeRecordSet(buf.subarray(at, setEnd), from, aborted)
          : { messages: [], coveredTo: from - 1 };
      at = setEnd;
      partitions.push({ topic, partition, errorCode: code, end: highWatermark, ...records });
    }
  }
  return { errorCode, partitions };
}

/**
 * One fetch of each position's partition from `broker`, waiting up to `maxWaitTime` for a first
 * record. Kafka fails a fetch as a whole on one partition's error (kafkajs' semantics, which
 * the callers rely on): the first partition error is thrown, naming its partition.
 */
export async function fetchPartitions(
  broker: KafkaBroker,
  positions: readonly FetchPosition[],
  maxWaitTime: number,
  partitionMaxBytes: number,
): Promise<FetchedPartition[]> {
  const order = shuffled(positions);
  const fromOf = new Map<string, Map<number, number>>();
  for (const p of positions) {
    const topic = fromOf.get(p.ref.topic) ?? new Map<number, number>();
    topic.set(p.ref.partition, p.from);
    fromOf.set(p.ref.topic, topic);
  }
  const body = encodeFetchRequest(order, maxWaitTime, partitionMaxBytes);
  const res = await broker.connectionPool.send({
    request: {
      apiKey: FETCH_API_KEY,
      apiVersion: FETCH_VERSION,
      apiName: 'Fetch',
      // kafkajs copies the body after its request header; it reads an Encoder's buf and buffer.
      encode: () => Promise.resolve({ buf: body, buffer: body }),
    },
    response: {
      decode: (payload: Buffer) =>
        Promise.resolve(decodeFetchResponse(payload, (t, p) => fromOf.get(t)?.get(p) ?? 0)),
      parse: (decoded: ReturnType<typeof decodeFetchResponse>) => Promise.resolve(decoded),
    },
    requestTimeout: maxWaitTime + NETWORK_DELAY_MS,
  });
  if (res.errorCode !== 0) throw new KafkaProtocolError(kafkaErrorName(res.errorCode), res.errorCode);
  const failed = res.partitions.find((p) => p.errorCode !== 0);
  if (failed)
    throw new KafkaProtocolError(
      kafkaErrorName(failed.errorCode),
      failed.errorCode,
      failed.topic,
      failed.partition,
    );
  return res.partitions;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
