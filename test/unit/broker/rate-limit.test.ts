import { HeraldError } from '../../../common/errors';
import { TokenBucket, TopicRateLimits, shareOf } from '../../../broker/publish/rate-limit';

test('a bucket starts full, admits its capacity at once, then refills at its rate', () => {
  const b = new TokenBucket(100, 50, 0);
  expect(b.take(50, 0)).toBe(0);
  // Empty: one message needs 10 ms at 100/s.
  expect(b.take(1, 0)).toBe(10);
  expect(b.take(1, 10)).toBe(0);
  // 20 messages need 200 ms of refill.
  expect(b.take(20, 10)).toBe(200);
  expect(b.take(20, 210)).toBe(0);
});

test('over a long run a bucket admits rate × time + capacity, whatever the request sizes', () => {
  const b = new TokenBucket(1000, 1000, 0);
  let admitted = 0;
  let now = 0;
  const sizes = [1, 7, 50, 500, 3];
  for (let i = 0; now <= 20_000; i++) {
    const n = sizes[i % sizes.length];
    const wait = b.take(n, now);
    if (wait === 0) admitted += n;
    else now += wait;
  }
  expect(admitted).toBeGreaterThanOrEqual(20_000);
  expect(admitted).toBeLessThanOrEqual(21_000 + 500);
});

test('a request larger than the bucket waits for a full bucket, then leaves it in debt', () => {
  const b = new TokenBucket(10, 5, 0);
  expect(b.take(8, 0)).toBe(0);
  // 3 tokens of debt: a single message waits for 4 tokens (400 ms).
  expect(b.take(1, 0)).toBe(400);
  expect(b.take(8, 400)).toBe(400);
  expect(b.take(8, 800)).toBe(0);
});

test('reshape keeps the tokens earned, at most the new capacity', () => {
  const b = new TokenBucket(10, 100, 0);
  expect(b.take(100, 0)).toBe(0);
  b.reshape(100, 10, 1000); // earned 10 at the old rate
  expect(b.take(10, 1000)).toBe(0);
  expect(b.take(1, 1000)).toBe(10);
  // 1 s at 100/s earns at most the old capacity (10); the new rate counts from now on.
  b.reshape(1000, 1000, 2000);
  expect(b.take(10, 2000)).toBe(0);
  expect(b.take(1, 2000)).toBe(1);
  expect(b.take(100, 2100)).toBe(0);
});

test('the share is the limit scaled by the partitions held; burst defaults to the rate', () => {
  expect(shareOf({ messagesPerSecond: 1200, burst: 0 }, 4, 12)).toEqual({ rate: 400, burst: 400 });
  expect(shareOf({ messagesPerSecond: 1200, burst: 600 }, 6, 12)).toEqual({ rate: 600, burst: 300 });
  expect(shareOf({ messagesPerSecond: 1, burst: 0 }, 1, 16)).toEqual({ rate: 1 / 16, burst: 1 });
  // The shares of owners that split the partitions add up to the limit.
  const parts = [5, 5, 6].map((h) => shareOf({ messagesPerSecond: 1000, burst: 0 }, h, 16).rate);
  expect(parts.reduce((a, b) => a + b, 0)).toBeCloseTo(1000);
});

test('over the share: RATE_LIMITED, retriable, with retry_after_ms and the limit', () => {
  const limits = new TopicRateLimits();
  const limit = { messagesPerSecond: 300, burst: 0 };
  expect(limits.admit('orders', limit, 1, 3, 100, 0)).toBe(100);
  let err: unknown;
  try {
    limits.admit('orders', limit, 1, 3, 10, 0);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(HeraldError);
  const e = err as HeraldError;
  expect(e.reason).toBe('RATE_LIMITED');
  expect(e.code).toBe(8); // RESOURCE_EXHAUSTED
  expect(e.retriable).toBe(true);
  expect(e.metadata).toEqual({ topic: 'orders', retry_after_ms: '100', limit: '300' });
  expect(e.message).toContain('100/s');
  // Other topics have buckets of their own.
  expect(limits.admit('audit', limit, 3, 3, 300, 0)).toBe(300);
});

test('a partition gained or a limit raised reshapes the bucket at once', () => {
  const limits = new TopicRateLimits();
  expect(limits.admit('orders', { messagesPerSecond: 300, burst: 0 }, 1, 3, 100, 0)).toBe(100);
  expect(() => limits.admit('orders', { messagesPerSecond: 300, burst: 0 }, 1, 3, 100, 500)).toThrow(
    HeraldError,
  );
  // Two of three partitions now: 200/s, and the 50 tokens earned by 500 ms at 100/s are kept.
  expect(limits.admit('orders', { messagesPerSecond: 300, burst: 0 }, 2, 3, 50, 500)).toBe(200);
  // Raised to 3000/s: 2000/s here from the call that sees it (refused: 0.2 tokens), so 1 ms later
  // two messages pass.
  expect(() => limits.admit('orders', { messagesPerSecond: 3000, burst: 0 }, 2, 3, 2, 501)).toThrow(
    HeraldError,
  );
  expect(limits.admit('orders', { messagesPerSecond: 3000, burst: 0 }, 2, 3, 2, 502)).toBe(2000);
});
