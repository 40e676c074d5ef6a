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

/** A review stub whose answers the test hands out one by one. */
function manual() {
  let now = 1_000_000;
  const pending: { token: string; answer: (r: TokenReview | Error) => void }[] = [];
  const steps: string[] = [];
  const auth = new Authenticator({
    source,
    review: (token) =>
      new Promise<TokenReview>((resolve, reject) =>
        pending.push({ token, answer: (r) => (r instanceof Error ? reject(r) : resolve(r)) }),
      ),
    reviewCacheMs: 10_000,
    maxCachedReviews: 10,
    observe: (step) => steps.push(step),
    now: () => now,
  });
  const settle = () => new Promise((r) => setImmediate(r));
  return { auth, pending, steps, settle, advance: (ms: number) => (now += ms) };
}

const yes: TokenReview = { authenticated: true, username: 'system:serviceaccount:a:b' };

test('a token in use is reviewed again ahead of its answer ending: a call at the end does not wait on a TokenReview', async () => {
  const t = manual();
  const header = `Bearer ${jwt({ exp: 2_000_000 })}`;
  const first = t.auth.authenticate(header, undefined);
  expect(first).toBeInstanceOf(Promise);
  t.pending[0].answer(yes);
  await first;
  expect(t.steps).toEqual(['token_review', 'wait']);
  // In the first half of the answer's 10 s: answered from the cache, nothing sent.
  t.advance(4_000);
  expect(t.auth.authenticate(header, undefined)).toEqual({ subject: yes.username, server: false });
  expect(t.pending).toHaveLength(1);
  // In the second half: still answered at once, and one review goes out in the background.
  t.advance(1_000);
  for (let i = 0; i < 3; i++) expect(t.auth.authenticate(header, undefined)).not.toBeInstanceOf(Promise);
  expect(t.pending).toHaveLength(2);
  t.pending[1].answer(yes);
  await t.settle();
  // Where the first answer ended (10 s) a call is answered at once, from the new answer (which
  // in turn starts the next renewal)...
  t.advance(5_001);
  expect(t.auth.authenticate(header, undefined)).toEqual({ subject: yes.username, server: false });
  expect(t.pending).toHaveLength(3);
  // ...and the new answer counted from when its review was sent (5 s): at 15 s it has ended,
  // and a call waits for the renewal under way rather than being admitted on an old answer.
  t.advance(5_000);
  expect(t.auth.authenticate(header, undefined)).toBeInstanceOf(Promise);
  expect(t.pending).toHaveLength(3);
  expect(t.steps).toEqual(['token_review', 'wait', 'token_review']);
});

test('a refresh that says no refuses the token at once; a failed refresh is not retried and the old answer ends on time', async () => {
  const revoked = manual();
  const header = `Bearer ${jwt({ exp: 2_000_000 })}`;
  const first = revoked.auth.authenticate(header, undefined);
  revoked.pending[0].answer(yes);
  await first;
  revoked.advance(8_000);
  expect(revoked.auth.authenticate(header, undefined)).toEqual({ subject: yes.username, server: false });
  // The ServiceAccount was deleted meanwhile.
  revoked.pending[1].answer({ authenticated: false });
  await revoked.settle();
  expect(await reason(go(revoked.auth, header, undefined))).toBe('CREDENTIALS_INVALID');

  const down = manual();
  const call = down.auth.authenticate(header, undefined);
  down.pending[0].answer(yes);
  await call;
  down.advance(8_000);
  expect(down.auth.authenticate(header, undefined)).toEqual({ subject: yes.username, server: false });
  down.pending[1].answer(new Error('apiserver down'));
  await down.settle();
  // Served from the answer it has, without a review per call...
  for (let i = 0; i < 3; i++) expect(down.auth.authenticate(header, undefined)).not.toBeInstanceOf(Promise);
  expect(down.pending).toHaveLength(2);
  // ...until that answer ends: then calls wait for a review again.
  down.advance(2_001);
  const later = go(down.auth, header, undefined);
  await down.settle();
  expect(down.pending).toHaveLength(3);
  down.pending[2].answer(new Error('still down'));
  expect(await reason(later)).toBe('AUTHENTICATION_UNAVAILABLE');
});

test('refusals and answers that end with the token are not reviewed ahead', async () => {
  const t = manual();
  const refused = `Bearer ${jwt({ exp: 2_000_000, i: 1 })}`;
  const r = go(t.auth, refused, undefined);
  await t.settle();
  t.pending[0].answer({ authenticated: false });
  expect(await reason(r)).toBe('CREDENTIALS_INVALID');
  // A token that expires in 5 s: its answer ends with it, a new review would not outlive it either.
  const short = `Bearer ${jwt({ exp: (1_000_000 + 5_000) / 1000 })}`;
  const s = t.auth.authenticate(short, undefined);
  t.pending[1].answer(yes);
  await s;
  t.advance(4_000);
  expect(await reason(go(t.auth, refused, undefined))).toBe('CREDENTIALS_INVALID');
  expect(t.auth.authenticate(short, undefined)).toEqual({ subject: yes.username, server: false });
  expect(t.pending).toHaveLength(2);
});
