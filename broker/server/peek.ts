// Admin Peek: a page of a partition's stored messages, read from the topic's message store
// without a group, so any broker answers it. Both lanes of a topic with priority share the
// partition's offsets, so a page merges them in offset order.
import { HeraldError } from '../../common/errors';
import type { TopicOptions } from '../../common/broker-options';
import type { Lane, MessageStore, PartitionRef, StoredMessage } from '../../storage/storage';
import { requirePartition } from '../topics';

const DEFAULT_PEEK_LIMIT = 20;
const MAX_PEEK_LIMIT = 100;
const DEFAULT_PEEK_BYTES = 1 << 20;
const MAX_PEEK_BYTES = 4 << 20;

/** What a peek reads in the topic's message store. */
export type PeekStore = Pick<
  MessageStore,
  'capabilities' | 'read' | 'firstOffset' | 'lastOffset' | 'offsetAtTime'
>;

export interface PeekQuery {
  partition: number;
  /** Unset: from the oldest retained message. */
  from?: { offset: number } | { timestampMs: number };
  /** 0: DEFAULT_PEEK_LIMIT. */
  limit: number;
  /** 0: DEFAULT_PEEK_BYTES. */
  maxBytes: number;
}

interface PeekPage {
  messages: StoredMessage[];
  firstOffset: number;
  endOffset: number;
  startOffset: number;
  startMoved: boolean;
  nextOffset: number;
  bytesLimited: boolean;
}

export async function peek(topic: TopicOptions, store: PeekStore, q: PeekQuery): Promise<PeekPage> {
  const ref: PartitionRef = requirePartition(topic, q.partition, 'partition');
  const limit = bounded('limit', q.limit, DEFAULT_PEEK_LIMIT, MAX_PEEK_LIMIT);
  const maxBytes = bounded('max_bytes', q.maxBytes, DEFAULT_PEEK_BYTES, MAX_PEEK_BYTES);
  const endOffset = await store.lastOffset(ref);
  // Nothing retained: the next message stored will be endOffset + 1.
  const firstOffset = (await store.firstOffset(ref)) ?? endOffset + 1;
  let startOffset = firstOffset;
  let startMoved = false;
  if (q.from && 'timestampMs' in q.from) {
    startOffset = (await store.offsetAtTime(ref, q.from.timestampMs)) ?? endOffset + 1;
  } else if (q.from && q.from.offset > 0) {
    startOffset = Math.max(q.from.offset, firstOffset);
    startMoved = q.from.offset < firstOffset;
  }
  const lanes: Lane[] = store.capabilities.priorityLanes ? ['normal', 'priority'] : ['normal'];
  const read =
    startOffset > endOffset
      ? []
      : (await Promise.all(lanes.map((lane) => store.read(ref, startOffset - 1, limit, lane))))
          .flat()
          .sort((a, b) => a.offset - b.offset)
          .slice(0, limit);
  // The message that crosses maxBytes is still returned, so every page moves forward.
  const messages: StoredMessage[] = [];
  let bytes = 0;
  for (const m of read) {
    if (bytes >= maxBytes) break;
    messages.push(m);
    bytes += m.body.length;
  }
  const last = messages[messages.length - 1];
  return {
    messages,
    firstOffset,
    endOffset,
    startOffset,
    startMoved,
    nextOffset: last ? last.offset + 1 : startOffset,
    bytesLimited: messages.length < read.length,
  };
}

function bounded(field: string, value: number, fallback: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new HeraldError('INVALID_REQUEST', `${field} must be in 1..${max} (0: ${fallback})`, {
      field,
      limit: String(max),
    });
  }
  return value || fallback;
}
