// The single mapping from typed errors to gRPC status: the status code, the message, and a
// google.rpc.Status with a google.rpc.ErrorInfo (domain herald.dev) in the
// grpc-status-details-bin trailer, the way Google APIs carry machine-readable reasons.
import * as grpc from '@grpc/grpc-js';
import { asHeraldError, ERROR_DOMAIN, ERROR_INFO_TYPE, STATUS_DETAILS_KEY } from '../errors';
import { loadProtos } from '../../proto/load';
import type { Status__Input } from '../../proto/gen/google/rpc/Status';

/** The google.rpc.Status of an error, as sent in the trailer or in a stream response. */
export function toRpcStatus(err: unknown): Status__Input {
  const e = asHeraldError(err);
  const info = loadProtos().grpc.google.rpc.ErrorInfo.serialize({
    reason: e.reason,
    domain: ERROR_DOMAIN,
    metadata: e.metadata,
  });
  return { code: e.code, message: e.message, details: [{ type_url: ERROR_INFO_TYPE, value: info }] };
}

export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const status = toRpcStatus(err);
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, loadProtos().grpc.google.rpc.Status.serialize(status));
  return { code: status.code, details: status.message, metadata };
}
