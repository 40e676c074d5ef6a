// When a failed delivery is retried, and when it is given up. Pure: the cursor asks, the
// store remembers. "Attempts" counts deliveries so far (1 after the first delivery); retry n
// is delivery n + 1. After `maxRetries` retries a further failure ends the message: it is
// dead-lettered, or dropped when the group keeps no dead letters.

export type RetryDelays =
  | { kind: 'delays'; delaysMs: number[] }
  | { kind: 'exponential'; initialMs: number; multiplier: number; maxMs: number };

export interface RetryPolicy {
  delays: RetryDelays;
  /** Retries after the first delivery before the message is given up. */
  maxRetries: number;
  /** Given-up messages go to the dead-letter table (else they are dropped). */
  deadLetter: boolean;
}

/** The wait before retry `n` (1-based): Hermes' list, or capped exponential backoff. */
export function retryDelayMs(delays: RetryDelays, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`retry number must be >= 1, got ${n}`);
  if (delays.kind === 'delays') return delays.delaysMs[Math.min(n, delays.delaysMs.length) - 1];
  // initial * multiplier^(n-1), computed in floating point and capped, so it never overflows.
  const raw = delays.initialMs * Math.pow(delays.multiplier, n - 1);
  return Math.round(Math.min(delays.maxMs, raw));
}

export type RetryStep =
  { kind: 'retry'; at: number; retry: number } | { kind: 'dead-letter' } | { kind: 'drop' };

/**
 * What to do with a message whose delivery number `attempts` failed at `now`. `overrideMs`
 * (a Nack's own delay, when > 0) replaces the schedule's delay but not the retry budget.
 */
export function nextRetry(policy: RetryPolicy, attempts: number, now: number, overrideMs = 0): RetryStep {
  const retry = attempts; // the retry that would come next: delivery attempts + 1
  if (retry > policy.maxRetries) return policy.deadLetter ? { kind: 'dead-letter' } : { kind: 'drop' };
  const delay = overrideMs > 0 ? overrideMs : retryDelayMs(policy.delays, retry);
  return { kind: 'retry', at: now + delay, retry };
}
