// Conversions between messages and the rows of the MySQL message, delay and dead-letter tables.
import type { NewMessage, StoredMessage } from '../storage';
import type { MessageRow } from './sql';

/** msg_key, ref_key, tags, properties, body: the columns every message table shares. */
export function messageColumns(m: NewMessage): unknown[] {
  return [m.key, m.refKey, JSON.stringify(m.tags), JSON.stringify(m.properties), m.body];
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
