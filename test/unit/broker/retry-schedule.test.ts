import { nextRetry, retryDelayMs } from '../../../common/retry-schedule';
import type { RetryPolicy } from '../../../common/retry-schedule';
import { policyFromProto } from '../../../common/group-policy';

describe('retry schedule', () => {
  test("a list of delays: retry n waits delays[min(n, len) - 1] (Hermes' [3,6,9])", () => {
    const delays = { kind: 'delays' as const, delaysMs: [3000, 6000, 9000] };
    expect([1, 2, 3, 4, 16].map((n) => retryDelayMs(delays, n))).toEqual([3000, 6000, 9000, 9000, 9000]);
    expect(() => retryDelayMs(delays, 0)).toThrow(RangeError);
  });

  test('exponential backoff grows by the multiplier and stops at the maximum', () => {
    const exp = { kind: 'exponential' as const, initialMs: 1000, multiplier: 2, maxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(exp, n))).toEqual([
      1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
    expect(retryDelayMs({ ...exp, multiplier: 1.5 }, 3)).toBe(2250);
    // Far beyond any float's range: still the maximum, never Infinity or NaN.
    expect(retryDelayMs({ ...exp, multiplier: 100 }, 1000)).toBe(10_000);
  });

  test('after maxRetries retries the next failure dead-letters, or drops without dead letters', () => {
    const policy: RetryPolicy = {
      delays: { kind: 'delays', delaysMs: [10, 20] },
      maxRetries: 2,
      deadLetter: true,
    };
    expect(nextRetry(policy, 1, 1000)).toEqual({ kind: 'retry', at: 1010, retry: 1 });
    expect(nextRetry(policy, 2, 1000)).toEqual({ kind: 'retry', at: 1020, retry: 2 });
    expect(nextRetry(policy, 3, 1000)).toEqual({ kind: 'dead-letter' });
    expect(nextRetry({ ...policy, deadLetter: false }, 3, 1000)).toEqual({ kind: 'drop' });
    expect(nextRetry({ ...policy, maxRetries: 0 }, 1, 1000)).toEqual({ kind: 'dead-letter' });
  });

  test("a Nack's own delay replaces the schedule's delay but not the budget", () => {
    const policy: RetryPolicy = {
      delays: { kind: 'delays', delaysMs: [10] },
      maxRetries: 1,
      deadLetter: true,
    };
    expect(nextRetry(policy, 1, 1000, 5000)).toEqual({ kind: 'retry', at: 6000, retry: 1 });
    expect(nextRetry(policy, 2, 1000, 5000)).toEqual({ kind: 'dead-letter' });
  });

  test('the meta-server policy converts seconds, and a bad filter becomes an error, not a throw', () => {
    const base = {
      tagFilter: '',
      retryDelaysSeconds: [],
      exponential: null,
      maxRetries: 3,
      deadLetter: true,
      ordered: false,
      ackTimeoutMs: 0,
      maxInFlight: 0,
      startFrom: '',
      push: null,
    };
    expect(policyFromProto({ ...base, retryDelaysSeconds: [1, 2] }).retry.delays).toEqual({
      kind: 'delays',
      delaysMs: [1000, 2000],
    });
    expect(
      policyFromProto({ ...base, exponential: { initialSeconds: 2, multiplier: 0, maxSeconds: 60 } }).retry
        .delays,
    ).toEqual({ kind: 'exponential', initialMs: 2000, multiplier: 2, maxMs: 60_000 });
    const p = policyFromProto({ ...base, tagFilter: '(a', ordered: true });
    expect(p.filter.ok).toBe(false);
    expect(p).toMatchObject({
      ordered: true,
      ackTimeoutMs: 30_000,
      maxInFlight: 1000,
      retry: { maxRetries: 3 },
    });
    expect(policyFromProto(null).retry.delays).toEqual({ kind: 'delays', delaysMs: [3000, 6000, 9000] });
  });
});
