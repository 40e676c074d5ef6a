import { generateToken, hashToken, isHeraldToken } from '../../../../common/security/tokens';

test('tokens are random, prefixed, and stored only as a SHA-256 hash', () => {
  const a = generateToken();
  const b = generateToken();
  expect(a).not.toBe(b);
  expect(isHeraldToken(a)).toBe(true);
  expect(a).toMatch(/^hrld_[A-Za-z0-9_-]{43}$/);
  expect(hashToken(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(hashToken(a)).toBe(hashToken(a));
  expect(hashToken(a)).not.toBe(hashToken(b));
  expect(hashToken(a)).not.toContain(a.slice(5, 15));
  // A Kubernetes token (a JWT) is not taken for a Herald one.
  expect(isHeraldToken('eyJhbGciOiJSUzI1NiJ9.e30.sig')).toBe(false);
});
