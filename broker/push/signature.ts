// The Herald-Signature header of a push request (docs/push.md): the HMAC-SHA256, keyed with
// the group's signing key, of "<t>." followed by the exact body bytes, with t the signing time
// in Unix milliseconds and kid the key's id. Pure.
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'Herald-Signature';

export function signatureHeader(key: Buffer, keyId: string, body: Buffer, t: number): string {
  const mac = createHmac('sha256', key).update(`${t}.`).update(body).digest('hex');
  return `t=${t},kid=${keyId},v1=${mac}`;
}
