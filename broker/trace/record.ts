// How the delivery path records an event about one message of a partition for a group.
import type { PartitionRef } from '../../storage/storage';
import { messageId } from './message-id';
import { NO_TRACE } from './tracer';
import type { TraceInput, Tracer } from './tracer';

/**
 * Whether recordDelivery records anything: with tracing off a caller skips its per-message
 * loop (the event details it builds were a delivered message's share of a drain's profile).
 */
export function tracing(tracer: Tracer): boolean {
  return tracer !== NO_TRACE;
}

export function recordDelivery(
  tracer: Tracer,
  event: string,
  ref: PartitionRef,
  offset: number,
  group: string,
  extra: Partial<Pick<TraceInput, 'consumerId' | 'attempt' | 'refKey' | 'detail'>> = {},
): void {
  // Tracing off: no message id to build.
  if (!tracing(tracer)) return;
  tracer.record({
    event,
    ref,
    offset,
    messageId: messageId(ref, offset),
    group,
    ...extra,
  });
}
