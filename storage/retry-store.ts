// Retries and dead letters (DESIGN.md, "Storage on MySQL"). A message a group failed to
// process (Nack, or ack timeout) leaves the partition's order and waits in the group's resend
// schedule, keyed by (group, partition, scheduleAt, offset); after the group's maxRetries it
// moves to the dead-letter table with its reason, attempts and last error. The message body
// stays in the message tables: both schedules hold offsets, and a dead letter copies the
// message so that it outlives the topic's retention. `group` is a subscription key
// (subscription.ts): in a broadcast group each consumer has its own schedule and dead letters.
import type { PartitionRef, StoredMessage } from './storage';

export interface Resend {
  group: string;
  ref: PartitionRef;
  offset: number;
  /** When the retry is due, ms since the Unix epoch. */
  scheduleAt: number;
  /** Deliveries so far (the retry will be delivery `attempts + 1`). */
  attempts: number;
  /** The consumer's error text of the last Nack ('' after an ack timeout). */
  lastError: string;
}

export interface NewDeadLetter {
  group: string;
  message: StoredMessage & { ref: PartitionRef };
  reason: string;
  attempts: number;
  lastError: string;
}

export interface DeadLetter extends NewDeadLetter {
  id: number;
  deadAt: number;
}

export interface DeadLetterQuery {
  topic: string;
  group: string;
  /** Dead at or after / before (ms); 0 means unbounded. */
  sinceMs: number;
  untilMs: number;
  /** Only these ids; empty: all that match. */
  ids: number[];
}

/** A key's retries on one partition (RetryStore.retryCounts). */
export interface RetryCount {
  partition: number;
  /** Offsets in the key's resend schedule (due or not). */
  pendingRetries: number;
  /** Dead letters of the key still in the dead-letter table. */
  deadLetters: number;
}

export interface RetryStore {
  /**
   * Puts offsets into (or moves them within) the group's resend schedule, one write. An
   * offset already scheduled for the group is replaced.
   */
  scheduleResends(resends: Resend[]): Promise<void>;
  /** Up to `limit` resends of the group on the partition due at `now`, by (scheduleAt, offset). */
  dueResends(group: string, ref: PartitionRef, now: number, limit: number): Promise<Resend[]>;
  /** The earliest scheduleAt of the group on the partition (after `after`, when given), undefined when none. */
  nextResendAt(group: string, ref: PartitionRef, after?: number): Promise<number | undefined>;
  /** Removes offsets from the schedule (their retry was acked). */
  deleteResends(group: string, ref: PartitionRef, offsets: number[]): Promise<void>;
  /**
   * Removes the group's whole schedule on the topic, every partition (a broadcast consumer
   * that left; `group` is its subscription key). Idempotent.
   */
  dropResends(group: string, topic: string): Promise<void>;
  /** Inserts dead letters and removes their offsets from the resend schedule, atomically. */
  deadLetter(letters: NewDeadLetter[]): Promise<void>;
  /** Newest first; `after` is the previous page's last id (0: first page). */
  listDeadLetters(query: DeadLetterQuery, limit: number, after: number): Promise<DeadLetter[]>;
  /**
   * Moves matching dead letters back into their group's resend schedule, due now with a fresh
   * retry budget, atomically per call. Returns what was replayed (for the owners to wake).
   */
  replayDeadLetters(query: DeadLetterQuery, now: number): Promise<DeadLetter[]>;
  /** Deletes matching dead letters; returns how many. */
  purgeDeadLetters(query: DeadLetterQuery): Promise<number>;
  /**
   * The key's retries on every partition of the topic that has any, by partition (a partition
   * with no resend and no dead letter is absent).
   */
  retryCounts(group: string, topic: string): Promise<RetryCount[]>;
  /** Deletes dead letters of the group older than `before` (retention); returns how many. */
  expireDeadLetters(topic: string, group: string, before: number): Promise<number>;
}

/** RetryCount rows, by partition, from [partition, count] pairs of schedules and of dead letters. */
export function mergeRetryCounts(
  resends: [partition: number, count: number][],
  deadLetters: [partition: number, count: number][],
): RetryCount[] {
  const by = new Map<number, RetryCount>();
  const row = (partition: number) => {
    let r = by.get(partition);
    if (!r) by.set(partition, (r = { partition, pendingRetries: 0, deadLetters: 0 }));
    return r;
  };
  for (const [p, n] of resends) row(p).pendingRetries += n;
  for (const [p, n] of deadLetters) row(p).deadLetters += n;
  return [...by.values()].sort((a, b) => a.partition - b.partition);
}
