import { clientSecurity, DEFAULT_CA_FILE, DEFAULT_TOKEN_FILE } from '../../../client/security';

const none = () => false;
const inPod = (p: string) => p === DEFAULT_CA_FILE || p === DEFAULT_TOKEN_FILE;

test('plaintext without a CA; TLS with one; a token or certificate only over TLS', () => {
  expect(clientSecurity({}, none)).toBeUndefined();
  expect(clientSecurity({ caFile: '/ca' }, none)).toEqual({ tls: { caFile: '/ca' } });
  expect(clientSecurity({ caFile: '/ca', token: 't' }, none)).toEqual({
    tls: { caFile: '/ca' },
    auth: { token: 't' },
  });
  expect(clientSecurity({ caFile: '/ca', certFile: '/c', keyFile: '/k' }, none)).toEqual({
    tls: { caFile: '/ca', certFile: '/c', keyFile: '/k' },
  });
  expect(() => clientSecurity({ token: 't' }, none)).toThrow('caFile must be set with a token');
  expect(() => clientSecurity({ caFile: '/ca', token: 't', tokenFile: '/t' }, none)).toThrow(
    'must not both be set',
  );
  expect(() => clientSecurity({ caFile: '/ca', certFile: '/c' }, none)).toThrow('must be set together');
});

test('in a pod the mounted CA and projected ServiceAccount token are used by default', () => {
  expect(clientSecurity({}, inPod)).toEqual({
    tls: { caFile: DEFAULT_CA_FILE },
    auth: { tokenFile: DEFAULT_TOKEN_FILE },
  });
  // Explicit options win; a client certificate replaces the default token.
  expect(clientSecurity({ token: 'x' }, inPod)?.auth).toEqual({ token: 'x' });
  expect(clientSecurity({ certFile: '/c', keyFile: '/k' }, inPod)?.auth).toBeUndefined();
});
