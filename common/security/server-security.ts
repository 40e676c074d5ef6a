// A server's security settings (broker and meta-server alike) and what they assemble into:
// listener credentials, the credentials it calls other Herald servers with (its own
// certificate: mTLS), and the authentication/authorization interceptor.
import type * as grpc from '@grpc/grpc-js';
import { loadKubeConfig } from '../kube/config';
import type { Logger } from '../logger';
import { accessInterceptor } from '../grpc/access-interceptor';
import type { Refusal } from '../grpc/access-interceptor';
import { channelCredentials, serverCredentials } from '../grpc/credentials';
import type { TlsFiles } from '../grpc/credentials';
import type { AccessByPath } from './access-table';
import { AccessWatch } from './access-watch';
import { Authenticator, kubeTokenReviewer } from './authenticator';

export interface ServerSecurityOptions {
  /** TLS for the listener, and this server's certificate toward other Herald servers. */
  tls?: TlsFiles;
  /** Every call must carry a ServiceAccount token, a HeraldUser token or a client certificate. */
  authentication: boolean;
  /** Access rules are enforced, deny by default (needs authentication). */
  authorization: boolean;
  /** For TokenReviews and the rule watches; in a pod the ServiceAccount is used. */
  kubeconfig?: string;
  /** How long a TokenReview answer is reused: a deleted ServiceAccount's token works at most this long. */
  reviewCacheMs: number;
}

export const SECURITY_DEFAULTS = { authentication: false, authorization: false, reviewCacheMs: 10_000 };

/** Checks the settings; returns the problem, naming the field, or undefined. */
export function securityProblem(o: ServerSecurityOptions): string | undefined {
  if (typeof o.authentication !== 'boolean') return 'security.authentication must be true or false';
  if (typeof o.authorization !== 'boolean') return 'security.authorization must be true or false';
  if (o.authorization && !o.authentication) return 'security.authorization needs security.authentication';
  if (o.authentication && !o.tls)
    return 'security.authentication needs security.tls (tokens never travel in plain text)';
  if (o.tls && (!o.tls.caFile || !o.tls.certFile || !o.tls.keyFile))
    return 'security.tls needs caFile, certFile and keyFile';
  if (!Number.isInteger(o.reviewCacheMs) || o.reviewCacheMs < 0)
    return `security.reviewCacheMs must be an integer >= 0, got ${JSON.stringify(o.reviewCacheMs)}`;
  return undefined;
}

export interface ServerSecurity {
  credentials: grpc.ServerCredentials;
  /** For calls to other Herald servers (forwarding, leases). */
  peerCredentials: grpc.ChannelCredentials;
  interceptors: grpc.ServerInterceptor[];
  /** Tells `listener` of every refused call (for metrics). */
  onRefusal(listener: (refusal: Refusal) => void): void;
  stop(): Promise<void>;
}

export async function startServerSecurity(
  o: ServerSecurityOptions,
  table: AccessByPath,
  logger: Logger,
): Promise<ServerSecurity> {
  const credentials = serverCredentials(o.tls);
  const peerCredentials = channelCredentials(o.tls ? { tls: o.tls } : undefined);
  const listeners: ((refusal: Refusal) => void)[] = [];
  const onRefusal = (listener: (refusal: Refusal) => void) => void listeners.push(listener);
  if (!o.authentication)
    return { credentials, peerCredentials, interceptors: [], onRefusal, stop: () => Promise.resolve() };
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
  });
  const interceptor = accessInterceptor({
    authenticator,
    authorization: o.authorization ? { source, table } : undefined,
    onRefusal: (refusal) => {
      // Who and what, never the credential.
      logger.warn('call refused', {
        method: refusal.method,
        reason: refusal.reason,
        subject: refusal.subject,
        operation: refusal.access?.operation,
        resources: refusal.access?.resources.map((r) => `${r.kind}/${r.name}`).join(','),
      });
      for (const listener of listeners) listener(refusal);
    },
  });
  return { credentials, peerCredentials, interceptors: [interceptor], onRefusal, stop: () => source.stop() };
}
