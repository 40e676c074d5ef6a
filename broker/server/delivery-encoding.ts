// The wire encoding of the two responses that carry deliveries (PullResponse, SubscribeResponse),
// written into one buffer: straight from the stored messages for this broker's own deliveries
// (StoredDeliveries: no Delivery object or message-id string per message), else from the
// generated Delivery__Input objects (a response forwarded from another broker). protobufjs'
// serializer (proto-loader's: fromObject, then encode) was about 15 % of a Kafka broker's CPU
// in a drain: a message object, a Long per uint64 and a writer op per field, all garbage. The
// bytes are protobufjs' own for the same input (fields in id order, every field present in the
// object written, defaults included), which test/unit/broker/delivery-encoding.test.ts checks.
// Input the fast path does not take (a uint64 as a string or Long, a body as base64 text) goes
// to protobufjs' serializer unchanged. The other way, a Subscribe stream's acks (one offset per
// delivered message) are decoded here too: protobufjs decoded each uint64 into a Long, then
// converted it to a number.
import { loadProtos } from '../../proto/load';
import type { BrokerDefinition } from '../../proto/gen/herald/v1/Broker';
import type { Delivery__Input } from '../../proto/gen/herald/v1/Delivery';
import type { PullResponse__Input } from '../../proto/gen/herald/v1/PullResponse';
import type { SubscribeRequest } from '../../proto/gen/herald/v1/SubscribeRequest';
import type { SubscribeResponse__Input } from '../../proto/gen/herald/v1/SubscribeResponse';
import type { Delivered } from '../delivery/group-cursor';
import type { PartitionRef, StoredMessage } from '../../storage/storage';
import { messageId, scheduledId } from '../trace/message-id';

type Serialize<T> = (value: T) => Buffer;

/** A stored message as a client sees it (the generated type; the slow path and Admin's answers). */
export function toDelivery(ref: PartitionRef, d: Delivered): Delivery__Input {
  const m = d.message;
  return {
    topic: ref.topic,
    partition: ref.partition,
    offset: m.offset,
    messageId: messageId(ref, m.offset),
    key: m.key,
    refKey: m.refKey,
    tags: m.tags,
    properties: m.properties,
    body: m.body,
    publishTimeMs: m.publishedAt,
    deliveryAttempt: d.attempt,
    ...(m.scheduled
      ? { scheduledId: scheduledId(ref, m.scheduled.id), deliverAtMs: m.scheduled.deliverAt }
      : {}),
    priority: m.priority,
  };
}

/**
 * One partition's deliveries as taken from the store, as a PullResponse (`messages`) or a
 * SubscribeResponse (`delivery`, one, or `deliveries`). Its generated fields are toDelivery's
 * objects, built only when read (protobufjs' fallback, a test); the served serializers encode
 * the stored messages themselves.
 */
export class StoredDeliveries implements PullResponse__Input, SubscribeResponse__Input {
  constructor(
    readonly ref: PartitionRef,
    readonly taken: Delivered[],
    readonly field: 'messages' | 'delivery' | 'deliveries',
  ) {}

  get messages(): Delivery__Input[] | undefined {
    return this.field === 'messages' ? this.objects() : undefined;
  }

  get delivery(): Delivery__Input | undefined {
    return this.field === 'delivery' ? toDelivery(this.ref, this.taken[0]) : undefined;
  }

  get deliveries(): Delivery__Input[] | undefined {
    return this.field === 'deliveries' ? this.objects() : undefined;
  }

  private objects(): Delivery__Input[] {
    return this.taken.map((d) => toDelivery(this.ref, d));
  }
}

let cached: BrokerDefinition | undefined;

/**
 * herald.v1.Broker as served (gRPC server, HTTP gateway): Pull's and Subscribe's responses
 * encoded here, Subscribe's acks decoded here.
 */
export function brokerServiceDefinition(): BrokerDefinition {
  return (cached ??= withDeliveryEncoding(loadProtos().grpc.herald.v1.Broker.service));
}

function withDeliveryEncoding(service: BrokerDefinition): BrokerDefinition {
  const pull = service.Pull.responseSerialize;
  const subscribe = service.Subscribe.responseSerialize;
  return {
    ...service,
    Pull: { ...service.Pull, responseSerialize: (res) => encodePullResponse(res, pull) },
    Subscribe: {
      ...service.Subscribe,
      responseSerialize: (res) => encodeSubscribeResponse(res, subscribe),
      requestDeserialize: subscribeRequestDecoder(service.Subscribe.requestDeserialize),
    },
  };
}

/**
 * SubscribeRequest's decoder: an ack (field 3) whose offsets (field 1) are packed, as protobufjs
 * writes them, is read here into the object protobufjs would give (defaults included, taken
 * from its own decoding of an empty ack); anything else goes to `fallback`.
 */
export function subscribeRequestDecoder(
  fallback: (buf: Buffer) => SubscribeRequest,
): (buf: Buffer) => SubscribeRequest {
  const template = fallback(Buffer.from([0x1a, 0x00]));
  return (buf) => {
    const offsets = packedAckOffsets(buf);
    return offsets ? { ...template, ack: { ...template.ack, offsets } } : fallback(buf);
  };
}

/** The offsets of a SubscribeRequest that is exactly one ack with packed offsets, else undefined. */
function packedAckOffsets(buf: Buffer): number[] | undefined {
  if (buf.length < 2 || buf[0] !== 0x1a) return undefined;
  const r = { at: 1 };
  const ackBytes = readVarint(buf, r);
  if (ackBytes !== buf.length - r.at) return undefined;
  if (ackBytes === 0) return [];
  if (buf[r.at++] !== 0x0a) return undefined;
  const packed = readVarint(buf, r);
  if (packed !== buf.length - r.at) return undefined;
  const offsets: number[] = [];
  while (r.at < buf.length) {
    const v = readVarint(buf, r);
    if (v < 0) return undefined;
    offsets.push(v);
  }
  return offsets;
}

/** A varint at r.at (moved past it) as a number; -1 if cut short or above 2^53 - 1. */
function readVarint(buf: Buffer, r: { at: number }): number {
  let v = 0;
  let scale = 1;
  for (;;) {
    if (r.at >= buf.length) return -1;
    const b = buf[r.at++];
    v += (b & 0x7f) * scale;
    if (b < 0x80) return Number.isSafeInteger(v) ? v : -1;
    scale *= 128;
    if (scale > 2 ** 56) return -1;
  }
}

/** PullResponse: `messages` is field 1. */
export function encodePullResponse(
  res: PullResponse__Input,
  fallback: Serialize<PullResponse__Input>,
): Buffer {
  if (res instanceof StoredDeliveries) return encodeStored(res, 0x0a) ?? fallback(res);
  const messages = res.messages;
  if (!messages || messages.length === 0) return fallback(res);
  return encodeDeliveries(undefined, messages, 0x0a) ?? fallback(res);
}

/**
 * SubscribeResponse: `delivery` (1) and `deliveries` (2) here; `ack_refused` (3), rare, by
 * protobufjs, appended (fields of a message may be concatenated, and 3 comes last anyway).
 */
export function encodeSubscribeResponse(
  res: SubscribeResponse__Input,
  fallback: Serialize<SubscribeResponse__Input>,
): Buffer {
  if (res instanceof StoredDeliveries)
    return encodeStored(res, res.field === 'delivery' ? 0x0a : 0x12) ?? fallback(res);
  const single = res.delivery ?? undefined;
  const many = res.deliveries && res.deliveries.length > 0 ? res.deliveries : undefined;
  if (!single && !many) return fallback(res);
  const head = encodeDeliveries(single, many ?? [], 0x12);
  if (!head) return fallback(res);
  if (res.ackRefused == null) return head;
  return Buffer.concat([head, fallback({ ackRefused: res.ackRefused })]);
}

/**
 * `single` as field 1 (tag 0x0a), then each of `many` under `tag`; undefined when a delivery
 * holds what only protobufjs converts.
 */
function encodeDeliveries(
  single: Delivery__Input | undefined,
  many: Delivery__Input[],
  tag: number,
): Buffer | undefined {
  const sizes: number[] = [];
  let total = 0;
  if (single) {
    const n = deliverySize(single);
    if (n < 0) return undefined;
    sizes.push(n);
    total += 1 + varintSize(n) + n;
  }
  for (const d of many) {
    const n = deliverySize(d);
    if (n < 0) return undefined;
    sizes.push(n);
    total += 1 + varintSize(n) + n;
  }
  const w = new Writer(total);
  let i = 0;
  if (single) {
    w.byte(0x0a);
    w.varint(sizes[i++]);
    writeDelivery(w, single);
  }
  for (const d of many) {
    w.byte(tag);
    w.varint(sizes[i++]);
    writeDelivery(w, d);
  }
  return w.buf;
}

/**
 * Every taken message under `tag`, written from the stored message: the topic's bytes and the
 * partition's digits are measured once, the message id is written, not built. Undefined when a
 * number is out of the fast path's range (protobufjs then encodes toDelivery's objects).
 */
function encodeStored(res: StoredDeliveries, tag: number): Buffer | undefined {
  const { ref, taken } = res;
  if (taken.length === 0 || !isUint32(ref.partition)) return undefined;
  const topic = Buffer.from(ref.topic);
  const head = 1 + varintSize(topic.length) + topic.length + 1 + varintSize(ref.partition);
  // The message id's bytes but for the offset's digits: topic, '/', partition, '/'.
  const idHead = topic.length + decimalSize(ref.partition) + 2;
  const sizes = new Array<number>(taken.length);
  let total = 0;
  for (let i = 0; i < taken.length; i++) {
    const { message: m, attempt } = taken[i];
    const scheduled = scheduledSize(ref, m);
    if (!isUint64(m.offset) || !isUint64(m.publishedAt) || !isUint32(attempt) || scheduled < 0)
      return undefined;
    const id = idHead + decimalSize(m.offset);
    const n =
      head +
      1 +
      varintSize(m.offset) +
      1 +
      varintSize(id) +
      id +
      contentSize(m) +
      1 +
      varintSize(m.publishedAt) +
      1 +
      varintSize(attempt) +
      2 +
      scheduled;
    sizes[i] = n;
    total += 1 + varintSize(n) + n;
  }
  const w = new Writer(total);
  for (let i = 0; i < taken.length; i++) {
    const { message: m, attempt } = taken[i];
    w.byte(tag);
    w.varint(sizes[i]);
    w.byte(0x0a);
    w.varint(topic.length);
    w.raw(topic);
    w.uint(0x10, ref.partition);
    w.uint(0x18, m.offset);
    w.byte(0x22);
    w.varint(idHead + decimalSize(m.offset));
    w.raw(topic);
    w.byte(0x2f);
    w.decimal(ref.partition);
    w.byte(0x2f);
    w.decimal(m.offset);
    writeContent(w, m);
    w.uint(0x50, m.publishedAt);
    w.uint(0x58, attempt);
    w.uint(0x60, m.priority ? 1 : 0);
    if (m.scheduled) {
      w.string(0x6a, scheduledId(ref, m.scheduled.id));
      w.uint(0x70, m.scheduled.deliverAt);
    }
  }
  return w.buf;
}

/** Fields 13 and 14 of a stored message that fell due (-1 if out of range). */
function scheduledSize(ref: PartitionRef, m: StoredMessage): number {
  if (!m.scheduled) return 0;
  if (!isUint64(m.scheduled.deliverAt)) return -1;
  return stringField(scheduledId(ref, m.scheduled.id)) + 1 + varintSize(m.scheduled.deliverAt);
}

/** What a delivery carries of the message as published: fields 5 to 9. */
type Content = Pick<Delivery__Input, 'key' | 'refKey' | 'tags' | 'properties'> & { body?: Uint8Array | null };

function contentSize(d: Content): number {
  let n = 0;
  if (d.key != null) n += stringField(d.key);
  if (d.refKey != null) n += stringField(d.refKey);
  if (d.tags != null) for (const t of d.tags) n += stringField(t);
  if (d.properties != null) {
    const props = d.properties;
    for (const k of Object.keys(props)) {
      const entry = stringField(k) + stringField(props[k]);
      n += 1 + varintSize(entry) + entry;
    }
  }
  if (d.body != null) n += 1 + varintSize(d.body.length) + d.body.length;
  return n;
}

function writeContent(w: Writer, d: Content): void {
  if (d.key != null) w.string(0x2a, d.key);
  if (d.refKey != null) w.string(0x32, d.refKey);
  if (d.tags != null) for (const t of d.tags) w.string(0x3a, t);
  if (d.properties != null) {
    const props = d.properties;
    for (const k of Object.keys(props)) {
      const v = props[k];
      w.byte(0x42);
      w.varint(stringField(k) + stringField(v));
      w.string(0x0a, k);
      w.string(0x12, v);
    }
  }
  if (d.body != null) w.bytes(0x4a, d.body);
}

/** A uint64 the fast path takes: a non-negative safe integer number (or no value). */
function isUint64(v: unknown): boolean {
  return v == null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
}

function isUint32(v: unknown): boolean {
  return v == null || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
}

/** The encoded size of a Delivery, or -1 for input left to protobufjs. */
function deliverySize(d: Delivery__Input): number {
  if (
    !isUint64(d.offset) ||
    !isUint64(d.publishTimeMs) ||
    !isUint64(d.deliverAtMs) ||
    !isUint32(d.partition) ||
    !isUint32(d.deliveryAttempt) ||
    typeof d.body === 'string'
  )
    return -1;
  let n = 0;
  if (d.topic != null) n += stringField(d.topic);
  if (d.partition != null) n += 1 + varintSize(d.partition);
  if (d.offset != null) n += 1 + varintSize(d.offset as number);
  if (d.messageId != null) n += stringField(d.messageId);
  n += contentSize(d as Content);
  if (d.publishTimeMs != null) n += 1 + varintSize(d.publishTimeMs as number);
  if (d.deliveryAttempt != null) n += 1 + varintSize(d.deliveryAttempt);
  if (d.priority != null) n += 2;
  if (d.scheduledId != null) n += stringField(d.scheduledId);
  if (d.deliverAtMs != null) n += 1 + varintSize(d.deliverAtMs as number);
  return n;
}

function writeDelivery(w: Writer, d: Delivery__Input): void {
  if (d.topic != null) w.string(0x0a, d.topic);
  if (d.partition != null) w.uint(0x10, d.partition);
  if (d.offset != null) w.uint(0x18, d.offset as number);
  if (d.messageId != null) w.string(0x22, d.messageId);
  writeContent(w, d as Content);
  if (d.publishTimeMs != null) w.uint(0x50, d.publishTimeMs as number);
  if (d.deliveryAttempt != null) w.uint(0x58, d.deliveryAttempt);
  if (d.priority != null) w.uint(0x60, d.priority ? 1 : 0);
  if (d.scheduledId != null) w.string(0x6a, d.scheduledId);
  if (d.deliverAtMs != null) w.uint(0x70, d.deliverAtMs as number);
}

/** Strings up to this length are measured and written by a loop while they are ASCII (< 128). */
const SHORT_STRING = 64;

function utf8Size(s: string): number {
  if (s.length > SHORT_STRING) return Buffer.byteLength(s);
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s);
  return s.length;
}

/** A string field's size with its one-byte tag and its length. */
function stringField(s: string): number {
  const n = utf8Size(s);
  return 1 + varintSize(n) + n;
}

/** Decimal digits of a non-negative safe integer. */
function decimalSize(v: number): number {
  let n = 1;
  while (v >= 10) {
    v = Math.floor(v / 10);
    n++;
  }
  return n;
}

/** Bytes of a varint of a non-negative safe integer. */
function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes into a buffer of the exact size computed beforehand. */
class Writer {
  readonly buf: Buffer;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  varint(v: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (v > 0xffffffff) {
      buf[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  uint(tag: number, v: number): void {
    this.byte(tag);
    this.varint(v);
  }

  string(tag: number, s: string): void {
    this.byte(tag);
    const buf = this.buf;
    const len = s.length;
    if (len <= SHORT_STRING) {
      // ASCII in one pass: its length is one byte; at the first other character, start over.
      let pos = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[pos++] = c;
      }
      if (i === len) {
        buf[this.pos] = len;
        this.pos = pos;
        return;
      }
    }
    const n = Buffer.byteLength(s);
    this.varint(n);
    this.pos += buf.write(s, this.pos, n, 'utf8');
  }

  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A non-negative safe integer in ASCII decimal. */
  decimal(v: number): void {
    const end = this.pos + decimalSize(v);
    for (let at = end - 1; at >= this.pos; at--) {
      this.buf[at] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    }
    this.pos = end;
  }

  bytes(tag: number, b: Uint8Array): void {
    this.byte(tag);
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}
