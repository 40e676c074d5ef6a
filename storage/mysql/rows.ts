// Conversions between messages and the rows of the MySQL message, delay and dead-letter tables.
import type { NewMessage, StoredMessage } from '../storage';
import type { MessageRow } from './sql';

/** A value of a row as mysql2 sends it. */
export type SqlValue = string | number | boolean | Buffer | null;

/** msg_key, ref_key, tags, properties, body: the columns every message table shares. */
export function messageColumns(m: NewMessage): SqlValue[] {
  return [m.key, m.refKey, JSON.stringify(m.tags), JSON.stringify(m.properties), m.body];
}

/** A row of SQL.insertMessages and SQL.insertPriorityMessages (sql.ts), in their column order. */
export function messageRow(offset: number, publishedAt: number, m: NewMessage, lane: 0 | 1 = 0): SqlValue[] {
  return [
    offset,
    publishedAt,
    ...messageColumns(m),
    m.scheduled?.id ?? null,
    m.scheduled?.deliverAt ?? null,
    lane,
  ];
}

const PLACEHOLDER: NewMessage = {
  key: '',
  refKey: '',
  tags: [],
  properties: {},
  body: Buffer.alloc(0),
  priority: false,
};

/** What a priority message leaves in the normal table: its offset, and lane 1 (nothing to read). */
export function placeholderRow(offset: number, publishedAt: number): SqlValue[] {
  return messageRow(offset, publishedAt, PLACEHOLDER, 1);
}

export function messageFields(row: Pick<MessageRow, 'msg_key' | 'ref_key' | 'tags' | 'properties' | 'body'>) {
  return {
    key: row.msg_key,
    refKey: row.ref_key,
    tags: JSON.parse(row.tags) as string[],
    properties: JSON.parse(row.properties) as Record<string, string>,
    body: row.body,
  };
}

export function toStored(row: MessageRow): StoredMessage {
  return {
    offset: Number(row.id),
    publishedAt: Number(row.published_at),
    ...messageFields(row),
    priority: Number(row.priority) === 1,
    ...(row.scheduled_id === null || row.deliver_at === null
      ? {}
      : { scheduled: { id: Number(row.scheduled_id), deliverAt: Number(row.deliver_at) } }),
  };
}
