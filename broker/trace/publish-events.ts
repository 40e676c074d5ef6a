// The publish path's trace: one row per message, not two. A message's "stored" event carries
// when its Publish arrived and from whom (detail received_at, producer); Admin Trace shows it as
// the two events "published" (at arrival, with the producer) and "stored" (at commit, with the
// offset). Halving the rows halves the trace's share of the store's insert capacity. Pure.
import type { PartitionRef } from '../storage/storage';
import type { TraceEvent } from '../storage/trace-store';
import { messageId } from './message-id';
import type { TraceInput } from './tracer';

const RECEIVED_AT = 'received_at';
const PRODUCER = 'producer';

/** The detail shared by every message of one Publish request. */
export function publishDetail(producer: string, receivedAt: number): Record<string, string> {
  return { [PRODUCER]: producer, [RECEIVED_AT]: String(receivedAt) };
}

/** The one event recorded for a stored message. */
export function storedEvent(
  ref: PartitionRef,
  offset: number,
  refKey: string,
  detail: Record<string, string>,
): TraceInput {
  return { event: 'stored', ref, offset, messageId: messageId(ref, offset), refKey, detail };
}

/**
 * Events as Admin Trace shows them, oldest first: every compact "stored" event becomes
 * "published" + "stored".
 */
export function expandPublished(events: TraceEvent[]): TraceEvent[] {
  const expanded = events.flatMap((e) => {
    const receivedAt = e.detail[RECEIVED_AT];
    if (e.event !== 'stored' || receivedAt === undefined) return [e];
    const rest = { ...e.detail };
    delete rest[RECEIVED_AT];
    delete rest[PRODUCER];
    const published = {
      ...e,
      event: 'published',
      at: Number(receivedAt),
      detail: { [PRODUCER]: e.detail[PRODUCER] ?? '' },
    };
    return [published, { ...e, detail: rest }];
  });
  // Stable: of equal times, the published event stays before its stored one.
  return expanded.sort((a, b) => a.at - b.at);
}
