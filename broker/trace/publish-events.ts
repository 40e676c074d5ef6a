// The publish path's trace: one row per message, not two. A message's "stored" event carries
// when its Publish arrived and from whom (detail received_at, producer); Admin Trace shows it as
// the two events "published" (at arrival, with the producer) and "stored" (at commit, with the
// offset). Halving the rows halves the trace's share of the store's insert capacity. Pure.
import type { PartitionRef } from '../../storage/storage';
import type { TraceEvent } from '../../storage/trace-store';
import type { DelayedMessage } from '../../storage/delay-store';
import { messageId, scheduledId } from './message-id';
import type { TraceInput } from './tracer';

const RECEIVED_AT = 'received_at';
const PRODUCER = 'producer';
const DISPATCHED_AS = 'message_id';

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

/** The one event recorded for a delayed message when it is accepted (its id is "d<id>"). */
export function scheduledEvent(
  ref: PartitionRef,
  delayed: DelayedMessage,
  refKey: string,
  detail: Record<string, string>,
): TraceInput {
  return {
    event: 'scheduled',
    ref,
    offset: 0,
    messageId: scheduledId(ref, delayed.id),
    refKey,
    detail: { ...detail, deliver_at: String(delayed.deliverAt) },
  };
}

/**
 * A delayed message fell due and was stored at `offset`. Recorded under its "d<id>", with the
 * offset's message id in detail.message_id, which a trace by "d<id>" follows (admin-service.ts).
 */
export function dispatchedEvent(ref: PartitionRef, offset: number, delayed: DelayedMessage): TraceInput {
  return {
    event: 'dispatched',
    ref,
    offset,
    messageId: scheduledId(ref, delayed.id),
    refKey: delayed.message.refKey,
    detail: { [DISPATCHED_AS]: messageId(ref, offset), deliver_at: String(delayed.deliverAt) },
  };
}

/** The message ids a delayed message's "dispatched" events point to (its later life). */
export function dispatchedAs(events: TraceEvent[]): string[] {
  return events.flatMap((e) =>
    e.event === 'dispatched' && e.detail[DISPATCHED_AS] ? [e.detail[DISPATCHED_AS]] : [],
  );
}

/**
 * Events as Admin Trace shows them, oldest first: every compact "stored" or "scheduled" event
 * becomes "published" + itself.
 */
export function expandPublished(events: TraceEvent[]): TraceEvent[] {
  const expanded = events.flatMap((e) => {
    const receivedAt = e.detail[RECEIVED_AT];
    if ((e.event !== 'stored' && e.event !== 'scheduled') || receivedAt === undefined) return [e];
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
