import type { HeraldError } from '../../../../common/errors';
import { Authenticator } from '../../../../common/security/authenticator';
import type { TokenReview } from '../../../../common/security/authenticator';
import { snapshotOf } from '../../../../common/security/access-watch';
import type { AccessSource } from '../../../../common/security/access-watch';
import { generateToken, hashToken } from '../../../../common/security/tokens';

const jwt = (claims: object) =>
  ['{"alg":"RS256"}', JSON.stringify(claims)].map((p) => Buffer.from(p).toString('base64url')).join('.') +
  '.sig';

const userToken = generateToken();
const source: AccessSource = {
  current: () =>
    snapshotOf(
      [],
      [
        {
          metadata: { namespace: 'p', name: 'acme' },
          spec: { authentication: { type: 'token' } },
          status: { tokenHash: hashToken(userToken) },
        },
        { metadata: { namespace: 'p', name: 'device' }, spec: { authentication: { type: 'tls' } } },
      ],
    ),
  onChange: () => undefined,
};

function setup(answer: (token: string) => TokenReview | Error) {
  let now = 1_000_000;
  const reviews: string[] = [];
  const auth = new Authenticator({
    source,
    review: (token) => {
      reviews.push(token);
      const a = answer(token);
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
    reviewCacheMs: 10_000,
    maxCachedReviews: 2,
    now: () => now,
  });
  return { auth, reviews, advance: (ms: number) => (now += ms), now: () => now };
}

/** authenticate as a promise: it throws at once when it knows the answer. */
const go = (a: Authenticator, header: string | undefined, cn: string | undefined) =>
  Promise.resolve().then(() => a.authenticate(header, cn));

const reason = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return (err as HeraldError).reason;
  }
  return 'accepted';
};

test('a ServiceAccount token is reviewed once per cache period and names the ServiceAccount', async () => {
  const t = setup(() => ({
    authenticated: true,
    username: 'system:serviceaccount:a:b',
    audiences: ['herald'],
  }));
  const token = jwt({ exp: 2_000_000 });
  expect(await go(t.auth, `Bearer ${token}`, undefined)).toEqual({
    subject: 'system:serviceaccount:a:b',
    server: false,
  });
  await go(t.auth, `Bearer ${token}`, undefined);
  expect(t.reviews).toHaveLength(1);
  t.advance(10_001);
  await go(t.auth, `bearer ${token}`, undefined);
  expect(t.reviews).toHaveLength(2);
});

test('calls that arrive while a token is reviewed share that one review', async () => {
  const t = setup(() => ({ authenticated: true, username: 'system:serviceaccount:a:b' }));
  const token = jwt({ exp: 2_000_000 });
  const answers = await Promise.all(
    Array.from({ length: 5 }, () => go(t.auth, `Bearer ${token}`, undefined)),
  );
  expect(answers.map((a) => a.subject)).toEqual(Array(5).fill('system:serviceaccount:a:b'));
  expect(t.reviews).toHaveLength(1);
  // A failed review is not shared with later calls: they ask again.
  const down = setup(() => new Error('down'));
  const failed = await Promise.all([1, 2].map(() => reason(go(down.auth, `Bearer ${token}`, undefined))));
  expect(failed).toEqual(['AUTHENTICATION_UNAVAILABLE', 'AUTHENTICATION_UNAVAILABLE']);
  expect(down.reviews).toHaveLength(1);
  expect(await reason(go(down.auth, `Bearer ${token}`, undefined))).toBe('AUTHENTICATION_UNAVAILABLE');
  expect(down.reviews).toHaveLength(2);
});

test('refusals: missing, expired (by its exp claim), another audience, not authenticated, unreachable apiserver', async () => {
  const ok = setup(() => ({ authenticated: true, username: 'u', audiences: ['herald'] }));
  expect(await reason(go(ok.auth, undefined, undefined))).toBe('CREDENTIALS_MISSING');
  expect(await reason(go(ok.auth, `Bearer ${jwt({ exp: 999 })}`, undefined))).toBe('CREDENTIALS_EXPIRED');
  expect(await reason(go(ok.auth, 'Basic abc', undefined))).toBe('CREDENTIALS_INVALID');
  const other = setup(() => ({ authenticated: true, username: 'u', audiences: ['vault'] }));
  expect(await reason(go(other.auth, `Bearer ${jwt({})}`, undefined))).toBe('CREDENTIALS_INVALID');
  const no = setup(() => ({ authenticated: false }));
  expect(await reason(go(no.auth, `Bearer ${jwt({})}`, undefined))).toBe('CREDENTIALS_INVALID');
  const down = setup(() => new Error('connect ECONNREFUSED; request body had the token'));
  const err = await go(down.auth, `Bearer ${jwt({})}`, undefined).catch((e: HeraldError) => e);
  expect((err as HeraldError).reason).toBe('AUTHENTICATION_UNAVAILABLE');
  expect((err as HeraldError).retriable).toBe(true);
  expect((err as HeraldError).cause).toBeUndefined();
});

test('a cached answer never outlives the token, and the cache is bounded', async () => {
  const t = setup(() => ({ authenticated: true, username: 'u' }));
  const token = jwt({ exp: (t.now() + 3_000) / 1000 });
  await go(t.auth, `Bearer ${token}`, undefined);
  t.advance(3_000);
  expect(await reason(go(t.auth, `Bearer ${token}`, undefined))).toBe('CREDENTIALS_EXPIRED');
  for (const i of [1, 2, 3]) await go(t.auth, `Bearer ${jwt({ i })}`, undefined);
  await go(t.auth, `Bearer ${jwt({ i: 1 })}`, undefined);
  // Three tokens in a cache of two: the first was dropped and reviewed again.
  expect(t.reviews.filter((r) => r === jwt({ i: 1 }))).toHaveLength(2);
});

test('HeraldUser tokens are matched by hash; certificates count for tls users and Herald servers only', async () => {
  const t = setup(() => new Error('not asked'));
  expect((await go(t.auth, `Bearer ${userToken}`, undefined)).subject).toBe('herald:user:p:acme');
  expect(await reason(go(t.auth, `Bearer ${generateToken()}`, undefined))).toBe('CREDENTIALS_INVALID');
  expect(await go(t.auth, undefined, 'herald:user:p:device')).toEqual({
    subject: 'herald:user:p:device',
    server: false,
  });
  expect(await reason(go(t.auth, undefined, 'herald:user:p:acme'))).toBe('CREDENTIALS_INVALID');
  expect(await go(t.auth, undefined, 'herald:server:broker:ns:pool')).toEqual({
    subject: 'herald:server:broker:ns:pool',
    server: true,
  });
  expect(t.reviews).toHaveLength(0);
});
