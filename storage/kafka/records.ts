// How a Herald message is a Kafka record, and back: records are written by produce.ts and
// decoded here straight from a fetch's record batches (decodeRecordSet). Pure; unit-tested.
//
// - Offsets: Herald offsets start at 1, Kafka's at 0, so Herald offset = Kafka offset + 1 (a
//   message id names the Herald offset). A Herald committed offset c ("everything up to c is
//   done") is then exactly Kafka's committed offset ("the next record to read is c"), and the
//   end offset (the highest Herald offset) is Kafka's high watermark: Kafka's tools show the
//   same committed offset, end offset and lag as `herald lag`.
// - key: the Kafka key ('' is no key, so Kafka's own partitioner and compaction see none).
// - body: the value (a null value, a tombstone, is an empty body).
// - publishedAt: the record's timestamp (CreateTime, set by the owner).
// - properties: one header each, so Kafka consumers see them as headers; refKey and tags in
//   headers of their own under HERALD_PREFIX. A property whose name starts with the prefix is
//   stored under ESCAPE_PREFIX and given back unchanged.
// Records written by other producers (no Herald headers) get the defaults: no ref key, no tags,
// their headers as properties (a repeated header: its last value; a null header value: '').
import { unzipSync } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import { HeraldError } from '../../common/errors';
import type { NewMessage, StoredMessage } from '../storage';

export const HERALD_PREFIX = 'herald.';
export const REF_KEY_HEADER = 'herald.ref-key';
export const TAGS_HEADER = 'herald.tags';
const ESCAPE_PREFIX = 'herald.property.';

/** What kafkajs takes for one record. */
export interface OutgoingRecord {
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
  timestamp: string;
}

export function toHeraldOffset(kafkaOffset: string | number | bigint): number {
  return Number(kafkaOffset) + 1;
}

/** The Kafka offset of a Herald offset, as kafkajs wants it (a decimal string). */
export function toKafkaOffset(heraldOffset: number): string {
  return String(heraldOffset - 1);
}

export function encodeRecord(m: NewMessage, publishedAt: number): OutgoingRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(m.properties)) {
    headers[name.startsWith(HERALD_PREFIX) ? ESCAPE_PREFIX + name : name] = value;
  }
  if (m.refKey !== '') headers[REF_KEY_HEADER] = m.refKey;
  if (m.tags.length > 0) headers[TAGS_HEADER] = JSON.stringify(m.tags);
  return {
    key: m.key === '' ? null : Buffer.from(m.key),
    value: m.body,
    headers,
    timestamp: String(publishedAt),
  };
}

/**
 * What decodeRecordSet gives for the record encodeRecord(m, publishedAt) stored at `offset`,
 * without the round trip: the owner hands its own acknowledged records to its tail this way.
 */
export function storedRecord(m: NewMessage, offset: number, publishedAt: number): StoredMessage {
  return {
    key: m.key,
    refKey: m.refKey,
    tags: m.tags,
    properties: m.properties,
    body: m.body,
    priority: false,
    offset,
    publishedAt,
  };
}

/** Tags as written by encodeRecord; anything else (a foreign header of that name) is no tags. */
function parseTags(value: string): string[] {
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed) && parsed.every((t) => typeof t === 'string')) return parsed;
  } catch {
    // not JSON: not ours
  }
  return [];
}

/** A transaction Kafka aborted, as a read-committed fetch names it. */
export interface AbortedTransaction {
  producerId: bigint;
  /** The Kafka offset of the transaction's first record. */
  firstOffset: number;
}

/** One partition's record set from a fetch, decoded from Herald offset `from` on. */
export interface DecodedRecords {
  /** The records at or after `from`, in offset order: no control records, none of an aborted transaction. */
  messages: StoredMessage[];
  /** The last Herald offset of the whole batches read at or after `from` (skipped ones too), or from - 1. */
  coveredTo: number;
}

// Record batch (magic 2): base offset int64, length int32 (of what follows), partition leader
// epoch int32, magic int8, CRC int32 (CRC32C of attributes .. end), attributes int16, last
// offset delta int32, base timestamp int64, max timestamp int64, producer id int64, producer
// epoch int16, base sequence int32, record count int32, then the records (compressed as a
// whole when the attributes say so).
const BATCH_HEADER = 61;
const COMPRESSION = 0x07;
const GZIP = 1;
const LOG_APPEND_TIME = 0x08;
const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;
/** A control record's key: version int16, type int16 (0 abort, 1 commit). */
const ABORT_MARKER = 0;
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const EMPTY = Buffer.alloc(0);
/** Shared by every record without tags or properties (most): two allocations fewer a message. */
const NO_TAGS = Object.freeze([]) as readonly string[] as string[];
const NO_PROPERTIES = Object.freeze({}) as Record<string, string>;

/**
 * Decodes a fetch's record set for one partition straight into messages (no intermediate
 * record objects; bodies are views of `set`). As a consumer must, it skips control batches and,
 * read committed, the batches of `aborted` transactions, and stops at a partial trailing batch
 * (a fetch's byte limit cuts the last one). Batches are checked against their CRC; gzip is
 * inflated (synchronously: only foreign producers compress, Herald's own produce does not).
 */
export function decodeRecordSet(
  set: Buffer,
  from: number,
  aborted: readonly AbortedTransaction[],
): DecodedRecords {
  const messages: StoredMessage[] = [];
  let coveredTo = from - 1;
  const pending = aborted.length > 1 ? [...aborted].sort((a, b) => a.firstOffset - b.firstOffset) : aborted;
  let nextAborted = 0;
  let abortedProducers: Set<bigint> | undefined;
  for (let at = 0; set.length - at >= BATCH_HEADER;) {
    const base = int64(set, at);
    const end = at + 12 + set.readInt32BE(at + 8);
    if (end > set.length) break;
    if (set[at + 16] !== 2) throw corrupt(`a record batch of magic ${set[at + 16]}`);
    if (crc32c(set.subarray(at + 21, end)) >>> 0 !== set.readUInt32BE(at + 17))
      throw corrupt('a record batch whose CRC does not match');
    const attributes = set.readInt16BE(at + 21);
    const last = toHeraldOffset(base + set.readInt32BE(at + 23));
    const batchAt = at;
    at = end;
    if (last < from) continue;
    coveredTo = Math.max(coveredTo, last);
    // Transactions that began at or before this batch's last record are open from here on.
    while (nextAborted < pending.length && pending[nextAborted].firstOffset <= last - 1) {
      abortedProducers ??= new Set();
      abortedProducers.add(pending[nextAborted++].producerId);
    }
    if ((attributes & (TRANSACTIONAL | CONTROL)) !== 0 && abortedProducers?.size) {
      const producer = set.readBigInt64BE(batchAt + 43);
      if (abortedProducers.has(producer)) {
        if ((attributes & CONTROL) !== 0 && controlType(set, batchAt + BATCH_HEADER, end) === ABORT_MARKER)
          abortedProducers.delete(producer);
        continue;
      }
    }
    if ((attributes & CONTROL) !== 0) continue;
    const codec = attributes & COMPRESSION;
    let data = set;
    let p = batchAt + BATCH_HEADER;
    let stop = end;
    if (codec === GZIP) {
      data = unzipSync(set.subarray(p, end));
      p = 0;
      stop = data.length;
    } else if (codec !== 0)
      throw new HeraldError(
        'STORAGE_UNAVAILABLE',
        `a Kafka record batch is compressed with ${CODECS[codec] ?? `codec ${codec}`}, which Herald does not decode (only gzip or none)`,
        { kafkaError: 'UNSUPPORTED_COMPRESSION_TYPE' },
      );
    const baseTimestamp = int64(set, batchAt + 27);
    const appendTime = (attributes & LOG_APPEND_TIME) !== 0 ? int64(set, batchAt + 35) : undefined;
    const count = set.readInt32BE(batchAt + 57);
    const r = new Cursor(data, p);
    for (let i = 0; i < count; i++) {
      const length = r.varint();
      const recordEnd = r.at + length;
      if (length < 0 || recordEnd > stop) throw corrupt('a record that runs past its batch');
      r.at++; // record attributes: unused
      const timestampDelta = r.varlong();
      const offset = toHeraldOffset(base + r.varint());
      if (offset < from) {
        r.at = recordEnd;
        continue;
      }
      const keyLength = r.varint();
      const key = keyLength > 0 ? data.toString('utf8', r.at, (r.at += keyLength)) : '';
      const valueLength = r.varint();
      const body = valueLength > 0 ? data.subarray(r.at, (r.at += valueLength)) : EMPTY;
      let properties = NO_PROPERTIES;
      let refKey = '';
      let tags = NO_TAGS;
      for (let h = r.varint(); h > 0; h--) {
        const nameLength = r.varint();
        const name = data.toString('utf8', r.at, (r.at += nameLength));
        const valueBytes = r.varint();
        const value = valueBytes > 0 ? data.toString('utf8', r.at, (r.at += valueBytes)) : '';
        // A header repeated by a foreign producer: the last value wins.
        if (name === REF_KEY_HEADER) refKey = value;
        else if (name === TAGS_HEADER) tags = parseTags(value);
        else {
          if (properties === NO_PROPERTIES) properties = {};
          if (name.startsWith(ESCAPE_PREFIX)) properties[name.slice(ESCAPE_PREFIX.length)] = value;
          else properties[name] = value;
        }
      }
      if (r.at > recordEnd) throw corrupt('a record longer than its length');
      r.at = recordEnd;
      messages.push({
        key,
        refKey,
        tags,
        properties,
        body,
        priority: false,
        offset,
        publishedAt: appendTime ?? baseTimestamp + timestampDelta,
      });
    }
  }
  return { messages, coveredTo };
}

/** The type of a control batch's marker (its one record's key), or -1 if it has none. */
function controlType(set: Buffer, at: number, end: number): number {
  const r = new Cursor(set, at);
  r.varint(); // length
  r.at++; // attributes
  r.varlong(); // timestamp delta
  r.varint(); // offset delta
  return r.varint() >= 4 && r.at + 4 <= end ? set.readInt16BE(r.at + 2) : -1;
}

/** An int64 as a number: exact below 2^53, which offsets and millisecond timestamps are. */
function int64(buf: Buffer, at: number): number {
  return buf.readInt32BE(at) * 4294967296 + buf.readUInt32BE(at + 4);
}

function corrupt(what: string): HeraldError {
  return new HeraldError('STORAGE_UNAVAILABLE', `Kafka sent ${what}`, { kafkaError: 'CORRUPT_MESSAGE' });
}

/** Reads Kafka's varints (zig-zag, 7 bits a byte, least significant first) from `at` on. */
class Cursor {
  constructor(
    private readonly buf: Buffer,
    public at: number,
  ) {}

  varint(): number {
    let v = 0;
    let shift = 0;
    let b: number;
    do {
      if (this.at >= this.buf.length || shift > 28) throw corrupt('a varint past the end of its record');
      b = this.buf[this.at++];
      v |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return (v >>> 1) ^ -(v & 1);
  }

  /** A varlong in plain number arithmetic, exact for |value| < 2^52 (a timestamp delta). */
  varlong(): number {
    let v = 0;
    let scale = 1;
    let b: number;
    do {
      if (this.at >= this.buf.length || scale > 2 ** 56)
        throw corrupt('a varlong past the end of its record');
      b = this.buf[this.at++];
      v += (b & 0x7f) * scale;
      scale *= 128;
    } while (b & 0x80);
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }
}
