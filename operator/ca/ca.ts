// The operator's small certificate authority: a self-signed ECDSA P-256 CA, and certificates
// it signs for Herald servers (DNS names and IPs, usable as server and as client: brokers and
// the meta-server authenticate each other with them) and for HeraldUsers (client only). Pure
// apart from key generation; the Secret that keeps the CA is ca-secret.ts's business.
//
// Node's crypto verifies X.509 but cannot issue it, so @peculiar/x509 builds the certificates
// (on Node's WebCrypto, no native code).
import { webcrypto } from 'node:crypto';
// @peculiar/x509 resolves its ASN.1 codecs through tsyringe, which needs the Reflect polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

/** A certificate and its key, PEM-encoded (the tls.crt and tls.key of a kubernetes.io/tls Secret). */
export interface KeyPair {
  cert: string;
  key: string;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

async function newKeys(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

async function pemKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

const serial = () =>
  Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString('hex')
    .replace(/^[89a-f]/, '1');

/** A new CA valid for `days` (back-dated an hour for clock skew). */
export async function createCa(commonName: string, days: number, now = new Date()): Promise<KeyPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await pemKey(keys.privateKey) };
}

export interface LeafRequest {
  /** The subject CN: a Herald identity (herald:server:..., herald:user:...). */
  commonName: string;
  /** DNS names and IP addresses for a server certificate; none for a user's. */
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Server certificates may also be used as clients (mTLS between Herald servers). */
  server: boolean;
  /** Starts now (minus an hour); `notBefore`/`notAfter` override (tests of expiry). */
  days: number;
  validity?: Validity;
}

/** A certificate signed by `ca` for `request`. */
export async function issue(ca: KeyPair, request: LeafRequest, now = new Date()): Promise<KeyPair> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(ca.key),
    ALGORITHM,
    false,
    ['sign'],
  );
  const keys = await newKeys();
  const names: x509.JsonGeneralName[] = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const usages = request.server
    ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
    : [x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [request.commonName] }],
    issuer: caCert.subject,
    notBefore: request.validity?.notBefore ?? new Date(now.getTime() - 3_600_000),
    notAfter: request.validity?.notAfter ?? new Date(now.getTime() + request.days * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: cert.toString('pem'), key: await pemKey(keys.privateKey) };
}

/** The validity period of a PEM certificate. */
export function validityOf(pem: string): Validity {
  const cert = new x509.X509Certificate(pem);
  return { notBefore: cert.notBefore, notAfter: cert.notAfter };
}

/**
 * When a certificate is renewed: once two thirds of its lifetime have passed (cert-manager's
 * default), so a missed reconcile or two still leaves time.
 */
export function renewAt(validity: Validity): Date {
  const start = validity.notBefore.getTime();
  return new Date(start + ((validity.notAfter.getTime() - start) * 2) / 3);
}
