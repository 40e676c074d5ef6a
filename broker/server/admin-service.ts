// herald.v1.Admin handlers. Every broker answers Trace and ResetOffsets from the shared store
// (no forwarding): a reset reaches the partition's owner through the command log.
import type { AdminHandlers } from '../../proto/gen/herald/v1/Admin';
import type { ResetOffsetsRequest } from '../../proto/gen/herald/v1/ResetOffsetsRequest';
import type { TraceRequest } from '../../proto/gen/herald/v1/TraceRequest';
import { HeraldError } from '../../client/errors';
import { resetOffsets } from '../commands/offset-reset';
import type { ResetDeps, ResetTarget } from '../commands/offset-reset';
import type { Delivery } from '../delivery/delivery';
import type { TraceEvent, TraceQuery, TraceStore } from '../storage/trace-store';
import { requireName } from '../topics';
import { parseMessageId } from '../trace/message-id';
import { dispatchedAs, expandPublished } from '../trace/publish-events';
import { toServiceError } from './status';

export type AdminDeps = ResetDeps & { store: Pick<TraceStore, 'trace'> };

/** Trace returns at most this many events; 0 in a request means DEFAULT_TRACE_LIMIT. */
export const MAX_TRACE_LIMIT = 10_000;
export const DEFAULT_TRACE_LIMIT = 1000;

export function adminHandlers(
  delivery: Delivery,
  deps: AdminDeps,
): Pick<AdminHandlers, 'GetLag' | 'Trace' | 'ResetOffsets'> {
  return {
    GetLag(call, callback) {
      delivery.lag(call.request.group, call.request.topic).then(
        (partitions) =>
          callback(null, {
            partitions: partitions.map((p) => ({
              partition: p.partition,
              endOffset: p.endOffset,
              committedOffset: p.committedOffset,
              lag: p.lag,
              inFlight: p.inFlight,
            })),
          }),
        (err: unknown) => callback(toServiceError(err)),
      );
    },

    Trace(call, callback) {
      Promise.resolve()
        .then(() => {
          const { query, limit } = traceQuery(call.request);
          // A stored row shows as two events: the limit counts what the caller sees.
          return traceRows(deps.store, query, limit).then((rows) => expandPublished(rows).slice(0, limit));
        })
        .then(
          (events) =>
            callback(null, {
              events: events.map((e) => ({
                atMs: e.at,
                event: e.event,
                topic: e.ref.topic,
                partition: e.ref.partition,
                offset: e.offset,
                messageId: e.messageId,
                refKey: e.refKey,
                group: e.group,
                consumerId: e.consumerId,
                attempt: e.attempt,
                broker: e.broker,
                detail: e.detail,
              })),
            }),
          (err: unknown) => callback(toServiceError(err)),
        );
    },

    ResetOffsets(call, callback) {
      const req = call.request;
      Promise.resolve()
        .then(() =>
          resetOffsets(deps, {
            group: req.group,
            topic: req.topic,
            partitions: req.partitions,
            target: resetTarget(req),
          }),
        )
        .then(
          (partitions) => callback(null, { partitions }),
          (err: unknown) => callback(toServiceError(err)),
        );
    },
  };
}

/** The events of a query; a delayed message's trace goes on under its offset's id once dispatched. */
async function traceRows(
  store: Pick<TraceStore, 'trace'>,
  query: TraceQuery,
  limit: number,
): Promise<TraceEvent[]> {
  const rows = await store.trace(query, limit);
  if (!('messageId' in query)) return rows;
  const later = await Promise.all(dispatchedAs(rows).map((messageId) => store.trace({ messageId }, limit)));
  return [...rows, ...later.flat()].sort((a, b) => a.at - b.at);
}

function traceQuery(req: TraceRequest): { query: TraceQuery; limit: number } {
  if (!Number.isInteger(req.limit) || req.limit < 0 || req.limit > MAX_TRACE_LIMIT) {
    throw new HeraldError('INVALID_REQUEST', `limit must be in 0..${MAX_TRACE_LIMIT}`, { field: 'limit' });
  }
  const limit = req.limit || DEFAULT_TRACE_LIMIT;
  if (req.query === 'messageId') return { query: { messageId: parseMessageId(req.messageId!).id }, limit };
  if (req.query === 'refKey') {
    if (req.refKey === '') {
      throw new HeraldError('INVALID_REQUEST', 'ref_key must not be empty', { field: 'ref_key' });
    }
    if (req.topic === '') {
      throw new HeraldError('INVALID_REQUEST', 'topic is required with ref_key', { field: 'topic' });
    }
    requireName('topic', req.topic);
    return { query: { topic: req.topic, refKey: req.refKey! }, limit };
  }
  throw new HeraldError('INVALID_REQUEST', 'a trace needs message_id or ref_key', { field: 'query' });
}

function resetTarget(req: ResetOffsetsRequest): ResetTarget {
  switch (req.target) {
    case 'earliest':
      return { kind: 'earliest' };
    case 'latest':
      return { kind: 'latest' };
    case 'timestampMs':
      return { kind: 'time', at: req.timestampMs! };
    case 'offset':
      return { kind: 'offset', offset: req.offset! };
    default:
      throw new HeraldError(
        'INVALID_REQUEST',
        'a reset needs a target: earliest, latest, timestamp_ms or offset',
        {
          field: 'target',
        },
      );
  }
}
