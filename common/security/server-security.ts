// A server's security settings (broker and meta-server alike) and what they assemble into:
// listener credentials, the credentials it calls other Herald servers with (its own
// certificate: mTLS), and the authentication/authorization interceptor.
import type * as grpc from '@grpc/grpc-js';
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { metricOf } from '../metric-of';
import type { Logger } from '../logger';
import { authentication, authorization, serversOnly } from './interceptors';
import type { Refusal } from './interceptors';
import { DEFAULT_TLS_REFRESH_MS, channelCredentials, serverCredentials } from '../grpc/credentials';
import { OptionsError, bool, field, int, nonEmpty, resolve } from '../options';
import type { Table } from '../options';
import type { Interceptor } from '../grpc/interceptors';
import type { TlsFiles } from '../grpc/credentials';
import type { AccessByPath } from './access-table';
import type { AccessSource } from './access-watch';
import type { Authenticator, AuthStep } from './authenticator';

export interface ServerSecurityOptions {
  /** TLS for the listener, and this server's certificate toward other Herald servers. */
  tls: Required<TlsFiles> | undefined;
  /**
   * /metrics and /readyz over HTTPS with the listener's certificate (needs tls). No client
   * certificate or token is asked for: the endpoint serves numbers, never messages.
   */
  metricsTls: boolean;
  /** Every call must carry a ServiceAccount token, a HeraldUser token or a client certificate. */
  authentication: boolean;
  /** Access rules are enforced, deny by default (needs authentication). */
  authorization: boolean;
  /** For TokenReviews and the rule watches; in a pod the ServiceAccount is used. */
  kubeconfig: string | undefined;
  /** How long a TokenReview answer is reused: a deleted ServiceAccount's token works at most this long. */
  reviewCacheMs: number;
}

export type ServerSecurityInput = Partial<Omit<ServerSecurityOptions, 'tls'>> & { tls?: Partial<TlsFiles> };

const SECURITY: Table<
  Pick<ServerSecurityOptions, 'metricsTls' | 'authentication' | 'authorization' | 'reviewCacheMs'>
> = {
  metricsTls: field(false, bool),
  authentication: field(false, bool),
  authorization: field(false, bool),
  reviewCacheMs: field(10_000, int(0)),
};

const TLS: Table<Required<TlsFiles>> = {
  caFile: field('', nonEmpty),
  certFile: field('', nonEmpty),
  keyFile: field('', nonEmpty),
  refreshMs: field(DEFAULT_TLS_REFRESH_MS, int(100)),
};

/** The `security` section of a server's options (`prefix` names it in errors). */
export function resolveSecurity(
  prefix: string,
  input: ServerSecurityInput | undefined,
): ServerSecurityOptions {
  const s = resolve(prefix, SECURITY, input);
  const tls =
    input?.tls === undefined ? undefined : resolve<Required<TlsFiles>>(`${prefix}.tls`, TLS, input.tls);
  if (s.metricsTls && !tls) throw new OptionsError(`${prefix}.metricsTls`, `needs ${prefix}.tls`);
  if (s.authorization && !s.authentication)
    throw new OptionsError(`${prefix}.authorization`, `needs ${prefix}.authentication`);
  if (s.authentication && !tls)
    throw new OptionsError(
      `${prefix}.authentication`,
      `needs ${prefix}.tls (tokens never travel in plain text)`,
    );
  return { ...s, tls, kubeconfig: input?.kubeconfig };
}

/** The TLS files of the metrics listener: the server's own, when metricsTls is set. */
export function metricsTlsOf(o: ServerSecurityOptions): Required<TlsFiles> | undefined {
  return o.metricsTls ? o.tls : undefined;
}

export interface ServerSecurity {
  credentials: () => grpc.ServerCredentials;
  /** For calls to other Herald servers (forwarding, leases). */
  peerCredentials: () => grpc.ChannelCredentials;
  interceptors: Interceptor[];
  /** Tells `listener` of every refused call (for metrics). */
  onRefusal(listener: (refusal: Refusal) => void): void;
  /** Tells `listener` how long each authentication step took (for metrics). */
  onAuthStep(listener: (step: AuthStep, seconds: number) => void): void;
  /**
   * With authentication on: the same authenticator and access rules as the interceptors, for
   * another edge of the same server (the operator's console API); `authorize` is false when
   * access rules are not enforced.
   */
  checks?: { authenticator: Authenticator; access: AccessSource; authorize: boolean };
  stop(): Promise<void>;
}

/**
 * `table`: what each client RPC needs (authorization); `serverMethods`: RPCs only Herald servers
 * may call ("herald.v1.Meta/AcquireBrokerLeases"), enforced whenever authentication is on.
 */
export async function startServerSecurity(
  o: ServerSecurityOptions,
  table: AccessByPath,
  logger: Logger,
  serverMethods: ReadonlySet<string> = new Set(),
): Promise<ServerSecurity> {
  const credentials = () => serverCredentials(o.tls);
  const peerCredentials = () => channelCredentials(o.tls ? { tls: o.tls } : undefined);
  const listeners: ((refusal: Refusal) => void)[] = [];
  const onRefusal = (listener: (refusal: Refusal) => void) => void listeners.push(listener);
  const stepListeners: ((step: AuthStep, seconds: number) => void)[] = [];
  const onAuthStep = (listener: (step: AuthStep, seconds: number) => void) =>
    void stepListeners.push(listener);
  if (!o.authentication)
    return {
      credentials,
      peerCredentials,
      interceptors: [],
      onRefusal,
      onAuthStep,
      stop: () => Promise.resolve(),
    };
  // Loaded only with authentication: @kubernetes/client-node costs a server ~27 MiB of heap and
  // ~65 MiB of RSS, which a broker without TokenReviews and access rules never uses.
  const [{ loadKubeConfig }, { AccessWatch }, { Authenticator, kubeTokenReviewer }] = await Promise.all([
    import('../kube/config'),
    import('./access-watch'),
    import('./authenticator'),
  ]);
  const kc = loadKubeConfig(o.kubeconfig);
  const source = new AccessWatch({
    kc,
    logger: logger.namespace('access'),
    relistMs: 300_000,
    watchdogMs: 60_000,
  });
  await source.start(30_000);
  const authenticator = new Authenticator({
    source,
    review: kubeTokenReviewer(kc),
    reviewCacheMs: o.reviewCacheMs,
    maxCachedReviews: 10_000,
    observe: (step, seconds) => {
      for (const listener of stepListeners) listener(step, seconds);
    },
  });
  const refused = (refusal: Refusal) => {
    // Who and what, never the credential.
    logger.warn('call refused', {
      method: refusal.method,
      reason: refusal.reason,
      subject: refusal.subject,
      operation: refusal.access?.operation,
      resources: refusal.access?.resources.map((r) => `${r.kind}/${r.name}`).join(','),
    });
    for (const listener of listeners) listener(refusal);
  };
  const interceptors = [
    authentication(authenticator, refused),
    ...(serverMethods.size > 0 ? [serversOnly(serverMethods, refused)] : []),
    ...(o.authorization ? [authorization(source, table, refused)] : []),
  ];
  return {
    credentials,
    peerCredentials,
    interceptors,
    onRefusal,
    onAuthStep,
    checks: { authenticator, access: source, authorize: o.authorization },
    stop: () => source.stop(),
  };
}

const REFUSALS = 'herald_access_refusals_total';
const AUTH_SECONDS = 'herald_auth_seconds';

/**
 * The server's refused calls and authentication steps in `registry` (shared by servers on one
 * registry).
 */
export function securityMetrics(security: ServerSecurity, registry: Registry): void {
  const refusals = metricOf(
    registry,
    REFUSALS,
    () =>
      new Counter({
        name: REFUSALS,
        help: 'Calls refused by authentication (UNAUTHENTICATED reasons) or authorization (PERMISSION_DENIED)',
        labelNames: ['reason', 'operation'] as const,
        registers: [registry],
      }),
  );
  security.onRefusal((r) => refusals.inc({ reason: r.reason, operation: r.access?.operation ?? '' }));
  const steps = metricOf(
    registry,
    AUTH_SECONDS,
    () =>
      new Histogram({
        name: AUTH_SECONDS,
        help: 'Authentication steps: token_review, a TokenReview round trip (also in the background); wait, a call that waited for its caller to be known (not answered from the cache)',
        labelNames: ['step'] as const,
        buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
        registers: [registry],
      }),
  );
  security.onAuthStep((step, seconds) => steps.observe({ step }, seconds));
}
