// Exponential backoff with full jitter (AWS's "full jitter": a random delay between 0 and the
// exponential cap), and a retry loop bounded by a total deadline. Pure except for the timer.
import { check, int, num } from './options';

export interface BackoffOptions {
  /** The cap of the first retry's delay. */
  initialMs: number;
  /** The largest cap. */
  maxMs: number;
  /** Each retry's cap is this many times the previous one (>= 1). */
  multiplier: number;
}

export const BACKOFF_DEFAULTS: BackoffOptions = { initialMs: 50, maxMs: 2000, multiplier: 2 };

/** Checks backoff options, naming the field (`prefix.initialMs`...). */
export function checkBackoff(prefix: string, o: BackoffOptions): BackoffOptions {
  check(`${prefix}.initialMs`, o.initialMs, int(1));
  check(`${prefix}.maxMs`, o.maxMs, int(o.initialMs));
  check(`${prefix}.multiplier`, o.multiplier, num({ min: 1 }));
  return o;
}

/** The delay before retry `attempt` (1 = the first retry); `random` returns [0, 1). */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(o.maxMs, o.initialMs * Math.pow(o.multiplier, Math.max(0, attempt - 1)));
  return Math.floor(random() * cap);
}

/** Whether an error says the same call may succeed later (HeraldError/UnavailableError.retriable). */
export function isRetriable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
}

export interface RetryOptions extends BackoffOptions {
  /** Give up once this time (Date.now() clock) has passed; the last error is thrown. */
  deadline: number;
  /** Called before each retry with the error; may return 0 to retry at once (a known new owner). */
  onRetry?: (err: unknown, attempt: number) => number | void;
  now?: () => number;
  random?: () => number;
}

/** Runs `fn` until it succeeds, throws a non-retriable error, or the deadline passes. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const now = o.now ?? Date.now;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetriable(err)) throw err;
      const override = o.onRetry?.(err, attempt);
      const delay = override ?? backoffDelay(attempt, o, o.random);
      if (now() + delay >= o.deadline) throw err;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
