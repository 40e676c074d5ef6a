import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createCa, issue, renewAt, validityOf } from '../../../operator/ca/ca';

test('the CA signs server certificates for their DNS names and IPs, usable as client too', async () => {
  const ca = await createCa('Herald CA test', 365);
  const caCert = new X509Certificate(ca.cert);
  expect(caCert.ca).toBe(true);
  const leaf = await issue(ca, {
    commonName: 'herald:server:broker:ns:pool',
    dnsNames: ['pool-0.pool-headless.ns.svc', 'localhost'],
    ipAddresses: ['127.0.0.1'],
    server: true,
    days: 30,
  });
  const cert = new X509Certificate(leaf.cert);
  expect(cert.verify(caCert.publicKey)).toBe(true);
  expect(cert.checkIssued(caCert)).toBe(true);
  expect(cert.subject).toBe('CN=herald:server:broker:ns:pool');
  expect(cert.checkHost('pool-0.pool-headless.ns.svc')).toBe('pool-0.pool-headless.ns.svc');
  expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
  expect(cert.checkHost('other.svc')).toBeUndefined();
  expect(cert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
  expect(cert.checkPrivateKey(createPrivateKey(leaf.key))).toBe(true);
  // A certificate of another CA does not verify against this one.
  const other = await createCa('another', 1);
  expect(cert.verify(new X509Certificate(other.cert).publicKey)).toBe(false);
});

test('user certificates are for clients only; renewal falls at two thirds of the lifetime', async () => {
  const ca = await createCa('Herald CA test', 365);
  const now = new Date('2026-12-01T00:00:00Z');
  const user = await issue(ca, { commonName: 'herald:user:ns:acme', server: false, days: 90 }, now);
  expect(new X509Certificate(user.cert).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  const validity = validityOf(user.cert);
  expect(validity.notAfter.toISOString()).toBe('2027-03-01T00:00:00.000Z');
  const start = validity.notBefore.getTime();
  expect(renewAt(validity).getTime()).toBe(start + ((validity.notAfter.getTime() - start) * 2) / 3);
});
