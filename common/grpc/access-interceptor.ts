// Authentication and authorization as one server interceptor on the shared gRPC edge:
// - authentication holds a call's metadata until the caller is known (the handler starts only
//   then) and refuses it with UNAUTHENTICATED otherwise;
// - authorization asks the access table what each request message needs (a stream's every
//   message: a PublishStream's publishes, a Subscribe's start) and refuses with
//   PERMISSION_DENIED, naming the operation and resource;
// - when the access rules change, every running call is checked again and one no longer
//   allowed is ended with PERMISSION_DENIED (a Subscribe whose rule was removed).
// Herald servers (by certificate) are trusted: they forward requests they checked themselves.
import * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../errors';
import { toServiceError } from './status';
import { resourceLabel } from '../security/access-rules';
import type { AccessRequest } from '../security/access-rules';
import type { AccessByPath } from '../security/access-table';
import type { AccessSource } from '../security/access-watch';
import type { Authenticator, Principal } from '../security/authenticator';

/** Always open: kubelet's gRPC probes carry no credentials. */
const OPEN_SERVICES = ['/grpc.health.v1.Health/'];
/** Any authenticated caller: what the servers serve, not what they hold. */
const AUTHENTICATED_ONLY = [
  '/grpc.reflection.v1.ServerReflection/',
  '/grpc.reflection.v1alpha.ServerReflection/',
];

export interface Refusal {
  /** The RPC's path. */
  method: string;
  reason:
    | 'CREDENTIALS_MISSING'
    | 'CREDENTIALS_EXPIRED'
    | 'CREDENTIALS_INVALID'
    | 'AUTHENTICATION_UNAVAILABLE'
    | 'PERMISSION_DENIED';
  subject?: string;
  access?: AccessRequest;
}

export interface AccessControlOptions {
  authenticator: Authenticator;
  /** Authorization; without it every authenticated caller may do anything. */
  authorization?: { source: AccessSource; table: AccessByPath };
  /** Counted in metrics and logged (never with the credential). */
  onRefusal(refusal: Refusal): void;
}

interface LiveCall {
  principal: Principal;
  method: string;
  granted: AccessRequest[];
  end(err: HeraldError): void;
}

const denial = (subject: string, access: AccessRequest) =>
  new HeraldError(
    'PERMISSION_DENIED',
    `${subject} may not ${access.operation} ${access.resources.map(resourceLabel).join(', ')}`,
    { operation: access.operation, resource: access.resources.map(resourceLabel).join(','), subject },
  );

export function accessInterceptor(options: AccessControlOptions): grpc.ServerInterceptor {
  const live = new Set<LiveCall>();
  const authz = options.authorization;
  const firstDenied = (call: Pick<LiveCall, 'principal' | 'granted'>) =>
    call.granted.find((a) => !authz!.source.current().rules.allows(call.principal.subject, a));
  authz?.source.onChange(() => {
    for (const call of live) {
      const denied = firstDenied(call);
      if (!denied) continue;
      options.onRefusal({
        method: call.method,
        reason: 'PERMISSION_DENIED',
        subject: call.principal.subject,
        access: denied,
      });
      call.end(denial(call.principal.subject, denied));
    }
  });

  return (descriptor, call) => {
    const method = descriptor.path;
    if (OPEN_SERVICES.some((p) => method.startsWith(p))) return new grpc.ServerInterceptingCall(call);
    const checkMessages = authz !== undefined && !AUTHENTICATED_ONLY.some((p) => method.startsWith(p));
    let state: LiveCall | undefined;
    let ended = false;
    const end = (err: HeraldError) => {
      if (ended) return;
      ended = true;
      if (state) live.delete(state);
      const status = toServiceError(err);
      intercepting.sendStatus({ code: status.code!, details: status.details!, metadata: status.metadata! });
    };
    const refuse = (err: HeraldError, subject?: string, access?: AccessRequest) => {
      options.onRefusal({ method, reason: err.reason as Refusal['reason'], subject, access });
      end(err);
    };
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const header = metadata.get('authorization')[0];
        const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
        options.authenticator
          .authenticate(
            typeof header === 'string' ? header : undefined,
            typeof cn === 'string' ? cn : undefined,
          )
          .then(
            (principal) => {
              if (ended) return;
              state = { principal, method, granted: [], end };
              if (checkMessages && !principal.server) live.add(state);
              next(metadata);
            },
            (err: unknown) =>
              refuse(
                err instanceof HeraldError
                  ? err
                  : new HeraldError('CREDENTIALS_INVALID', 'the credential is not valid'),
              ),
          );
      })
      .withOnReceiveMessage((message, next) => {
        if (ended || !state) return;
        if (!checkMessages || state.principal.server) return next(message);
        const { subject } = state.principal;
        const of = authz.table.get(method);
        // An RPC missing from the table is open to Herald servers only.
        if (!of)
          return refuse(
            new HeraldError('PERMISSION_DENIED', `${method} is not open to clients`, {
              resource: method,
              subject,
            }),
            subject,
          );
        const access = of(message as never);
        if (access === undefined) return next(message);
        if (!authz.source.current().rules.allows(subject, access))
          return refuse(denial(subject, access), subject, access);
        state.granted.push(access);
        next(message);
      })
      .withOnCancel(() => {
        ended = true;
        if (state) live.delete(state);
      })
      .build();
    const responder = new grpc.ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        ended = true;
        if (state) live.delete(state);
        next(status);
      })
      .build();
    const intercepting = new grpc.ServerInterceptingCall(call, responder);
    return intercepting;
  };
}
