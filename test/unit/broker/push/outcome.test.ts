import { MAX_RETRY_AFTER_MS, outcomeOf, retryAfterMs } from '../../../../broker/push/outcome';

const now = Date.parse('2026-12-01T12:00:00Z');
const answer = (status: number, retryAfter?: string) => ({
  status,
  error: status === 0 ? 'timeout after 100 ms' : `HTTP ${status}`,
  ...(retryAfter !== undefined ? { retryAfter } : {}),
});

describe('push outcomes', () => {
  test('2xx acks', () => {
    for (const s of [200, 201, 204, 299]) expect(outcomeOf(answer(s), false, now)).toEqual({ kind: 'ack' });
  });

  test('5xx, 408, 429 and no answer retry, as failures of the endpoint', () => {
    for (const s of [0, 500, 502, 504, 408, 429, 503]) {
      expect(outcomeOf(answer(s), false, now)).toEqual({
        kind: 'retry',
        error: answer(s).error,
        retryAfterMs: undefined,
        endpointFailed: true,
      });
    }
  });

  test('Retry-After is honoured on 429 and 503 only', () => {
    expect(outcomeOf(answer(429, '7'), false, now)).toMatchObject({ kind: 'retry', retryAfterMs: 7000 });
    expect(outcomeOf(answer(503, 'Tue, 01 Dec 2026 12:00:30 GMT'), false, now)).toMatchObject({
      retryAfterMs: 30_000,
    });
    expect(outcomeOf(answer(500, '7'), false, now)).toMatchObject({ retryAfterMs: undefined });
  });

  test('other 4xx and 3xx are final unless retryClientErrors', () => {
    for (const s of [400, 401, 404, 410, 422, 301]) {
      expect(outcomeOf(answer(s), false, now)).toEqual({ kind: 'final', error: `HTTP ${s}` });
      expect(outcomeOf(answer(s), true, now)).toEqual({
        kind: 'retry',
        error: `HTTP ${s}`,
        retryAfterMs: undefined,
        endpointFailed: false,
      });
    }
  });

  test('Retry-After values: seconds, dates, past dates, garbage, and the cap', () => {
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Tue, 01 Dec 2026 11:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-5', now)).toBeUndefined();
    expect(retryAfterMs('999999', now)).toBe(MAX_RETRY_AFTER_MS);
  });
});
