// The single mapping from typed errors to HTTP answers (the HTTP counterpart of grpc/status.ts):
// a status per reason and an application/problem+json body (RFC 9457) that carries the same
// reason, message and metadata a gRPC caller finds in google.rpc.ErrorInfo. Pure.
import { status as GrpcCode } from '@grpc/grpc-js';
import { ERROR_DOMAIN, asHeraldError } from '../errors';
import type { Reason } from '../errors';

export const PROBLEM_TYPE = 'application/problem+json';

/** Every reason's HTTP status; a Record, so a new reason does not compile without one. */
export const HTTP_STATUS: Record<Reason, number> = {
  INVALID_NAME: 400,
  PARTITION_OUT_OF_RANGE: 400,
  INVALID_REQUEST: 400,
  CREDENTIALS_MISSING: 401,
  CREDENTIALS_EXPIRED: 401,
  CREDENTIALS_INVALID: 401,
  PERMISSION_DENIED: 403,
  TOPIC_NOT_FOUND: 404,
  GROUP_NOT_FOUND: 404,
  OFFSET_NOT_DELIVERED: 409,
  LEASE_EXPIRED: 409,
  MESSAGE_TOO_LARGE: 413,
  BATCH_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  // Retriable: the same request may succeed shortly, here or at another broker.
  STORAGE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  AUTHENTICATION_UNAVAILABLE: 503,
  NOT_PARTITION_OWNER: 503,
  PARTITION_FENCED: 503,
  NOT_LEADER: 503,
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  reason: Reason;
  domain: string;
  /** The gRPC status code name of the same failure, e.g. NOT_FOUND. */
  grpcCode: string;
  metadata: Record<string, string>;
}

export interface ProblemAnswer {
  status: number;
  headers: Record<string, string>;
  body: Problem;
}

/**
 * The HTTP answer to a failure. `status` overrides the reason's (a path the gateway does not
 * serve is 404 INVALID_REQUEST, a wrong method 405).
 */
export function problemOf(err: unknown, status?: number): ProblemAnswer {
  const e = asHeraldError(err);
  const code = status ?? HTTP_STATUS[e.reason];
  const headers: Record<string, string> = {};
  if (code === 401) headers['www-authenticate'] = 'Bearer realm="herald"';
  if (e.reason === 'RATE_LIMITED') {
    const ms = Number(e.metadata.retry_after_ms);
    headers['retry-after'] = String(Number.isFinite(ms) && ms > 0 ? Math.ceil(ms / 1000) : 1);
  } else if (code === 503) {
    headers['retry-after'] = '1';
  }
  return {
    status: code,
    headers,
    body: {
      type: `https://${ERROR_DOMAIN}/errors/${e.reason}`,
      title: e.reason,
      status: code,
      detail: e.message,
      reason: e.reason,
      domain: ERROR_DOMAIN,
      grpcCode: GrpcCode[e.code] ?? String(e.code),
      metadata: e.metadata,
    },
  };
}
