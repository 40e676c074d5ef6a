// Typed errors of the broker. Every failure a client can see is a HeraldError with a reason
// from herald.v1.ErrorReason; the server edge (server/status.ts) is the only place that turns
// one into a gRPC status. Code decides on `reason`, never on message text.
import { status as GrpcCode } from '@grpc/grpc-js';
import type { ErrorReason } from '../proto/gen/herald/v1/ErrorReason';

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
