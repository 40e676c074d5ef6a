// What the publish and delivery paths report about each message's life. `record` never waits
// and never throws: the implementation (trace-writer.ts) buffers events and writes them to the
// TraceStore in batches, dropping (and counting) events when the store falls behind, so
// tracing can never slow or fail a publish or a delivery.
import type { TraceEvent } from '../../storage/trace-store';

/**
 * An event as the paths report it; the tracer adds the broker's identity and, unless given
 * (an event recorded after the fact, such as "published" at the request's arrival), the time.
 */
export type TraceInput = Omit<
  TraceEvent,
  'at' | 'broker' | 'consumerId' | 'group' | 'attempt' | 'refKey' | 'detail'
> &
  Partial<Pick<TraceEvent, 'at' | 'consumerId' | 'group' | 'attempt' | 'refKey' | 'detail'>>;

export interface Tracer {
  record(event: TraceInput): void;
}

/** Tracing turned off (the broker option trace.enabled = false). */
export const NO_TRACE: Tracer = { record: () => undefined };
