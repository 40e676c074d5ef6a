// The sending rate of one push partition, after Allegro Hermes' output rate limiter: every
// period it looks at the requests that ended in it. Few failures: the rate rises a fraction of
// the way to its ceiling; some: it holds; many: it halves; below the minimum rate: the endpoint
// is down and gets one request per heartbeat interval, whose success lifts the rate to the
// minimum again. Pure: time is passed in, nothing here waits.

export type RateState = 'rising' | 'holding' | 'falling' | 'down';

export interface AdaptiveRateOptions {
  /** The ceiling, messages per second (this partition's share of spec.push.rate). */
  maxRate: number;
  /** Below this (messages per second) the endpoint counts as down. */
  minRate: number;
  /** A failure ratio up to this lets the rate rise. */
  speedUpTolerance: number;
  /** Up to this it holds; above it the rate falls. */
  holdTolerance: number;
  /** The share of the distance to the ceiling the rate climbs per period. */
  convergence: number;
  /** The factor the rate is multiplied by in a period with many failures. */
  slowdown: number;
  /** While down: one request this often. */
  heartbeatIntervalMs: number;
}

export const ADAPTIVE_DEFAULTS: Omit<AdaptiveRateOptions, 'maxRate'> = {
  minRate: 1,
  speedUpTolerance: 0.01,
  holdTolerance: 0.05,
  convergence: 0.2,
  slowdown: 0.5,
  heartbeatIntervalMs: 5_000,
};

export class AdaptiveRate {
  private options: AdaptiveRateOptions;
  state: RateState = 'rising';
  /** Messages per second now (while down: the heartbeat's). */
  private current: number;
  private succeeded = 0;
  private failed = 0;
  /** Send credit in messages (may go negative: a batch takes what it needs). */
  private tokens = 1;
  private refilledAt: number;
  private lastSentAt = -Infinity;

  constructor(options: AdaptiveRateOptions, now: number) {
    this.options = bounded(options);
    // Optimistic start: a healthy endpoint gets its ceiling at once.
    this.current = this.options.maxRate;
    this.refilledAt = now;
  }

  get rate(): number {
    return this.state === 'down' ? 1000 / this.options.heartbeatIntervalMs : this.current;
  }

  /** Whether the latest period had no failures to speak of. */
  get healthy(): boolean {
    return this.state === 'rising' || this.state === 'holding';
  }

  /** A new ceiling (the group's policy changed); the rate stays at or below it. */
  setMaxRate(maxRate: number): void {
    this.options = bounded({ ...this.options, maxRate });
    this.current = Math.min(this.current, this.options.maxRate);
  }

  /** A request ended: `failed` when the endpoint failed it (timeout, connection, 5xx, 429). */
  record(failed: boolean): void {
    if (failed) this.failed++;
    else this.succeeded++;
  }

  /** Ends a period: moves the rate by the failure ratio of the requests that ended in it. */
  evaluate(): void {
    const { succeeded, failed } = this;
    this.succeeded = 0;
    this.failed = 0;
    const o = this.options;
    if (this.state === 'down') {
      if (succeeded > 0) {
        this.state = 'rising';
        this.current = o.minRate;
        this.tokens = Math.max(this.tokens, 1);
      }
      return;
    }
    const total = succeeded + failed;
    if (total === 0) return;
    const ratio = failed / total;
    if (ratio <= o.speedUpTolerance) {
      this.state = 'rising';
      this.current += o.convergence * (o.maxRate - this.current);
      if (o.maxRate - this.current < o.minRate) this.current = o.maxRate;
    } else if (ratio <= o.holdTolerance) {
      this.state = 'holding';
    } else {
      this.current *= o.slowdown;
      this.state = this.current < o.minRate ? 'down' : 'falling';
    }
  }

  /**
   * How long to wait before the next request may start (0: now). Call again after waiting; a
   * request that starts calls `sent` with its message count.
   */
  waitMs(now: number): number {
    if (this.state === 'down') return Math.max(0, this.lastSentAt + this.options.heartbeatIntervalMs - now);
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.current);
  }

  /** Messages that may start now without waiting (at least 1 when waitMs is 0). */
  available(now: number): number {
    if (this.state === 'down') return 1;
    this.refill(now);
    return Math.max(1, Math.floor(this.tokens));
  }

  sent(messages: number, now: number): void {
    this.refill(now);
    this.tokens -= messages;
    this.lastSentAt = now;
  }

  private refill(now: number): void {
    // A tenth of a second's worth of burst, at least one message.
    const burst = Math.max(1, this.current / 10);
    this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) * this.current) / 1000);
    this.refilledAt = now;
  }
}

/** A ceiling below the minimum rate makes the minimum the ceiling (a tiny share still sends). */
function bounded(o: AdaptiveRateOptions): AdaptiveRateOptions {
  return { ...o, minRate: Math.min(o.minRate, o.maxRate) };
}
