// HeraldUser tokens: 256 random bits, shown once to the user (in a Secret), and kept by
// servers only as a SHA-256 hash. A hash of a 256-bit random value cannot be inverted or
// guessed, so the hash may sit in the HeraldUser's status where brokers read it.
import { createHash, randomBytes } from 'node:crypto';

/** Tokens start with this, so a token that leaks is recognisable (secret scanners, greps). */
export const TOKEN_PREFIX = 'hrld_';

/** A fresh token. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form of a token: "sha256:<hex>". */
export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** Whether a token is a HeraldUser token (else it is taken for a Kubernetes token). */
export const isHeraldToken = (token: string) => token.startsWith(TOKEN_PREFIX);
