// A certificate kept in a Secret (tls.crt, tls.key, ca.crt), as HeraldUsers and BrokerPools
// have: whether the one there is still good, and when to look again.
import type { V1Secret } from '@kubernetes/client-node';
import { renewAt, validityOf } from './ca';
import type { KeyPair, Validity } from './ca';

/** Reconciles are level-based and the watches relist: a far renewal needs no timer that long. */
const MAX_REQUEUE_MS = 3_600_000;

export const decodeSecret = (s: V1Secret, key: string) => {
  const v = s.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
};

/**
 * The validity of the Secret's certificate while it needs no renewal: issued by `ca` (its
 * ca.crt is the CA's) and not yet two thirds through its life. Undefined: issue a new one.
 */
export function currentCertificate(
  secret: V1Secret | undefined,
  ca: KeyPair,
  now = Date.now(),
): Validity | undefined {
  const cert = secret ? decodeSecret(secret, 'tls.crt') : undefined;
  if (!cert || !secret || decodeSecret(secret, 'ca.crt') !== ca.cert || !decodeSecret(secret, 'tls.key'))
    return undefined;
  const validity = validityOf(cert);
  return renewAt(validity).getTime() > now ? validity : undefined;
}

/** When to reconcile again for the renewal of a certificate valid for `validity`. */
export function renewalDelayMs(validity: Validity, now = Date.now()): number {
  return Math.min(MAX_REQUEUE_MS, Math.max(1000, renewAt(validity).getTime() - now));
}
