// Who is calling: a bearer token (a Kubernetes ServiceAccount token, checked with the
// TokenReview API for the audience "herald"; or a HeraldUser token, checked against the hashes
// of the watched HeraldUsers) or a client certificate verified by the TLS handshake (a
// HeraldUser with authentication tls, or a Herald server). Answers are cached for a bounded
// time, so a deleted ServiceAccount's token stops working within `reviewCacheMs`. A token in use
// is reviewed again in the background before its answer ends (in the second half of the
// period), so that calls do not wait on the apiserver at every expiry; the new answer counts
// from when its review was sent, so the bound holds.
//
// Nothing of a credential is logged or put in an error: refusals carry only a reason.
import { createHash } from 'node:crypto';
import { AuthenticationV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { HeraldError } from '../errors';
import type { AccessSource } from './access-watch';
import { hashToken, isHeraldToken } from './tokens';

/** The audience a ServiceAccount token for Herald must carry (`kubectl create token --audience herald`). */
export const HERALD_AUDIENCE = 'herald';

/** CNs of Herald's own servers' certificates start with this (issued by the operator's CA). */
export const SERVER_SUBJECT_PREFIX = 'herald:server:';

/** The subject (certificate CN) of the brokers of pool `pool` in `namespace`. */
export function brokerServerSubject(namespace: string, pool: string): string {
  return `${SERVER_SUBJECT_PREFIX}broker:${namespace}:${pool}`;
}

export interface Principal {
  subject: string;
  /** Brokers and the meta-server (by certificate): trusted to forward callers' requests. */
  server: boolean;
}

export interface TokenReview {
  authenticated: boolean;
  username?: string;
  audiences?: string[];
}

/** Reviews a token with the apiserver; throws when the apiserver cannot be asked. */
export type TokenReviewer = (token: string) => Promise<TokenReview>;

export function kubeTokenReviewer(kc: KubeConfig): TokenReviewer {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return async (token) => {
    const review = await api.createTokenReview({ body: { spec: { token, audiences: [HERALD_AUDIENCE] } } });
    const status = review.status ?? {};
    return {
      authenticated: status.authenticated === true,
      username: status.user?.username,
      audiences: status.audiences,
    };
  };
}

export interface AuthenticatorOptions {
  source: AccessSource;
  review: TokenReviewer;
  /** How long a TokenReview answer (yes or no) is reused. */
  reviewCacheMs: number;
  /** At most this many answers are cached (oldest dropped first). */
  maxCachedReviews: number;
  /** Told how long each step took (for the metrics, herald_auth_seconds). */
  observe?: (step: AuthStep, seconds: number) => void;
  now?: () => number;
}

/**
 * `token_review`: one TokenReview round trip (in the background or not); `wait`: a call that
 * could not be answered from the cache waited this long for its caller to be known.
 */
export type AuthStep = 'token_review' | 'wait';

interface CachedReview {
  subject?: string;
  until: number;
  /** The token's own expiry (its exp claim), which no answer outlives. */
  exp: number | undefined;
  /**
   * From then on, the next call starts a review in the background (once per answer); unset for
   * refusals and for answers that end with the token anyway.
   */
  refreshAt?: number;
}

/** The expiry (ms) a JWT claims, read without verifying it: only to word a refusal and bound the cache. */
function claimedExpiryMs(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The part of `reviewCacheMs` before an answer's end in which a call starts its renewal: half,
 * so that an apiserver answering within half the period (5 s of 10 s; a loaded test machine took
 * 0.25-10 s) never makes a call wait, for one TokenReview per half period per token in use.
 */
const REFRESH_AHEAD = 0.5;

const invalid = () => new HeraldError('CREDENTIALS_INVALID', 'the credential is not valid');

function subjectOf(review: CachedReview): string {
  if (review.subject === undefined) throw invalid();
  return review.subject;
}

export class Authenticator {
  private readonly reviews = new Map<string, CachedReview>();
  /** Reviews under way, by the same key: one TokenReview per token at a time. */
  private readonly reviewing = new Map<string, Promise<CachedReview>>();
  private readonly now: () => number;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The caller of a call with this authorization header value and this verified peer
   * certificate CN (undefined without one); synchronous when the answer is known (a HeraldUser
   * token or certificate, a cached review). Throws or rejects with CREDENTIALS_MISSING,
   * CREDENTIALS_EXPIRED, CREDENTIALS_INVALID, or AUTHENTICATION_UNAVAILABLE.
   */
  authenticate(
    authorization: string | undefined,
    certificateCn: string | undefined,
  ): Principal | Promise<Principal> {
    if (authorization !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) throw invalid();
      const subject = this.tokenSubject(match[1]);
      return typeof subject === 'string'
        ? { subject, server: false }
        : subject.then((s) => ({ subject: s, server: false }));
    }
    if (certificateCn !== undefined) {
      if (certificateCn.startsWith(SERVER_SUBJECT_PREFIX)) return { subject: certificateCn, server: true };
      // A HeraldUser's certificate counts only while the user exists with authentication tls.
      if (this.options.source.current().tlsUsers.has(certificateCn))
        return { subject: certificateCn, server: false };
      throw invalid();
    }
    throw new HeraldError(
      'CREDENTIALS_MISSING',
      'this server requires a bearer token or a client certificate',
    );
  }

  private tokenSubject(token: string): string | Promise<string> {
    if (isHeraldToken(token)) {
      const subject = this.options.source.current().userByTokenHash.get(hashToken(token));
      if (!subject) throw invalid();
      return subject;
    }
    const now = this.now();
    const key = createHash('sha256').update(token).digest('hex');
    const cached = this.reviews.get(key);
    // A cached answer ends by the token's expiry at the latest, so a hit is never expired.
    if (cached && cached.until > now) {
      if (cached.refreshAt !== undefined && now >= cached.refreshAt) {
        // One try per answer: if it fails, this answer still ends when it would have.
        cached.refreshAt = undefined;
        this.reviewOnce(key, token, cached.exp).catch(() => undefined);
      }
      return subjectOf(cached);
    }
    const exp = claimedExpiryMs(token);
    if (exp !== undefined && exp <= now)
      throw new HeraldError('CREDENTIALS_EXPIRED', 'the token has expired; request a fresh one');
    const arrived = performance.now();
    return this.reviewOnce(key, token, exp)
      .finally(() => this.options.observe?.('wait', (performance.now() - arrived) / 1000))
      .then(subjectOf);
  }

  /** Reviews `token` and caches the answer; calls that arrive meanwhile share this one review. */
  private reviewOnce(key: string, token: string, exp: number | undefined): Promise<CachedReview> {
    const under = this.reviewing.get(key);
    if (under) return under;
    // The answer counts from when the review was sent.
    const sent = this.now();
    const reviewing = this.review(token)
      .then((subject) => {
        const cacheMs = this.options.reviewCacheMs;
        const until = Math.min(sent + cacheMs, exp ?? Infinity);
        const entry: CachedReview = { subject, until, exp };
        if (subject !== undefined && until < (exp ?? Infinity))
          entry.refreshAt = until - cacheMs * REFRESH_AHEAD;
        this.reviews.delete(key);
        this.reviews.set(key, entry);
        while (this.reviews.size > this.options.maxCachedReviews)
          this.reviews.delete(this.reviews.keys().next().value!);
        return entry;
      })
      .finally(() => this.reviewing.delete(key));
    this.reviewing.set(key, reviewing);
    return reviewing;
  }

  private async review(token: string): Promise<string | undefined> {
    let answer: TokenReview;
    const started = performance.now();
    try {
      answer = await this.options.review(token);
    } catch (err) {
      // Only the HTTP status is kept: a client library's error may quote the request, i.e. the token.
      const status = (err as { code?: unknown }).code;
      throw new HeraldError('AUTHENTICATION_UNAVAILABLE', 'the token could not be reviewed; try again', {
        ...(typeof status === 'number' ? { status: String(status) } : {}),
      });
    } finally {
      this.options.observe?.('token_review', (performance.now() - started) / 1000);
    }
    const forHerald = answer.audiences === undefined || answer.audiences.includes(HERALD_AUDIENCE);
    return answer.authenticated && forHerald && answer.username ? answer.username : undefined;
  }
}
