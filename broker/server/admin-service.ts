// herald.v1.Admin handlers. Dead letters, traces and committed offsets live in the shared
// store, so any broker serves every Admin call (no forwarding). What a partition's owner must
// apply reaches it through the command log: offset resets, and after a dead-letter replay a
// re-read of the resend schedule.
import type { AdminHandlers } from '../../proto/gen/herald/v1/Admin';
import type { DeadLetter__Input } from '../../proto/gen/herald/v1/DeadLetter';
import type { DeadLetterFilter } from '../../proto/gen/herald/v1/DeadLetterFilter';
import { HeraldError } from '../../common/errors';
import type { ResetOffsetsRequest } from '../../proto/gen/herald/v1/ResetOffsetsRequest';
import type { TraceRequest } from '../../proto/gen/herald/v1/TraceRequest';
import { resetOffsets } from '../commands/offset-reset';
import type { ResetDeps, ResetStore, ResetTarget } from '../commands/offset-reset';
import type { TopicOptions } from '../../common/broker-options';
import type { PeekRequest } from '../../proto/gen/herald/v1/PeekRequest';
import { peek } from './peek';
import type { PeekQuery, PeekStore } from './peek';
import type { Delivery } from '../delivery/delivery';
import type { DeadLetter, DeadLetterQuery, RetryStore } from '../../storage/retry-store';
import { broadcastConsumerOf, groupOfKey, subscriptionKey } from '../../storage/index';
import type { RetryCount } from '../../storage/index';
import type { TraceEvent, TraceQuery, TraceStore } from '../../storage/trace-store';
import { parseMessageId } from '../trace/message-id';
import { dispatchedAs, expandPublished } from '../trace/publish-events';
import { recordDelivery } from '../trace/record';
import type { Tracer } from '../trace/tracer';
import { requireName } from '../topics';
import { toDelivery } from './delivery-encoding';
import { answer as answerWith } from '../../common/grpc/unary';
import type { UnaryCallback } from '../../common/grpc/unary';
import type { Logger } from '../../common/logger';

export const DEFAULT_DEAD_LETTER_PAGE = 100;
export const MAX_DEAD_LETTER_PAGE = 1000;

/**
 * The store query of a DeadLetterFilter, or INVALID_NAME / INVALID_REQUEST naming the field;
 * `subscription` gives the key of the filter's group and consumer (Delivery.subscription).
 */
export async function deadLetterQuery(
  filter: DeadLetterFilter | null,
  subscription: (group: string, consumer: string) => Promise<string>,
): Promise<DeadLetterQuery> {
  if (!filter) throw new HeraldError('INVALID_REQUEST', 'filter is required', { field: 'filter' });
  requireName('filter.topic', filter.topic);
  requireName('filter.group', filter.group);
  if (filter.untilMs > 0 && filter.sinceMs >= filter.untilMs) {
    throw new HeraldError('INVALID_REQUEST', 'filter.since_ms must be before filter.until_ms', {
      field: 'filter.since_ms',
    });
  }
  return {
    topic: filter.topic,
    group: await subscription(filter.group, filter.consumer),
    sinceMs: filter.sinceMs,
    untilMs: filter.untilMs,
    ids: filter.ids.map(Number),
  };
}

/** The id after which a page starts: the previous page's last id, as a decimal string. */
export function pageAfter(token: string): number {
  if (token === '') return 0;
  if (!/^[1-9][0-9]{0,15}$/.test(token)) {
    throw new HeraldError('INVALID_REQUEST', 'page_token is not one this server returned', {
      field: 'page_token',
    });
  }
  return Number(token);
}

function toProto(l: DeadLetter): DeadLetter__Input {
  return {
    id: l.id,
    group: groupOfKey(l.group),
    message: toDelivery(l.message.ref, { message: l.message, attempt: l.attempts }),
    reason: l.reason,
    attempts: l.attempts,
    lastError: l.lastError,
    deadAtMs: l.deadAt,
  };
}

export type AdminDeps = Omit<ResetDeps, 'messages'> & {
  messages(topic: TopicOptions): ResetStore & PeekStore;
  traces: ResetDeps['traces'] & Pick<TraceStore, 'trace'>;
  retries: RetryStore;
  tracer: Tracer;
};

/** Trace returns at most this many events; 0 in a request means DEFAULT_TRACE_LIMIT. */
export const MAX_TRACE_LIMIT = 10_000;
export const DEFAULT_TRACE_LIMIT = 1000;

export function adminHandlers(delivery: Delivery, deps: AdminDeps, logger: Logger): AdminHandlers {
  const { traces, retries, tracer } = deps;
  const subscription = (group: string, consumer: string) => delivery.subscription(group, consumer);
  const query = (filter: DeadLetterFilter | null) => deadLetterQuery(filter, subscription);
  const answer = <Res>(method: string, callback: UnaryCallback<Res>, work: () => Promise<Res>) =>
    answerWith(logger, method, callback, work);
  return {
    GetLag(call, callback) {
      answer('GetLag', callback, async () => {
        const { group, topic } = call.request;
        const partitions = await delivery.lag(group, topic);
        // One count per key (a broadcast group's consumers each have their own retries).
        const counts = new Map<string, Promise<RetryCount[]>>();
        const countsOf = (consumer: string) => {
          const key = consumer === '' ? group : subscriptionKey(group, consumer);
          if (!counts.has(key)) counts.set(key, retries.retryCounts(key, topic));
          return counts.get(key)!;
        };
        return {
          partitions: await Promise.all(
            partitions.map(async (p) => {
              const c = (await countsOf(p.consumer)).find((r) => r.partition === p.partition);
              return {
                partition: p.partition,
                consumer: p.consumer,
                endOffset: p.endOffset,
                committedOffset: p.committedOffset,
                lag: p.lag,
                inFlight: p.inFlight,
                pendingRetries: c?.pendingRetries ?? 0,
                deadLetters: c?.deadLetters ?? 0,
              };
            }),
          ),
        };
      });
    },

    ListDeadLetters(call, callback) {
      answer('ListDeadLetters', callback, async () => {
        const req = call.request;
        const q = await query(req.filter);
        const size = req.pageSize || DEFAULT_DEAD_LETTER_PAGE;
        if (size > MAX_DEAD_LETTER_PAGE) {
          throw new HeraldError('INVALID_REQUEST', `page_size must be at most ${MAX_DEAD_LETTER_PAGE}`, {
            field: 'page_size',
          });
        }
        // One more than the page: whether another page follows.
        const found = await retries.listDeadLetters(q, size + 1, pageAfter(req.pageToken));
        const page = found.slice(0, size);
        return {
          deadLetters: page.map(toProto),
          nextPageToken: found.length > size ? String(page[page.length - 1].id) : '',
        };
      });
    },

    ReplayDeadLetters(call, callback) {
      answer('ReplayDeadLetters', callback, async () => {
        const replayed = await retries.replayDeadLetters(await query(call.request.filter), Date.now());
        const woken = new Map<string, { group: string; ref: DeadLetter['message']['ref'] }>();
        for (const l of replayed) {
          const ref = l.message.ref;
          const consumer = broadcastConsumerOf(groupOfKey(l.group), l.group);
          recordDelivery(tracer, 'replayed', ref, l.message.offset, groupOfKey(l.group), {
            ...(consumer ? { consumerId: consumer } : {}),
            refKey: l.message.refKey,
            detail: { deadLetterId: String(l.id) },
          });
          woken.set(`${l.group}/${ref.topic}/${ref.partition}`, { group: l.group, ref: { ...ref } });
        }
        // The owner re-reads its resend schedule: at once when it is this broker, through the
        // command log otherwise (and its idle re-read is the fallback if that write fails).
        for (const w of woken.values()) delivery.wakeResends(w.group, w.ref);
        if (woken.size > 0) {
          await traces.appendCommands(
            [...woken.values()].map((w) => ({ kind: 'resend-wakeup' as const, ...w })),
          );
        }
        return { replayed: replayed.length };
      });
    },

    PurgeDeadLetters(call, callback) {
      answer('PurgeDeadLetters', callback, async () => ({
        purged: await retries.purgeDeadLetters(await query(call.request.filter)),
      }));
    },

    Trace(call, callback) {
      answer('Trace', callback, async () => {
        const { query, limit } = traceQuery(call.request);
        // A stored row shows as two events: the limit counts what the caller sees.
        const events = expandPublished(await traceRows(traces, query, limit)).slice(0, limit);
        return {
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
        };
      });
    },

    ResetOffsets(call, callback) {
      answer('ResetOffsets', callback, async () => {
        const req = call.request;
        const target = resetTarget(req);
        const partitions = await resetOffsets(deps, {
          group: req.group,
          key: await subscription(req.group, req.consumer),
          consumer: req.consumer,
          topic: req.topic,
          partitions: req.partitions,
          target,
        });
        return { partitions };
      });
    },

    Peek(call, callback) {
      answer('Peek', callback, async () => {
        const topic = await deps.topic(call.request.topic);
        const page = await peek(topic, deps.messages(topic), peekQuery(call.request));
        const ref = { topic: topic.name, partition: call.request.partition };
        return {
          ...page,
          messages: page.messages.map((message) => toDelivery(ref, { message, attempt: 0 })),
        };
      });
    },
  };
}

function peekQuery(req: PeekRequest): PeekQuery {
  const from =
    req.from === 'offset'
      ? { offset: Number(req.offset) }
      : req.from === 'timestampMs'
        ? { timestampMs: Number(req.timestampMs) }
        : undefined;
  return { partition: req.partition, from, limit: req.limit, maxBytes: req.maxBytes };
}

/**
 * The events of a query. Only the publish path (and a refused publish) knows a message's ref
 * key, so a ref-key query finds the messages and then follows each by id; a delayed message's trace goes on under its
 * offset's id once dispatched.
 */
async function traceRows(
  store: Pick<TraceStore, 'trace'>,
  query: TraceQuery,
  limit: number,
): Promise<TraceEvent[]> {
  const byId = async (messageId: string): Promise<TraceEvent[]> => {
    const rows = await store.trace({ messageId }, limit);
    const later = await Promise.all(dispatchedAs(rows).map((id) => store.trace({ messageId: id }, limit)));
    return [...rows, ...later.flat()];
  };
  if ('messageId' in query) return (await byId(query.messageId)).sort((a, b) => a.at - b.at);
  const rows = await store.trace(query, limit);
  // An event that names no message (a refused publish's, broker/trace/refusal-events.ts) is
  // its own answer: following its empty id would find every other such event.
  const ids = [...new Set(rows.filter((e) => e.messageId !== '').map((e) => e.messageId))];
  const events = [...rows.filter((e) => e.messageId === ''), ...(await Promise.all(ids.map(byId))).flat()];
  return events.sort((a, b) => a.at - b.at);
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
