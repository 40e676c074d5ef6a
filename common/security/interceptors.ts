// Authentication and authorization as interceptors on the shared server edge
// (common/grpc/interceptors.ts):
// - authentication admits a call once its caller is known (synchronously when the answer is
//   cached) and refuses it with UNAUTHENTICATED otherwise; it sets ctx.identity. Each message of
//   a stream is checked again, so a credential revoked or expired meanwhile ends the stream;
// - authorization asks the access table what each request needs (a unary request; every
//   message of a stream: a PublishStream's publishes, a Subscribe's start) and refuses with
//   PERMISSION_DENIED, naming the operation and resource;
// - when the access rules change, every running stream is checked again and one no longer
//   allowed is ended with PERMISSION_DENIED (a Subscribe whose rule was removed).
// Herald servers (by certificate) are trusted: they forward requests they checked themselves.
import { HeraldError } from '../errors';
import type { CallContext, Interceptor } from '../grpc/interceptors';
import { resourceLabel } from './access-rules';
import type { AccessRequest } from './access-rules';
import type { AccessByPath } from './access-table';
import type { AccessSource } from './access-watch';
import type { Authenticator, Principal } from './authenticator';

/** Always open: kubelet's gRPC probes carry no credentials. */
const OPEN_SERVICES = new Set(['grpc.health.v1.Health']);
/** Any authenticated caller: what the servers serve, not what they hold. */
const AUTHENTICATED_ONLY = new Set([
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
]);

export type RefusalReason =
  | 'CREDENTIALS_MISSING'
  | 'CREDENTIALS_EXPIRED'
  | 'CREDENTIALS_INVALID'
  | 'AUTHENTICATION_UNAVAILABLE'
  | 'PERMISSION_DENIED';

export interface Refusal {
  /** e.g. 'herald.v1.Broker/Publish'. */
  method: string;
  reason: RefusalReason;
  subject?: string;
  access?: AccessRequest;
  /** The caller's address (ip:port). */
  peer: string;
  /**
   * The refused request message, when the call had one: a unary or server-streaming call's, or
   * the stream message refused; undefined for a stream refused on its headers or ended later.
   */
  request?: unknown;
}

const SERVER_ATTRIBUTE = 'herald.dev/server';
const method = (ctx: CallContext) => `${ctx.service}/${ctx.method}`;
const isServer = (ctx: CallContext) => ctx.identity?.attributes?.[SERVER_ATTRIBUTE] === 'true';

function identify(ctx: CallContext, principal: Principal): void {
  ctx.identity = {
    name: principal.subject,
    method: principal.server ? 'server-certificate' : 'credential',
    ...(principal.server ? { attributes: { [SERVER_ATTRIBUTE]: 'true' } } : {}),
  };
}

export function authentication(authenticator: Authenticator, onRefusal: (r: Refusal) => void): Interceptor {
  /** `request`: the refused message (a stream's), else the call's own. */
  const refused = (ctx: CallContext, err: unknown, request: unknown = ctx.request): never => {
    const e =
      err instanceof HeraldError
        ? err
        : new HeraldError('CREDENTIALS_INVALID', 'the credential is not valid');
    onRefusal({
      method: method(ctx),
      reason: e.reason as RefusalReason,
      peer: ctx.peer,
      request,
    });
    throw e;
  };
  /** The caller's principal from the call's headers: cached answers synchronously. */
  const authenticate = (ctx: CallContext): Principal | Promise<Principal> => {
    const header = ctx.metadata.get('authorization')[0];
    const authorization = typeof header === 'string' ? header : undefined;
    // A token wins over a certificate: the certificate (built anew on each read) is read only without one.
    return authenticator.authenticate(
      authorization,
      authorization === undefined ? ctx.peerCertificateCn : undefined,
    );
  };
  const check = (ctx: CallContext, then: (p: Principal) => void, request?: unknown): void | Promise<void> => {
    let answer: Principal | Promise<Principal>;
    try {
      answer = authenticate(ctx);
    } catch (err) {
      return refused(ctx, err, request);
    }
    if (!(answer instanceof Promise)) return then(answer);
    return answer.then(then, (err: unknown) => refused(ctx, err, request));
  };
  return {
    name: 'authentication',
    admit(ctx) {
      if (OPEN_SERVICES.has(ctx.service)) return;
      return check(ctx, (p) => identify(ctx, p));
    },
    // A stream's credential is checked again with each of its messages (from the cache, so
    // synchronously while the answer lasts): a revoked or expired credential ends a running
    // PublishStream at its next message, as it would refuse the next unary call.
    message(ctx, message) {
      if (OPEN_SERVICES.has(ctx.service) || ctx.identity?.method === 'server-certificate') return;
      return check(ctx, () => undefined, message);
    },
  };
}

const denial = (subject: string, access: AccessRequest) => {
  const resource = access.resources.map(resourceLabel).join(',');
  return new HeraldError('PERMISSION_DENIED', `${subject} may not ${access.operation} ${resource}`, {
    operation: access.operation,
    resource,
    subject,
  });
};

/**
 * Calls of `methods` ("herald.v1.Meta/AcquireBrokerLeases") are for Herald servers only (a
 * certificate with a `herald:server:` CN): anyone else gets PERMISSION_DENIED, whatever the
 * access rules say. Needs `authentication` before it in the chain.
 */
export function serversOnly(methods: ReadonlySet<string>, onRefusal: (r: Refusal) => void): Interceptor {
  return {
    name: 'servers-only',
    admit(ctx) {
      if (!methods.has(method(ctx)) || isServer(ctx)) return;
      const subject = ctx.identity?.name ?? '';
      onRefusal({
        method: method(ctx),
        reason: 'PERMISSION_DENIED',
        subject,
        peer: ctx.peer,
        request: ctx.request,
      });
      throw new HeraldError('PERMISSION_DENIED', `${method(ctx)} is for Herald servers only`, {
        resource: method(ctx),
        subject,
      });
    },
  };
}

/** Needs `authentication` before it in the chain. */
export function authorization(
  source: AccessSource,
  table: AccessByPath,
  onRefusal: (r: Refusal) => void,
): Interceptor {
  /** Running streams and what they were allowed, checked again on every change of the rules. */
  const live = new Map<CallContext, AccessRequest[]>();
  const allowed = (subject: string, access: AccessRequest) => source.current().rules.allows(subject, access);
  source.onChange(() => {
    for (const [ctx, granted] of live) {
      const subject = ctx.identity?.name ?? '';
      const denied = granted.find((a) => !allowed(subject, a));
      if (!denied) continue;
      live.delete(ctx);
      onRefusal({
        method: method(ctx),
        reason: 'PERMISSION_DENIED',
        subject,
        access: denied,
        peer: ctx.peer,
      });
      ctx.end(denial(subject, denied));
    }
  });
  const check = (ctx: CallContext, request: unknown) => {
    if (isServer(ctx) || OPEN_SERVICES.has(ctx.service) || AUTHENTICATED_ONLY.has(ctx.service)) return;
    const subject = ctx.identity?.name ?? '';
    const of = table.get(`/${method(ctx)}`);
    if (!of) {
      // An RPC missing from the table is open to Herald servers only.
      onRefusal({ method: method(ctx), reason: 'PERMISSION_DENIED', subject, peer: ctx.peer, request });
      throw new HeraldError('PERMISSION_DENIED', `${method(ctx)} is not open to clients`, {
        resource: method(ctx),
        subject,
      });
    }
    const access = of(request as never);
    if (access === undefined) return;
    if (!allowed(subject, access)) {
      onRefusal({
        method: method(ctx),
        reason: 'PERMISSION_DENIED',
        subject,
        access,
        peer: ctx.peer,
        request,
      });
      throw denial(subject, access);
    }
    if (ctx.kind !== 'unary') live.set(ctx, [...(live.get(ctx) ?? []), access]);
  };
  return {
    name: 'authorization',
    admit(ctx) {
      // Unary and server-streaming calls carry their request here; streams check each message.
      if (ctx.kind === 'unary' || ctx.kind === 'server-stream') check(ctx, ctx.request);
    },
    message: check,
    ended(ctx) {
      live.delete(ctx);
    },
  };
}
