// How a Herald message is a Kafka record, and back. Pure; unit-tested.
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
// their headers as properties.
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

/** What kafkajs gives back for one record (a decoded fetch response). */
export interface IncomingRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
  isControlRecord?: boolean;
}

export function toHeraldOffset(kafkaOffset: string | number | bigint): number {
  return Number(kafkaOffset) + 1;
}

/**
 * The records of one partition's fetch at or after Herald offset `from`. A fetch returns whole
 * record batches in offset order, so only the first batch can hold records before it.
 */
export function recordsFrom<R extends { offset: string }>(records: R[], from: number): R[] {
  let first = 0;
  while (first < records.length && toHeraldOffset(records[first].offset) < from) first++;
  return first === 0 ? records : records.slice(first);
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

export function decodeRecord(r: IncomingRecord): StoredMessage {
  const properties: Record<string, string> = {};
  let refKey = '';
  let tags: string[] = [];
  const headers = r.headers;
  // for-in over the record's own headers object (kafkajs' decoder builds a plain one): no
  // entries array per record.
  for (const name in headers) {
    const raw = headers[name];
    if (raw === undefined) continue;
    // A header repeated by a foreign producer: the last value wins.
    const one = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    const value = Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
    if (name === REF_KEY_HEADER) refKey = value;
    else if (name === TAGS_HEADER) tags = parseTags(value);
    else if (name.startsWith(ESCAPE_PREFIX)) properties[name.slice(ESCAPE_PREFIX.length)] = value;
    else properties[name] = value;
  }
  return {
    key: r.key ? r.key.toString('utf8') : '',
    refKey,
    tags,
    properties,
    body: r.value ?? Buffer.alloc(0),
    priority: false,
    offset: toHeraldOffset(r.offset),
    publishedAt: Number(r.timestamp),
  };
}

/**
 * What decodeRecord gives for the record encodeRecord(m, publishedAt) stored at `offset`,
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
