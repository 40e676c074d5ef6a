// HeraldUser -> its credential in a Secret (owned by the user, so deleting the user deletes
// it) and status: the Secret's name, the token's hash (type token: the only form servers keep)
// or the certificate's expiry (type tls: signed by the operator's CA, renewed at two thirds of
// its lifetime), and Ready. Rotating a token: delete the Secret; a new token is made and the
// old one stops working as soon as brokers see the new hash.
import type { V1Secret } from '@kubernetes/client-node';
import { heraldUserSubject } from '../../common/security/access-rules';
import { generateToken, hashToken } from '../../common/security/tokens';
import { HeraldUserResource } from '../../common/gen/crds';
import type { HeraldUserStatus } from '../../common/gen/crds';
import { issue, validityOf } from '../ca/ca';
import { currentCertificate, decodeSecret, renewalDelayMs } from '../ca/certificate-secret';
import { patchStatus, readIfExists } from '../kube/client';
import { setCondition } from '../reconcile/conditions';
import { sameJson } from '../reconcile/diff';
import type { ControllerContext } from './context';
import { isPaused, splitKey } from './context';
import type { ReconcileResult } from './controller';

/** How long a user's client certificate lives. */
export const USER_CERT_DAYS = 90;

const SECRET_PREFIX = 'herald-user-';

export const userSecretName = (user: string) => `${SECRET_PREFIX}${user}`;

/** The HeraldUser key ("ns/name") a credential Secret's key belongs to, if it is one. */
export function userOfSecret(secretKey: string): string | undefined {
  const { namespace, name } = splitKey(secretKey);
  return name.startsWith(SECRET_PREFIX) ? `${namespace}/${name.slice(SECRET_PREFIX.length)}` : undefined;
}

export async function reconcileHeraldUser(
  ctx: ControllerContext,
  key: string,
): Promise<ReconcileResult | undefined> {
  const user = ctx.caches.users.get(key);
  if (!user || user.metadata?.deletionTimestamp || isPaused(user)) return undefined;
  const { namespace, name } = splitKey(key);
  const secretName = userSecretName(name);
  const secret = await readIfExists(() => ctx.core.readNamespacedSecret({ namespace, name: secretName }));
  const ca = await ctx.ca.get();
  const owner = {
    apiVersion: `${HeraldUserResource.group}/${HeraldUserResource.version}`,
    kind: HeraldUserResource.kind,
    name,
    uid: user.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
  const write = async (type: string, data: Record<string, string>) => {
    const body: V1Secret = {
      metadata: {
        name: secretName,
        namespace,
        ownerReferences: [owner],
        labels: { 'herald.dev/user': name },
      },
      type,
      stringData: data,
    };
    if (secret) await ctx.core.replaceNamespacedSecret({ namespace, name: secretName, body });
    else await ctx.core.createNamespacedSecret({ namespace, body });
  };

  const status: HeraldUserStatus = { observedGeneration: user.metadata?.generation ?? 0, secret: secretName };
  let requeueAfterMs: number | undefined;
  let message: string;
  if (user.spec.authentication.type === 'token') {
    let token = secret ? decodeSecret(secret, 'token') : undefined;
    if (!token) {
      token = generateToken();
      await write('Opaque', { token, 'ca.crt': ca.cert });
      await ctx.events.record(user, 'Normal', 'TokenIssued', `a new token is in Secret ${secretName}`);
    }
    status.tokenHash = hashToken(token);
    message = `token in Secret ${secretName}`;
  } else {
    let validity = currentCertificate(secret, ca);
    if (!validity) {
      const pair = await issue(ca, {
        commonName: heraldUserSubject(namespace, name),
        server: false,
        days: USER_CERT_DAYS,
      });
      await write('kubernetes.io/tls', { 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': ca.cert });
      validity = validityOf(pair.cert);
      await ctx.events.record(
        user,
        'Normal',
        'CertificateIssued',
        `a client certificate is in Secret ${secretName}`,
      );
    }
    status.certificateNotAfter = validity.notAfter.toISOString().replace(/\.\d+Z$/, 'Z');
    requeueAfterMs = renewalDelayMs(validity);
    message = `client certificate in Secret ${secretName} until ${status.certificateNotAfter}`;
  }
  status.conditions = setCondition(
    user.status?.conditions,
    { type: 'Ready', status: 'True', reason: 'CredentialIssued', message },
    status.observedGeneration ?? 0,
    new Date(),
  );
  const old = user.status ?? {};
  if (!sameJson(status, old)) await patchStatus(ctx.custom, HeraldUserResource, namespace, name, status);
  return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
}
