// What a push endpoint's answer means for the messages it carried (docs/push.md). Pure.

export type PushOutcome =
  | { kind: 'ack' }
  /** Retried on the group's schedule (or no earlier than retryAfterMs from now). */
  | { kind: 'retry'; error: string; retryAfterMs: number | undefined; endpointFailed: boolean }
  /** Given up now: dead-lettered (or dropped) with `error`. */
  | { kind: 'final'; error: string };

/** Retry-After beyond this is taken as this (the endpoint still gets its messages). */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * An endpoint's answer: its HTTP status (0: none, a timeout or a connection error), what went
 * wrong in words ("HTTP 503: ...", "timeout after 5000 ms") and its Retry-After header.
 */
export interface PushAnswer {
  status: number;
  error: string;
  retryAfter?: string;
}

export function outcomeOf(answer: PushAnswer, retryClientErrors: boolean, now: number): PushOutcome {
  const { status, error } = answer;
  if (status >= 200 && status < 300) return { kind: 'ack' };
  if (status === 0 || status >= 500 || status === 408 || status === 429) {
    const honoured = status === 429 || status === 503 ? retryAfterMs(answer.retryAfter, now) : undefined;
    return { kind: 'retry', error, retryAfterMs: honoured, endpointFailed: true };
  }
  // 1xx, 3xx and other 4xx: the message's fault, not the endpoint's.
  if (retryClientErrors) return { kind: 'retry', error, retryAfterMs: undefined, endpointFailed: false };
  return { kind: 'final', error };
}

/** Retry-After as delay-seconds or an HTTP date, in ms from now; undefined when absent or bad. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    // An HTTP date names its weekday and month ("Wed, 21 Oct 2026 07:28:00 GMT").
    const at = /[A-Za-z]/.test(v) ? Date.parse(v) : NaN;
    if (Number.isNaN(at)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}
