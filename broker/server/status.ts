// The single mapping from typed errors to gRPC status: the status code, the message, and a
// google.rpc.Status with a google.rpc.ErrorInfo (domain herald.dev) in the
// grpc-status-details-bin trailer, the way Google APIs carry machine-readable reasons.
import * as grpc from '@grpc/grpc-js';
import { asHeraldError } from '../errors';
import { loadProtos } from '../../proto/load';
import type { ErrorInfo } from '../../proto/gen/google/rpc/ErrorInfo';

export const ERROR_DOMAIN = 'herald.dev';
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const e = asHeraldError(err);
  const rpc = loadProtos().grpc.google.rpc;
  const info = rpc.ErrorInfo.serialize({ reason: e.reason, domain: ERROR_DOMAIN, metadata: e.metadata });
  const details = rpc.Status.serialize({
    code: e.code,
    message: e.message,
    details: [{ type_url: ERROR_INFO_TYPE, value: info }],
  });
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, details);
  return { code: e.code, details: e.message, metadata };
}

/** The ErrorInfo of a failed call, for clients and tests; undefined when the server sent none. */
export function readErrorInfo(err: { metadata?: grpc.Metadata }): ErrorInfo | undefined {
  const raw = err.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!Buffer.isBuffer(raw)) return undefined;
  const rpc = loadProtos().grpc.google.rpc;
  const found = rpc.Status.deserialize(raw).details.find((d) => d.type_url === ERROR_INFO_TYPE);
  return found?.value ? rpc.ErrorInfo.deserialize(found.value) : undefined;
}
