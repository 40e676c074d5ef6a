// Group commit decisions, as pure functions: when a partition writer flushes its queue of
// publish requests, and how many requests go into one multi-row INSERT. A request is never
// split (a batch publish is atomic), and requests keep their arrival order (one producer's
// order within a partition is preserved).

export interface BatchLimits {
  /** Flush once this many rows are queued (Hermes: 500). */
  maxRows: number;
  /** Flush once this many bytes are queued. */
  maxBytes: number;
  /** Flush the oldest request after it has waited this long (group commit window). */
  lingerMs: number;
}

export interface QueuedSize {
  rows: number;
  bytes: number;
}

export interface WriterState {
  /** Sizes of the queued requests in arrival order. */
  queue: readonly QueuedSize[];
  /** When the oldest queued request arrived (ms). */
  oldestAt: number;
  now: number;
  /** An INSERT is running; its completion re-evaluates, so nothing starts meanwhile. */
  flushing: boolean;
  /** Shutting down: flush at once whatever is queued. */
  draining: boolean;
}

export type WriterAction = { kind: 'idle' } | { kind: 'flush' } | { kind: 'wait'; ms: number };

export function nextAction(state: WriterState, limits: BatchLimits): WriterAction {
  if (state.flushing || state.queue.length === 0) return { kind: 'idle' };
  if (state.draining) return { kind: 'flush' };
  let rows = 0;
  let bytes = 0;
  for (const q of state.queue) {
    rows += q.rows;
    bytes += q.bytes;
    if (rows >= limits.maxRows || bytes >= limits.maxBytes) return { kind: 'flush' };
  }
  const age = state.now - state.oldestAt;
  if (age >= limits.lingerMs) return { kind: 'flush' };
  return { kind: 'wait', ms: limits.lingerMs - age };
}

/**
 * How many queued requests (from the front) the next INSERT takes: whole requests while
 * they fit the limits, and always at least one, so a request larger than the limits (the
 * request limits allow that) is written alone in one statement.
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
