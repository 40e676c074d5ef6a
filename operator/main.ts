// The operator's command line. Runs the same code locally (with --kubeconfig, for tests and the
// demo) and in a cluster (service account; namespace and pod name from the downward API).
//
//   node dist/operator/main.js --kubeconfig ~/.kube/config --lease-namespace herald \
//     [--watch-namespace ns] [--meta-listen 0.0.0.0:7700] [--meta-advertise host:port]
//     [--metrics-listen 127.0.0.1:9601] [--console-listen 0.0.0.0:9700 [--console-dir dist/console]]
//     [--broker-meta-address herald-meta.herald:7700] [--identity name]
//     [--lease-duration-ms 15000 --renew-deadline-ms 10000 --retry-period-ms 2000]
//     [--lag-interval-ms 30000] [--assignment-poll-ms 2000]
//     [--meta-certificate-dir /run/herald/meta-tls --meta-dns-names herald-meta.herald.svc,...
//      [--meta-ip-addresses 10.0.0.7] [--meta-certificate-lifetime-seconds 2592000]
//      |  --tls-ca-file f --tls-cert-file f --tls-key-file f] [--tls-refresh-ms 10000]
//     [--metrics-tls] [--authentication] [--authorization] [--review-cache-ms 10000]
//
// With --meta-certificate-dir the meta-server serves TLS with a certificate the operator issues
// from its own CA for the given names (and the pod's IP), renewed at two thirds of its lifetime;
// --tls-*-file take other files (a cert-manager Secret). Either is re-read every
// --tls-refresh-ms. --metrics-tls serves /metrics over HTTPS with the same certificate.
// --authentication and --authorization as for brokers (docs/security.md).
// --console-listen serves the console (docs/console.md) with the same TLS files; it needs
// --authentication.
// It prints one JSON line {"event":"started","metaAddress":...,"metricsAddress":...,
// "consoleAddress":...} on stdout
// once the meta-server and /metrics listen, and exits 1 if it loses leadership (so Kubernetes restarts it as a follower).
import { parseArgs } from 'node:util';
import { collectDefaultMetrics } from 'prom-client';
import { createLogger } from '../common/logger';
import { Operator } from './operator';
import type { OperatorInput } from './operator';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      'watch-namespace': { type: 'string' },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      'meta-listen': { type: 'string' },
      'meta-advertise': { type: 'string' },
      'metrics-listen': { type: 'string' },
      'console-listen': { type: 'string' },
      'console-dir': { type: 'string' },
      'broker-meta-address': { type: 'string' },
      'lease-duration-ms': { type: 'string' },
      'renew-deadline-ms': { type: 'string' },
      'retry-period-ms': { type: 'string' },
      'lag-interval-ms': { type: 'string' },
      'assignment-poll-ms': { type: 'string' },
      'meta-certificate-dir': { type: 'string' },
      'meta-dns-names': { type: 'string' },
      'meta-ip-addresses': { type: 'string' },
      'tls-ca-file': { type: 'string' },
      'tls-cert-file': { type: 'string' },
      'tls-key-file': { type: 'string' },
      'tls-refresh-ms': { type: 'string' },
      'meta-certificate-lifetime-seconds': { type: 'string' },
      'metrics-tls': { type: 'boolean' },
      authentication: { type: 'boolean' },
      authorization: { type: 'boolean' },
      'review-cache-ms': { type: 'string' },
    },
    strict: true,
  });
  const env = process.env;
  const logger = createLogger({ base: { component: 'operator' } });
  // Bounds and defaults are the operator's options table's (operator/operator.ts).
  const int = (value: string | undefined): number | undefined =>
    value === undefined ? undefined : Number(value);
  const podIp = env.HERALD_POD_IP;
  const list = (value: string | undefined) => (value ?? '').split(',').filter((v) => v !== '');
  const certificateDir = values['meta-certificate-dir'];
  const tlsFiles = values['tls-cert-file'] ?? values['tls-key-file'] ?? values['tls-ca-file'];
  const input: OperatorInput = {
    logger,
    kubeconfig: values.kubeconfig ?? env.KUBECONFIG,
    watchNamespace: values['watch-namespace'] ?? env.HERALD_WATCH_NAMESPACE,
    leaseNamespace: values['lease-namespace'] ?? env.HERALD_POD_NAMESPACE,
    leaseName: values['lease-name'],
    identity: values.identity ?? env.HERALD_POD_NAME,
    metaListen: values['meta-listen'],
    metricsListen: values['metrics-listen'],
    consoleListen: values['console-listen'],
    consoleDir: values['console-dir'],
    metaAdvertise: values['meta-advertise'] ?? (podIp ? `${podIp}:7700` : undefined),
    brokerMetaAddress: values['broker-meta-address'] ?? env.HERALD_BROKER_META_ADDRESS,
    leaderElection: {
      leaseDurationMs: int(values['lease-duration-ms']),
      renewDeadlineMs: int(values['renew-deadline-ms']),
      retryPeriodMs: int(values['retry-period-ms']),
    },
    metaCertificate: certificateDir
      ? {
          dir: certificateDir,
          dnsNames: list(values['meta-dns-names']),
          ipAddresses: list(values['meta-ip-addresses'] ?? podIp),
          lifetimeSeconds: int(values['meta-certificate-lifetime-seconds']),
        }
      : undefined,
    security: {
      ...(tlsFiles !== undefined || values['tls-refresh-ms'] !== undefined
        ? {
            tls: {
              caFile: values['tls-ca-file'],
              certFile: values['tls-cert-file'],
              keyFile: values['tls-key-file'],
              refreshMs: int(values['tls-refresh-ms']),
            },
          }
        : {}),
      metricsTls: values['metrics-tls'],
      authentication: values.authentication,
      authorization: values.authorization,
      reviewCacheMs: int(values['review-cache-ms']),
    },
    lagIntervalMs: int(values['lag-interval-ms']),
    assignmentPollMs: int(values['assignment-poll-ms']),
    onLostLeadership: () => {
      logger.error('lost leadership; exiting so that this replica restarts as a follower');
      process.exit(1);
    },
  };
  // The process's CPU, memory and event-loop metrics beside the meta-server's, on /metrics.
  collectDefaultMetrics();
  const operator = await Operator.start(input);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    operator.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  // Handlers first, then the announcement: whoever reads "started" may signal at once.
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.stdout.write(
    JSON.stringify({
      event: 'started',
      metaAddress: operator.metaAddress,
      metricsAddress: operator.metricsAddress,
      ...(operator.consoleAddress ? { consoleAddress: operator.consoleAddress } : {}),
      identity: operator.options.identity,
    }) + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`operator failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
