// A message as an application hands it to the Producer, checked and turned into the wire
// form (herald.v1.Message). Pure; unit-tested.
import { HeraldError } from '../common/errors';
import { messageSize } from '../common/message-size';
import type { Message__Input } from '../proto/gen/herald/v1/Message';

export interface OutgoingMessage {
  /** The payload; a string is sent as UTF-8. */
  body: Buffer | Uint8Array | string;
  /** The partitioning key: messages with one key land in one partition, in order. */
  key?: string;
  /** An explicit partition instead of the key's. */
  partition?: number;
  /** The business id, for `herald trace --ref-key`. */
  refKey?: string;
  /** Tags for ConsumerGroup tag filters: each 1-64 characters of [A-Za-z0-9._:-]. */
  tags?: string[];
  /** Application headers. */
  properties?: Record<string, string>;
  /** Deliver before the partition's normal messages (the Topic needs spec.priority). */
  priority?: boolean;
  /** Deliverable at this time (the Topic needs spec.delay). */
  deliverAt?: Date | number;
  /** Deliverable this long after the broker accepted it (the Topic needs spec.delay). */
  delayMs?: number;
}

/** What send() resolves to: where the message was stored. */
export interface SendResult {
  topic: string;
  partition: number;
  /** 0 for a delayed message: it gets its offset when it falls due. */
  offset: number;
  /** "<topic>/<partition>/<offset>", or "<topic>/<partition>/d<id>" for a delayed message. */
  messageId: string;
  /** For a delayed message, when it becomes deliverable (ms since the Unix epoch); else 0. */
  deliverAtMs: number;
}

const TAG = /^[A-Za-z0-9._:-]{1,64}$/;

function invalid(field: string, problem: string): HeraldError {
  return new HeraldError('INVALID_REQUEST', `${field} ${problem}`, { field });
}

/** The wire form of a message; INVALID_REQUEST naming the field when it is malformed. */
export function toWire(m: OutgoingMessage): Message__Input {
  if (m === null || typeof m !== 'object') throw invalid('message', 'must be an object');
  const body = typeof m.body === 'string' ? Buffer.from(m.body, 'utf8') : m.body;
  if (!(body instanceof Uint8Array)) throw invalid('body', 'must be a Buffer, Uint8Array or string');
  if (m.key !== undefined && typeof m.key !== 'string') throw invalid('key', 'must be a string');
  if (m.partition !== undefined && (!Number.isInteger(m.partition) || m.partition < 0)) {
    throw invalid('partition', `must be an integer >= 0, got ${JSON.stringify(m.partition)}`);
  }
  if (m.partition !== undefined && m.key !== undefined) {
    throw invalid('partition', 'and key are exclusive: the key chooses the partition');
  }
  (m.tags ?? []).forEach((t, i) => {
    if (typeof t !== 'string' || !TAG.test(t)) {
      throw invalid(`tags[${i}]`, `must be 1-64 characters of [A-Za-z0-9._:-], got ${JSON.stringify(t)}`);
    }
  });
  for (const [k, v] of Object.entries(m.properties ?? {})) {
    if (typeof v !== 'string') throw invalid(`properties.${k}`, 'must be a string');
  }
  if (m.deliverAt !== undefined && m.delayMs !== undefined) {
    throw invalid('deliverAt', 'and delayMs are exclusive');
  }
  const wire: Message__Input = {
    key: m.key ?? '',
    refKey: m.refKey ?? '',
    tags: m.tags ?? [],
    properties: m.properties ?? {},
    body,
    priority: m.priority === true,
  };
  if (m.deliverAt !== undefined) {
    const at = m.deliverAt instanceof Date ? m.deliverAt.getTime() : m.deliverAt;
    if (!Number.isSafeInteger(at) || at < 0) {
      throw invalid('deliverAt', `must be a Date or ms since the Unix epoch, got ${String(m.deliverAt)}`);
    }
    wire.deliverAtMs = at;
  }
  if (m.delayMs !== undefined) {
    if (!Number.isSafeInteger(m.delayMs) || m.delayMs < 0) {
      throw invalid('delayMs', `must be an integer >= 0, got ${JSON.stringify(m.delayMs)}`);
    }
    wire.delayMs = m.delayMs;
  }
  return wire;
}

/** The bytes a message counts against a batch and the topic's maxMessageBytes, as the broker counts them. */
export function wireSize(m: Message__Input): number {
  return messageSize({ ...m, body: m.body as Uint8Array });
}
