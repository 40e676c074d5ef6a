// The single mapping from typed errors to gRPC status: the status code, the message, and a
// google.rpc.Status with a google.rpc.ErrorInfo (domain herald.dev) in the
// grpc-status-details-bin trailer, the way Google APIs carry machine-readable reasons.
import * as grpc from '@grpc/grpc-js';
import { asHeraldError, HeraldError, REASONS } from '../errors';
import type { Reason } from '../errors';
import { loadProtos } from '../../proto/load';
import type { ErrorInfo } from '../../proto/gen/google/rpc/ErrorInfo';
import type { Status, Status__Input } from '../../proto/gen/google/rpc/Status';

export const ERROR_DOMAIN = 'herald.dev';
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

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

/**
 * A failed call to another Herald server (a forwarded call, the meta-server) as a HeraldError:
 * its reason and metadata when it sent an ErrorInfo, otherwise undefined (a transport failure).
 */
export function fromServiceError(err: grpc.ServiceError): HeraldError | undefined {
  const info = readErrorInfo(err);
  if (info === undefined || !(info.reason in REASONS)) return undefined;
  return new HeraldError(info.reason as Reason, err.details, info.metadata, { cause: err });
}
