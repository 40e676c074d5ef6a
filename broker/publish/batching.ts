// Group commit decisions, as pure functions. Publish requests queue per partition; a commit
// is one transaction holding one multi-row INSERT per partition, so its single log flush
// (fsync) is shared by every partition in it. Rules:
// - a request is never split (a batch publish is atomic) and requests keep their arrival
//   order within a partition (one producer's order is preserved);
// - a partition has at most one commit in flight, so its offsets are written in order;
// - a commit starts when some partition's queue is full (rows or bytes) or its oldest
//   request has waited lingerMs, and then takes every other waiting partition along;
// - when no commit is running at all, nothing is gained by waiting: a commit starts at the
//   end of the current turn of the event loop (so requests that arrived together go together)
//   instead of after lingerMs. While commits run, requests gather for the next one.

export interface BatchLimits {
  /** Rows of one partition per INSERT (Hermes: 500). */
  maxRows: number;
  /** Bytes of one partition per INSERT. */
  maxBytes: number;
  /** How long the oldest queued request waits for company before a commit starts. */
  lingerMs: number;
  /** Bytes in one transaction over all partitions. */
  maxCommitBytes: number;
}

export interface QueuedSize {
  rows: number;
  bytes: number;
}

export interface PartitionQueue {
  /** Sizes of the queued requests in arrival order. */
  queue: readonly QueuedSize[];
  /** When the oldest queued request arrived (ms). */
  oldestAt: number;
  /** A commit holding this partition is running. */
  flushing: boolean;
}

/** Number of requests to take from each partition (same order as the input); 0: none. */
export type CommitPlan = { kind: 'idle' } | { kind: 'wait'; ms: number } | { kind: 'commit'; take: number[] };

export interface CommitState {
  /** Shutting down: commit whatever is queued. */
  draining: boolean;
  /** No commit is running. */
  idle: boolean;
  /** This call comes at the end of a turn (the wait of 0 ms asked for earlier has passed). */
  turnEnded: boolean;
}

/** Plans the next commit; a wait of 0 ms means "at the end of this turn of the event loop". */
export function planCommit(
  partitions: readonly PartitionQueue[],
  now: number,
  limits: BatchLimits,
  state: CommitState,
): CommitPlan {
  let due = state.draining || (state.idle && state.turnEnded);
  let wait = Infinity;
  let eligible = 0;
  for (const p of partitions) {
    if (p.flushing || p.queue.length === 0) continue;
    eligible++;
    if (isFull(p.queue, limits) || now - p.oldestAt >= limits.lingerMs) due = true;
    else wait = Math.min(wait, limits.lingerMs - (now - p.oldestAt));
  }
  if (eligible === 0) return { kind: 'idle' };
  if (!due) return { kind: 'wait', ms: state.idle ? 0 : wait };
  // Oldest partitions first while the transaction has room; always at least one.
  const order = partitions
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => !p.flushing && p.queue.length > 0)
    .sort((a, b) => a.p.oldestAt - b.p.oldestAt);
  const take = partitions.map(() => 0);
  let bytes = 0;
  for (const { p, i } of order) {
    const n = takeForFlush(p.queue, limits);
    const size = p.queue.slice(0, n).reduce((sum, q) => sum + q.bytes, 0);
    if (bytes > 0 && bytes + size > limits.maxCommitBytes) continue;
    take[i] = n;
    bytes += size;
  }
  return { kind: 'commit', take };
}

function isFull(queue: readonly QueuedSize[], limits: BatchLimits): boolean {
  let rows = 0;
  let bytes = 0;
  for (const q of queue) {
    rows += q.rows;
    bytes += q.bytes;
    if (rows >= limits.maxRows || bytes >= limits.maxBytes) return true;
  }
  return false;
}

/**
 * How many queued requests (from the front) one partition's INSERT takes: whole requests
 * while they fit the limits, and always at least one, so a request larger than the limits
 * (the request limits allow that) is written alone in one statement.
 */
export function takeForFlush(queue: readonly QueuedSize[], limits: BatchLimits): number {
  let rows = 0;
  let bytes = 0;
  let n = 0;
  for (const q of queue) {
    if (n > 0 && (rows + q.rows > limits.maxRows || bytes + q.bytes > limits.maxBytes)) break;
    rows += q.rows;
    bytes += q.bytes;
    n++;
  }
  return n;
}
