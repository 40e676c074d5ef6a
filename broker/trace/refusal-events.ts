// A refused call (UNAUTHENTICATED or PERMISSION_DENIED) as trace events, so that a trace by a
// message's business key or id shows why it never arrived or was never acked. Keyed on what
// the refused request names:
// - a Publish, or a PublishStream request: one `refused` event per distinct ref key of its
//   messages, under the topic (a trace by topic and ref key finds it); messages without a ref
//   key give none;
// - an Ack or Nack: one per offset, under that message's id;
// - anything else (Pull, Subscribe, Admin calls, a stream refused on its headers) names no
//   message: it is logged and counted (herald_access_refusals_total), not traced.
// At most MAX_REFUSAL_EVENTS per call, so that refused calls cannot flood the trace store. The
// detail says who (the subject, once known, and the peer address) and why; never a credential.
// Pure.
import type { Refusal } from '../../common/security/interceptors';
import type { AckRequest } from '../../proto/gen/herald/v1/AckRequest';
import type { PublishRequest } from '../../proto/gen/herald/v1/PublishRequest';
import type { PublishStreamRequest } from '../../proto/gen/herald/v1/PublishStreamRequest';
import { messageId } from './message-id';
import type { TraceInput } from './tracer';

export const REFUSED_EVENT = 'refused';
export const MAX_REFUSAL_EVENTS = 16;

/** The gRPC status name of a refusal (AUTHENTICATION_UNAVAILABLE is not one: it is retriable). */
function codeOf(refusal: Refusal): string | undefined {
  if (refusal.reason === 'PERMISSION_DENIED') return 'PERMISSION_DENIED';
  if (refusal.reason === 'AUTHENTICATION_UNAVAILABLE') return undefined;
  return 'UNAUTHENTICATED';
}

function publishOf(refusal: Refusal): PublishRequest | undefined {
  const request = refusal.request as object | undefined;
  if (!request) return undefined;
  if (refusal.method === 'herald.v1.Broker/Publish') return request as PublishRequest;
  if (refusal.method === 'herald.v1.Broker/PublishStream')
    return (request as PublishStreamRequest).publish ?? undefined;
  return undefined;
}

export function refusalEvents(refusal: Refusal): TraceInput[] {
  const code = codeOf(refusal);
  if (!code || !refusal.request) return [];
  const detail: Record<string, string> = {
    code,
    reason: refusal.reason,
    method: refusal.method,
    peer: refusal.peer,
    ...(refusal.subject ? { subject: refusal.subject } : {}),
    ...(refusal.access ? { operation: refusal.access.operation } : {}),
  };
  const publish = publishOf(refusal);
  if (publish) {
    const ref = { topic: publish.topic, partition: publish.partition ?? 0 };
    const keys = [...new Set((publish.messages ?? []).map((m) => m.refKey).filter((k) => k !== ''))];
    return keys
      .slice(0, MAX_REFUSAL_EVENTS)
      .map((refKey) => ({ event: REFUSED_EVENT, ref, offset: 0, messageId: '', refKey, detail }));
  }
  if (refusal.method === 'herald.v1.Broker/Ack' || refusal.method === 'herald.v1.Broker/Nack') {
    const ack = refusal.request as AckRequest;
    const ref = { topic: ack.topic, partition: ack.partition };
    return (ack.offsets ?? []).slice(0, MAX_REFUSAL_EVENTS).map((offset) => ({
      event: REFUSED_EVENT,
      ref,
      offset: Number(offset),
      messageId: messageId(ref, Number(offset)),
      group: ack.group,
      detail,
    }));
  }
  return [];
}
