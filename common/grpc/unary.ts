// Handlers written as promises, answered through the one error mapping (status.ts) and logged
// the same way on every server: an unexpected failure (INTERNAL_ERROR) as an error, a typed
// refusal (a bad request, NOT_LEADER, NOT_PARTITION_OWNER...) at debug level only.
import type * as grpc from '@grpc/grpc-js';
import { asHeraldError } from '../errors';
import type { Logger } from '../logger';
import { toServiceError } from './status';

export type UnaryCallback<Res> = (
  err: grpc.ServiceError | Partial<grpc.StatusObject> | null,
  res?: Res,
) => void;

/** Logs a failed call and returns its status. */
export function failure(logger: Logger, method: string, err: unknown): Partial<grpc.StatusObject> {
  const e = asHeraldError(err);
  if (e.reason === 'INTERNAL_ERROR') logger.error(`${method} failed`, { err });
  else logger.debug(`${method} refused`, { reason: e.reason, message: e.message });
  return toServiceError(e);
}

/** Answers `callback` with what `work` resolves to, or with its failure's status. */
export function answer<Res>(
  logger: Logger,
  method: string,
  callback: UnaryCallback<Res>,
  work: () => Promise<Res> | Res,
): void {
  Promise.resolve()
    .then(work)
    .then(
      (res) => callback(null, res),
      (err: unknown) => callback(failure(logger, method, err)),
    );
}

/** A unary handler from a function of the request: unary(logger, 'GetRoutes', (req) => ...). */
export function unary<Req, Res>(
  logger: Logger,
  method: string,
  fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => answer(logger, method, callback, () => fn(call.request, call));
}
