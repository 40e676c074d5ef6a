// A gRPC unary method called in process by another transport (the HTTP gateway): the request
// goes through the interceptor chain (interceptors.ts: authentication, access rules...) and then
// to the very handler the gRPC server runs, and comes back as the response message or the
// HeraldError a gRPC caller would have decoded from the status. Request and response pass
// through the method's own (de)serializers, so the handler sees exactly what grpc-js would
// hand it (defaults filled in, oneofs named) and the caller gets what a gRPC client would.
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { HeraldError, fromServiceError } from '../errors';
import { interceptUnary } from './interceptors';
import type { Interceptor } from './interceptors';

export interface InProcessCaller {
  metadata: grpc.Metadata;
  /** The caller's address, as grpc-js's getPeer() gives it (host:port). */
  peer: string;
  /** The CN of a client certificate the TLS handshake verified. */
  peerCertificateCn: string | undefined;
  /** Aborted when the caller went away: the handler sees the call cancelled. */
  cancelled: AbortSignal;
}

/** MethodDefinition<input request, input response, output request, output response>. */
export async function callUnary<ReqIn, ResIn, Req, Res>(
  chain: readonly Interceptor[],
  method: MethodDefinition<ReqIn, ResIn, Req, Res>,
  handler: grpc.handleUnaryCall<Req, ResIn>,
  request: ReqIn,
  caller: InProcessCaller,
): Promise<Res> {
  // '/herald.v1.Broker/Publish'
  const slash = method.path.lastIndexOf('/');
  const decoded = method.requestDeserialize(method.requestSerialize(request));
  return interceptUnary(
    chain,
    {
      service: method.path.slice(1, slash),
      method: method.path.slice(slash + 1),
      request: decoded,
      metadata: caller.metadata,
      peer: caller.peer,
      peerCertificateCn: caller.peerCertificateCn,
    },
    (stopped) => invoke(method, handler, decoded, caller, AbortSignal.any([caller.cancelled, stopped])),
  );
}

function invoke<ReqIn, ResIn, Req, Res>(
  method: MethodDefinition<ReqIn, ResIn, Req, Res>,
  handler: grpc.handleUnaryCall<Req, ResIn>,
  request: Req,
  caller: InProcessCaller,
  cancelled: AbortSignal,
): Promise<Res> {
  // The part of grpc.ServerUnaryCall that handlers use: request, metadata, getPeer and the
  // 'cancelled' event.
  const call = Object.assign(new EventEmitter(), {
    request,
    metadata: caller.metadata,
    get cancelled() {
      return cancelled.aborted;
    },
    getPeer: () => caller.peer,
    getPath: () => method.path,
    getDeadline: () => Infinity,
    sendMetadata: () => undefined,
  });
  cancelled.addEventListener('abort', () => call.emit('cancelled'), { once: true });
  return new Promise<Res>((resolve, reject) => {
    handler(call as unknown as grpc.ServerUnaryCall<Req, ResIn>, (err, res) => {
      if (err) return reject(statusError(err));
      resolve(method.responseDeserialize(method.responseSerialize(res!)));
    });
  });
}

/** A handler's failure status as the HeraldError in its details. */
function statusError(err: grpc.ServiceError | Partial<grpc.StatusObject>): HeraldError {
  const typed = fromServiceError(err as grpc.ServiceError);
  if (typed) return typed;
  return new HeraldError('INTERNAL_ERROR', err.details ?? 'the handler failed without a reason');
}
