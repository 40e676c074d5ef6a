// An HTTP/1.1 listener for Herald's HTTP endpoints: plaintext, or HTTPS with the same TLS files
// as the gRPC listener (grpc/credentials.ts): the certificate files are re-read every
// `refreshMs` and a change is served without a restart; a client certificate signed by the CA
// is asked for but not required (a caller may send a token instead), as on the gRPC listener.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_TLS_REFRESH_MS } from '../grpc/credentials';
import type { TlsFiles } from '../grpc/credentials';

export interface HttpServer {
  /** host:port actually bound. */
  address: string;
  /** Stops accepting, lets running requests finish up to `graceMs`, then closes every connection. */
  close(graceMs: number): Promise<void>;
}

export interface HttpServerSetup {
  /** host:port; port 0 picks one. */
  listen: string;
  /** HTTPS with these files; plaintext when unset. */
  tls?: Required<TlsFiles>;
  handler: RequestListener;
  /**
   * Ask TLS clients for a certificate (default true); false where only bearer tokens count (the
   * operator's console), so a browser holding certificates does not prompt for one.
   */
  clientCertificates?: boolean;
  /** How long an idle keep-alive connection stays open (Node's default is 5 s). */
  keepAliveTimeoutMs?: number;
}

function secureContext(tls: Required<TlsFiles>) {
  return {
    ca: readFileSync(tls.caFile),
    cert: readFileSync(tls.certFile),
    key: readFileSync(tls.keyFile),
  };
}

export async function startHttpServer(setup: HttpServerSetup): Promise<HttpServer> {
  const sep = setup.listen.lastIndexOf(':');
  const host = setup.listen.slice(0, sep);
  const tls = setup.tls;
  let refresh: NodeJS.Timeout | undefined;
  let server: Server;
  if (tls) {
    let files = secureContext(tls);
    const https = createTlsServer(
      { ...files, requestCert: setup.clientCertificates ?? true, rejectUnauthorized: false },
      setup.handler,
    );
    refresh = setInterval(() => {
      try {
        const next = secureContext(tls);
        if (['ca', 'cert', 'key'].some((k) => !next[k as 'ca'].equals(files[k as 'ca']))) {
          https.setSecureContext(next);
          files = next;
        }
      } catch {
        // A file mid-rotation: keep serving the last good pair and read again next time.
      }
    }, tls.refreshMs ?? DEFAULT_TLS_REFRESH_MS).unref();
    server = https;
  } else {
    server = createServer(setup.handler);
  }
  if (setup.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = setup.keepAliveTimeoutMs;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(setup.listen.slice(sep + 1)), host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `${host}:${port}`,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        clearInterval(refresh);
        const timer = setTimeout(() => server.closeAllConnections(), graceMs).unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/** The CN of the client certificate the TLS handshake verified against the CA, if any. */
export function verifiedClientCn(req: IncomingMessage): string | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}

/** The caller's address as grpc-js's getPeer() writes it: host:port, [v6]:port. */
export function peerAddress(req: IncomingMessage): string {
  const { remoteAddress = '', remotePort = 0 } = req.socket;
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}
