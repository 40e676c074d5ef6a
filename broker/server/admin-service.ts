// herald.v1.Admin handlers. Dead letters live in the shared store, so any broker serves
// ListDeadLetters, ReplayDeadLetters and PurgeDeadLetters; after a replay the owner of each
// replayed partition must re-read its resend schedule (Delivery.wakeResends here, the command
// log for partitions another broker owns).
import { status as GrpcStatus } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import type { AdminHandlers } from '../../proto/gen/herald/v1/Admin';
import type { DeadLetter__Input } from '../../proto/gen/herald/v1/DeadLetter';
import type { DeadLetterFilter } from '../../proto/gen/herald/v1/DeadLetterFilter';
import { HeraldError } from '../../client/errors';
import type { Delivery } from '../delivery/delivery';
import type { DeadLetter, DeadLetterQuery, RetryStore } from '../storage/retry-store';
import { recordDelivery } from '../trace/record';
import type { Tracer } from '../trace/tracer';
import { requireName } from '../topics';
import { toDelivery } from './broker-service';
import { toServiceError } from './status';

export const DEFAULT_DEAD_LETTER_PAGE = 100;
export const MAX_DEAD_LETTER_PAGE = 1000;

/** The store query of a DeadLetterFilter, or INVALID_NAME / INVALID_REQUEST naming the field. */
export function deadLetterQuery(filter: DeadLetterFilter | null): DeadLetterQuery {
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
    group: filter.group,
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
    group: l.group,
    message: toDelivery(l.message.ref, { message: l.message, attempt: l.attempts }),
    reason: l.reason,
    attempts: l.attempts,
    lastError: l.lastError,
    deadAtMs: l.deadAt,
  };
}

/** Answers a unary call from a promise, through the one error mapping. */
function answer<Res>(
  callback: (err: grpc.ServiceError | Partial<grpc.StatusObject> | null, res?: Res) => void,
  work: () => Promise<Res>,
): void {
  Promise.resolve()
    .then(work)
    .then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err)),
    );
}

/** MERGE POINT: Trace and ResetOffsets are built on the trace/offset-reset branch. */
function notInThisBuild(method: string): Partial<grpc.StatusObject> {
  return { code: GrpcStatus.UNIMPLEMENTED, details: `${method} is not part of this build` };
}

export function adminHandlers(delivery: Delivery, retries: RetryStore, tracer: Tracer): AdminHandlers {
  return {
    GetLag(call, callback) {
      answer(callback, async () => {
        const partitions = await delivery.lag(call.request.group, call.request.topic);
        return {
          partitions: partitions.map((p) => ({
            partition: p.partition,
            endOffset: p.endOffset,
            committedOffset: p.committedOffset,
            lag: p.lag,
            inFlight: p.inFlight,
          })),
        };
      });
    },

    ListDeadLetters(call, callback) {
      answer(callback, async () => {
        const req = call.request;
        const query = deadLetterQuery(req.filter);
        const size = req.pageSize || DEFAULT_DEAD_LETTER_PAGE;
        if (size > MAX_DEAD_LETTER_PAGE) {
          throw new HeraldError('INVALID_REQUEST', `page_size must be at most ${MAX_DEAD_LETTER_PAGE}`, {
            field: 'page_size',
          });
        }
        // One more than the page: whether another page follows.
        const found = await retries.listDeadLetters(query, size + 1, pageAfter(req.pageToken));
        const page = found.slice(0, size);
        return {
          deadLetters: page.map(toProto),
          nextPageToken: found.length > size ? String(page[page.length - 1].id) : '',
        };
      });
    },

    ReplayDeadLetters(call, callback) {
      answer(callback, async () => {
        const query = deadLetterQuery(call.request.filter);
        const replayed = await retries.replayDeadLetters(query, Date.now());
        const woken = new Set<string>();
        for (const l of replayed) {
          const ref = l.message.ref;
          recordDelivery(tracer, 'replayed', ref, l.message.offset, l.group, {
            refKey: l.message.refKey,
            detail: { deadLetterId: String(l.id) },
          });
          const k = `${l.group}/${ref.topic}/${ref.partition}`;
          if (woken.has(k)) continue;
          woken.add(k);
          // Owned here: wake the cursor. MERGE POINT: for partitions another broker owns, append
          // a 'resend-wakeup' command to the command log (the owner's idle poll is the fallback).
          delivery.wakeResends(l.group, ref);
        }
        return { replayed: replayed.length };
      });
    },

    PurgeDeadLetters(call, callback) {
      answer(callback, async () => ({
        purged: await retries.purgeDeadLetters(deadLetterQuery(call.request.filter)),
      }));
    },

    Trace(_call, callback) {
      callback(notInThisBuild('Trace'));
    },

    ResetOffsets(_call, callback) {
      callback(notInThisBuild('ResetOffsets'));
    },
  };
}
