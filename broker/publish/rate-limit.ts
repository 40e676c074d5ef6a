// Topic rate limits (Topic spec.rateLimit), enforced by each owner for its share of the topic:
// share = limit × partitions held / partitions of the topic. The shares of all owners add up
// to the limit while every partition has an owner, and move with the partitions, so the limit
// holds for the topic as a whole with no coordination per message. Pure: time comes in as
// `now` (ms); unit-tested.
import { HeraldError } from '../../common/errors';
import type { TopicOptions } from '../../common/broker-options';

export type RateLimit = NonNullable<TopicOptions['rateLimit']>;

/**
 * A token bucket: `capacity` tokens at most, refilled at `ratePerSecond`. A request of n
 * messages takes n tokens. One larger than the bucket is admitted when the bucket is full and
 * leaves it in debt, so large batches are slowed, never refused forever.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private ratePerSecond: number,
    private capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.at = now;
  }

  get rate(): number {
    return this.ratePerSecond;
  }

  /** Changes rate and capacity, keeping the tokens earned so far (at most the new capacity). */
  reshape(ratePerSecond: number, capacity: number, now: number): void {
    this.refill(now);
    this.ratePerSecond = ratePerSecond;
    this.capacity = capacity;
    this.tokens = Math.min(this.tokens, capacity);
  }

  /** Takes n tokens and returns 0, or takes none and returns how many ms until it would succeed. */
  take(n: number, now: number): number {
    this.refill(now);
    const need = Math.min(n, this.capacity);
    if (this.tokens >= need) {
      this.tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil(((need - this.tokens) / this.ratePerSecond) * 1000));
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) / 1000) * this.ratePerSecond);
    }
    this.at = Math.max(this.at, now);
  }
}

/** This owner's share of a topic's limit: rate and burst scaled by held / total partitions. */
export function shareOf(limit: RateLimit, held: number, total: number): { rate: number; burst: number } {
  const fraction = total > 0 ? Math.min(held, total) / total : 0;
  const burst = limit.burst > 0 ? limit.burst : limit.messagesPerSecond;
  // At least one message of burst, so a share below one message still admits single messages.
  return { rate: limit.messagesPerSecond * fraction, burst: Math.max(1, burst * fraction) };
}

/** The buckets of the rate-limited topics this broker owns partitions of. */
export class TopicRateLimits {
  private readonly buckets = new Map<string, { bucket: TokenBucket; key: string }>();

  /**
   * Admits `count` messages of `topic` or throws RATE_LIMITED with retry_after_ms. `held` and
   * `total` are the topic's partitions owned here and in all; a change of either, or of the
   * limit, reshapes the bucket on this call. Returns the share's rate (messages/s).
   */
  admit(topic: string, limit: RateLimit, held: number, total: number, count: number, now: number): number {
    const share = shareOf(limit, held, total);
    const key = `${limit.messagesPerSecond}/${limit.burst}/${held}/${total}`;
    let entry = this.buckets.get(topic);
    if (!entry) {
      entry = { bucket: new TokenBucket(share.rate, share.burst, now), key };
      this.buckets.set(topic, entry);
    } else if (entry.key !== key) {
      entry.bucket.reshape(share.rate, share.burst, now);
      entry.key = key;
    }
    // Held partitions are what a publish needs to get here, so the rate is > 0.
    const wait = entry.bucket.take(count, now);
    if (wait > 0) {
      throw new HeraldError(
        'RATE_LIMITED',
        `topic ${topic} is over its rate limit of ${limit.messagesPerSecond} messages/s ` +
          `(this broker's share: ${formatRate(share.rate)}/s); retry after ${wait} ms`,
        { topic, retry_after_ms: String(wait), limit: String(limit.messagesPerSecond) },
      );
    }
    return share.rate;
  }
}

function formatRate(rate: number): string {
  return rate >= 10 ? String(Math.round(rate)) : rate.toFixed(2);
}
