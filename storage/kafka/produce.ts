// Herald's own Kafka Produce request (v7) and its response. Pure; unit-tested against kafkajs'
// own RecordBatch decoder.
//
// kafkajs builds each record with an Encoder of its own that grows by doubling into zero-filled
// buffers, then copies records into the batch and the batch into the request: about 70 µs a
// 1 KiB message (`npm run bench:kafka-encode`). Here the whole request is sized first and
// written into one buffer: each record's fields once, each body copied once, the CRC32C of each
// batch computed natively (@node-rs/crc32: SIMD, about 12 × kafkajs' table-driven JS CRC32C on
// a 110 KB batch). What a record holds (key, value, headers, timestamp) is records.ts'
// encodeRecord; this file only writes it.
//
// v7 is the version kafkajs 2.2.4 sends (api-versions.ts checks Kafka accepts it): the last one
// before flexible versions, so plain int16 strings and int32 arrays.
import { crc32c } from '@node-rs/crc32';
import type { OutgoingRecord } from './records';

export const PRODUCE_VERSION = 7;
export const PRODUCE_API_KEY = 0;

/** The idempotent producer's identity: InitProducerId's answer. */
export interface ProducerIdentity {
  producerId: bigint;
  producerEpoch: number;
}

export interface PartitionBatch {
  partition: number;
  /** The sequence number of the batch's first record (then one per record). */
  baseSequence: number;
  records: OutgoingRecord[];
}

export interface ProduceRequest {
  acks: number;
  timeoutMs: number;
  producer: ProducerIdentity;
  topics: { topic: string; partitions: PartitionBatch[] }[];
}

/** One partition's answer in a Produce response. */
export interface PartitionResult {
  topic: string;
  partition: number;
  errorCode: number;
  /** The Kafka offset of the batch's first record; -1 on an error. */
  baseOffset: bigint;
}

/** Record batch header: baseOffset .. records count (magic 2). */
const BATCH_HEADER_BYTES = 61;
/** Where the CRC sits in a batch, and where the bytes it covers start (attributes). */
const CRC_AT = 17;
const CRC_FROM = 21;

/** Sizes of one record's fields, computed once and used to write it. */
interface Sized {
  record: OutgoingRecord;
  timestampDelta: number;
  /** Bytes after the record's length varint. */
  body: number;
  headers: { name: string; nameBytes: number; value: string; valueBytes: number }[];
}

/** The Produce v7 request body (what follows the request header), in one buffer. */
export function encodeProduceRequest(req: ProduceRequest): Buffer {
  // Sizing pass.
  let size = 2 + 2 + 4 + 4; // transactional_id (null), acks, timeout, topics count
  const topics = req.topics.map(({ topic, partitions }) => {
    const topicBytes = Buffer.byteLength(topic, 'utf8');
    size += 2 + topicBytes + 4;
    const sized = partitions.map((p) => {
      const base = firstTimestamp(p.records);
      let batch = BATCH_HEADER_BYTES;
      const records = p.records.map((record, i): Sized => {
        const timestampDelta = Number(record.timestamp) - base;
        const headers = Object.entries(record.headers).map(([name, value]) => ({
          name,
          nameBytes: Buffer.byteLength(name, 'utf8'),
          value,
          valueBytes: Buffer.byteLength(value, 'utf8'),
        }));
        let body = 1 + varlongSize(timestampDelta) + varintSize(i);
        body += record.key === null ? 1 : varintSize(record.key.length) + record.key.length;
        body += varintSize(record.value.length) + record.value.length;
        body += varintSize(headers.length);
        for (const h of headers)
          body += varintSize(h.nameBytes) + h.nameBytes + varintSize(h.valueBytes) + h.valueBytes;
        batch += varintSize(body) + body;
        return { record, timestampDelta, body, headers };
      });
      size += 4 + 4 + batch; // partition, record set size, the batch
      return { p, base, batch, records };
    });
    return { topic, topicBytes, sized };
  });

  // Writing pass.
  const buf = Buffer.allocUnsafe(size);
  let at = buf.writeInt16BE(-1, 0); // transactional_id: none
  at = buf.writeInt16BE(req.acks, at);
  at = buf.writeInt32BE(req.timeoutMs, at);
  at = buf.writeInt32BE(topics.length, at);
  for (const { topic, topicBytes, sized } of topics) {
    at = buf.writeInt16BE(topicBytes, at);
    at += buf.write(topic, at, topicBytes, 'utf8');
    at = buf.writeInt32BE(sized.length, at);
    for (const { p, base, batch, records } of sized) {
      at = buf.writeInt32BE(p.partition, at);
      at = buf.writeInt32BE(batch, at);
      at = writeBatch(buf, at, req.producer, p, base, batch, records);
    }
  }
  if (at !== size) throw new Error(`produce request sized ${size} bytes, written ${at}`);
  return buf;
}

function writeBatch(
  buf: Buffer,
  start: number,
  producer: ProducerIdentity,
  p: PartitionBatch,
  base: number,
  batch: number,
  records: Sized[],
): number {
  let maxTimestamp = base;
  for (const r of records) maxTimestamp = Math.max(maxTimestamp, base + r.timestampDelta);
  let at = buf.writeBigInt64BE(0n, start); // base offset: Kafka assigns it
  at = buf.writeInt32BE(batch - 12, at); // length of what follows
  at = buf.writeInt32BE(-1, at); // partition leader epoch: Kafka's to set
  at = buf.writeInt8(2, at); // magic
  at += 4; // CRC, written last
  at = buf.writeInt16BE(0, at); // attributes: no compression, CreateTime, not transactional
  at = buf.writeInt32BE(records.length - 1, at); // last offset delta
  at = buf.writeBigInt64BE(BigInt(base), at);
  at = buf.writeBigInt64BE(BigInt(maxTimestamp), at);
  at = buf.writeBigInt64BE(producer.producerId, at);
  at = buf.writeInt16BE(producer.producerEpoch, at);
  at = buf.writeInt32BE(p.baseSequence, at);
  at = buf.writeInt32BE(records.length, at);
  records.forEach((r, i) => {
    at = writeVarint(buf, at, r.body);
    buf[at++] = 0; // record attributes
    at = writeVarlong(buf, at, r.timestampDelta);
    at = writeVarint(buf, at, i); // offset delta
    if (r.record.key === null) at = writeVarint(buf, at, -1);
    else {
      at = writeVarint(buf, at, r.record.key.length);
      at += r.record.key.copy(buf, at);
    }
    at = writeVarint(buf, at, r.record.value.length);
    at += r.record.value.copy(buf, at);
    at = writeVarint(buf, at, r.headers.length);
    for (const h of r.headers) {
      at = writeVarint(buf, at, h.nameBytes);
      at += buf.write(h.name, at, h.nameBytes, 'utf8');
      at = writeVarint(buf, at, h.valueBytes);
      at += buf.write(h.value, at, h.valueBytes, 'utf8');
    }
  });
  buf.writeUInt32BE(crc32c(buf.subarray(start + CRC_FROM, at)) >>> 0, start + CRC_AT);
  return at;
}

/** The batch's base timestamp: its records' earliest. */
function firstTimestamp(records: OutgoingRecord[]): number {
  let min = Infinity;
  for (const r of records) min = Math.min(min, Number(r.timestamp));
  return min;
}

/** Decodes a Produce v7 response body; every partition's result, errors included. */
export function decodeProduceResponse(buf: Buffer): PartitionResult[] {
  const results: PartitionResult[] = [];
  let at = 0;
  const need = (n: number) => {
    if (at + n > buf.length)
      throw new Error(`Produce response cut short: ${buf.length} bytes, needed ${at + n}`);
  };
  need(4);
  const topics = buf.readInt32BE(at);
  at += 4;
  for (let t = 0; t < topics; t++) {
    need(2);
    const nameBytes = buf.readInt16BE(at);
    need(2 + nameBytes + 4);
    const topic = buf.toString('utf8', at + 2, at + 2 + nameBytes);
    at += 2 + nameBytes;
    const partitions = buf.readInt32BE(at);
    at += 4;
    for (let p = 0; p < partitions; p++) {
      // partition, error_code, base_offset, log_append_time, log_start_offset
      need(4 + 2 + 8 + 8 + 8);
      results.push({
        topic,
        partition: buf.readInt32BE(at),
        errorCode: buf.readInt16BE(at + 4),
        baseOffset: buf.readBigInt64BE(at + 6),
      });
      at += 30;
    }
  }
  return results;
}

// Kafka's varints: zig-zag, then 7 bits a byte, least significant first.

function writeVarint(buf: Buffer, at: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v > 0x7f) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

function varintSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let n = 1;
  while (v > 0x7f) {
    n++;
    v >>>= 7;
  }
  return n;
}

/** A varlong (a timestamp delta), exact for |value| < 2^52, in plain number arithmetic. */
function writeVarlong(buf: Buffer, at: number, value: number): number {
  let v = value >= 0 ? value * 2 : -value * 2 - 1;
  while (v > 0x7f) {
    buf[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

function varlongSize(value: number): number {
  let v = value >= 0 ? value * 2 : -value * 2 - 1;
  let n = 1;
  while (v > 0x7f) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}
