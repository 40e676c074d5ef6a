// Herald's typed errors, shared by servers and clients. Every failure a client can see is a
// HeraldError with a reason from herald.v1.ErrorReason; a server's edge
// (broker/server/status.ts) is the only place that turns one into a gRPC status, and
// readErrorInfo below reads it back. Code decides on `reason`, never on message text.
import { status as GrpcCode } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../proto/load';
import type { ErrorInfo } from '../proto/gen/google/rpc/ErrorInfo';
import type { Status } from '../proto/gen/google/rpc/Status';
import type { ErrorReason } from '../proto/gen/herald/v1/ErrorReason';

export const ERROR_DOMAIN = 'herald.dev';
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
export const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

export type Reason = Exclude<ErrorReason, 'ERROR_REASON_UNSPECIFIED'>;

interface ReasonSpec {
  code: GrpcCode;
  retriable: boolean;
}

/** The gRPC code and retriability of every reason, as documented in herald/v1/errors.proto. */
export const REASONS: Record<Reason, ReasonSpec> = {
  TOPIC_NOT_FOUND: { code: GrpcCode.NOT_FOUND, retriable: false },
  NOT_PARTITION_OWNER: { code: GrpcCode.FAILED_PRECONDITION, retriable: true },
  INVALID_NAME: { code: GrpcCode.INVALID_ARGUMENT, retriable: false },
  PARTITION_OUT_OF_RANGE: { code: GrpcCode.INVALID_ARGUMENT, retriable: false },
  MESSAGE_TOO_LARGE: { code: GrpcCode.INVALID_ARGUMENT, retriable: false },
  BATCH_TOO_LARGE: { code: GrpcCode.INVALID_ARGUMENT, retriable: false },
  INVALID_REQUEST: { code: GrpcCode.INVALID_ARGUMENT, retriable: false },
  OFFSET_NOT_DELIVERED: { code: GrpcCode.FAILED_PRECONDITION, retriable: false },
  STORAGE_UNAVAILABLE: { code: GrpcCode.UNAVAILABLE, retriable: true },
  SHUTTING_DOWN: { code: GrpcCode.UNAVAILABLE, retriable: true },
  PARTITION_FENCED: { code: GrpcCode.ABORTED, retriable: true },
  INTERNAL_ERROR: { code: GrpcCode.INTERNAL, retriable: false },
  NOT_LEADER: { code: GrpcCode.FAILED_PRECONDITION, retriable: true },
  LEASE_EXPIRED: { code: GrpcCode.FAILED_PRECONDITION, retriable: false },
  GROUP_NOT_FOUND: { code: GrpcCode.NOT_FOUND, retriable: false },
  RATE_LIMITED: { code: GrpcCode.RESOURCE_EXHAUSTED, retriable: true },
  CREDENTIALS_MISSING: { code: GrpcCode.UNAUTHENTICATED, retriable: false },
  CREDENTIALS_EXPIRED: { code: GrpcCode.UNAUTHENTICATED, retriable: false },
  CREDENTIALS_INVALID: { code: GrpcCode.UNAUTHENTICATED, retriable: false },
  PERMISSION_DENIED: { code: GrpcCode.PERMISSION_DENIED, retriable: false },
  AUTHENTICATION_UNAVAILABLE: { code: GrpcCode.UNAVAILABLE, retriable: true },
};

export class HeraldError extends Error {
  override readonly name = 'HeraldError';
  readonly code: GrpcCode;
  readonly retriable: boolean;

  constructor(
    readonly reason: Reason,
    message: string,
    /** Machine-readable details, sent as google.rpc.ErrorInfo.metadata. */
    readonly metadata: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = REASONS[reason].code;
    this.retriable = REASONS[reason].retriable;
  }
}

/** Any thrown value as a HeraldError: unknown errors become INTERNAL_ERROR with the cause kept. */
export function asHeraldError(err: unknown): HeraldError {
  if (err instanceof HeraldError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HeraldError('INTERNAL_ERROR', message, {}, { cause: err });
}

/** The ErrorInfo of a failed call, for clients and tests; undefined when the server sent none. */
export function readErrorInfo(err: { metadata?: grpc.Metadata }): ErrorInfo | undefined {
  const raw = err.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!Buffer.isBuffer(raw)) return undefined;
  return errorInfoOf(loadProtos().grpc.google.rpc.Status.deserialize(raw));
}

/** The ErrorInfo inside a google.rpc.Status (for example a PublishStream error result). */
export function errorInfoOf(status: Status): ErrorInfo | undefined {
  const found = status.details.find((d) => d.type_url === ERROR_INFO_TYPE);
  return found?.value ? loadProtos().grpc.google.rpc.ErrorInfo.deserialize(found.value) : undefined;
}

/** An ErrorInfo whose reason Herald knows, as that HeraldError; undefined otherwise. */
function fromErrorInfo(
  info: ErrorInfo | undefined,
  message: string,
  options?: { cause?: unknown },
): HeraldError | undefined {
  if (info === undefined || !(info.reason in REASONS)) return undefined;
  return new HeraldError(info.reason as Reason, message, info.metadata, options);
}

/** A status without a Herald reason (e.g. UNIMPLEMENTED by an older server): INTERNAL_ERROR keeping the code. */
function unknownStatus(address: string, code: GrpcCode, details: string, options?: { cause?: unknown }) {
  return new HeraldError(
    'INTERNAL_ERROR',
    `${address}: ${GrpcCode[code] ?? code}: ${details}`,
    { grpcCode: String(code) },
    options,
  );
}

/**
 * A google.rpc.Status a server sent as a result (a PublishStream error) as a HeraldError: its
 * reason and metadata from the ErrorInfo, or INTERNAL_ERROR with the code kept when it has none.
 */
export function fromRpcStatus(status: Status | null | undefined, address: string): HeraldError {
  const message = status?.message ?? 'an empty result';
  return (
    fromErrorInfo(status ? errorInfoOf(status) : undefined, message) ??
    unknownStatus(address, status?.code ?? GrpcCode.UNKNOWN, message)
  );
}

/**
 * A failed call to another Herald server (a forwarded call, the meta-server) as a HeraldError:
 * its reason and metadata when it sent an ErrorInfo, otherwise undefined (a transport failure).
 */
export function fromServiceError(err: grpc.ServiceError): HeraldError | undefined {
  return fromErrorInfo(readErrorInfo(err), err.details, { cause: err });
}

/**
 * A call that failed without an answer from Herald: the server could not be reached, the call
 * ran out of time, or the connection broke. Always retriable; the SDK then asks the meta-server
 * for fresh routes. Separate from HeraldError because no server chose a reason for it.
 */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
  readonly retriable = true;

  constructor(
    message: string,
    /** The gRPC status the transport reported (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED...). */
    readonly code: GrpcCode,
    /** The address that was called. */
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What a failed SDK call throws. */
export type CallError = HeraldError | UnavailableError;

// RESOURCE_EXHAUSTED is not among them: Herald's own (RATE_LIMITED) carries a reason and a
// wait; without one it is grpc-js refusing a message over its size limit, which the same call
// would hit again, so it is an error to report, not to retry.
const TRANSPORT_CODES = new Set<GrpcCode>([
  GrpcCode.UNAVAILABLE,
  GrpcCode.DEADLINE_EXCEEDED,
  GrpcCode.CANCELLED,
]);

/**
 * A failed call to `address` as a typed error: a HeraldError when the server sent a reason;
 * an UnavailableError for transport failures; otherwise (e.g. UNIMPLEMENTED by an older
 * server) an INTERNAL_ERROR HeraldError that keeps the status in its metadata.
 */
export function callError(err: unknown, address: string): CallError {
  if (err instanceof HeraldError || err instanceof UnavailableError) return err;
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e.code !== 'number') return asHeraldError(err);
  const typed = fromServiceError(e as grpc.ServiceError);
  if (typed) return typed;
  if (TRANSPORT_CODES.has(e.code)) {
    return new UnavailableError(`${address}: ${e.details ?? e.message ?? 'unavailable'}`, e.code, address, {
      cause: err,
    });
  }
  return unknownStatus(address, e.code, e.details ?? '', { cause: err });
}
