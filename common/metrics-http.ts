// The Prometheus endpoint of the broker and the operator: GET /metrics on its own HTTP listener
// (127.0.0.1 by default), and, when given a readiness check, GET /readyz (200 while it serves,
// 503 otherwise) for kubelet's readiness probe, which cannot speak gRPC over TLS. HTTPS when given
// TLS files (the server's own certificate, re-read like the gRPC listener's); kubelet's HTTPS
// probe does not verify the certificate.
import type { Registry } from 'prom-client';
import type { Logger } from './logger';
import type { TlsFiles } from './grpc/credentials';
import { startHttpServer } from './http/server';

export interface MetricsServer {
  /** host:port actually bound. */
  address: string;
  close(): Promise<void>;
}

export async function startMetricsServer(
  listen: string,
  registry: Registry,
  logger: Logger,
  ready?: () => boolean,
  tls?: Required<TlsFiles>,
): Promise<MetricsServer> {
  const server = await startHttpServer({
    listen,
    tls,
    handler: (req, res) => {
      if (ready && req.method === 'GET' && req.url === '/readyz') {
        const ok = ready();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not serving\n');
        return;
      }
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: unknown) => {
          logger.error('metrics collection failed', { err });
          res.writeHead(500).end();
        },
      );
    },
  });
  return { address: server.address, close: () => server.close(1000) };
}
