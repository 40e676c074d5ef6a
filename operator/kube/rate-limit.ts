// The work queue's rate limits, as client-go's default controller rate limiter: the larger of
// a per-item exponential backoff (5 ms doubling to 1000 s) and an overall token bucket
// (10 per second, bursts of 100). Pure: time is passed in.

export class ItemBackoff {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly baseMs = 5,
    private readonly maxMs = 1_000_000,
  ) {
    if (!(baseMs > 0) || !(maxMs >= baseMs)) throw new RangeError('backoff: need 0 < baseMs <= maxMs');
  }

  /** The delay before retrying `key` after one more failure. */
  next(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond = 10,
    private readonly burst = 100,
    now = 0,
  ) {
    if (!(perSecond > 0) || !(burst >= 1))
      throw new RangeError('token bucket: need perSecond > 0 and burst >= 1');
    this.tokens = burst;
    this.last = now;
  }

  /** Takes a token and returns how long to wait until it is really available (0: now). */
  reserve(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.perSecond);
  }
}
