// A BrokerPool with the default (secure) settings against the real apiserver: the operator issues
// the pool's certificate into a Secret, mounts it, passes the security settings through the
// ConfigMap (no secret in it), and creates the brokers' ServiceAccount and least-privilege RBAC.
// Then a broker runs with exactly the ConfigMap's broker.json, the Secret's files and the
// ServiceAccount's own token: its TokenReviews and watches work with that RBAC alone.
import * as grpc from '@grpc/grpc-js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Secret } from '@kubernetes/client-node';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { channelCredentials } from '../../../common/grpc/credentials';
import { loadKubeConfig } from '../../../common/kube/config';
import type { BrokerPoolConfig } from '../../../operator/controllers/broker-pool-objects';
import { loadProtos } from '../../../proto/load';
import { spawnBroker } from '../broker/helpers';
import type { BrokerProcess } from '../broker/helpers';
import { freePort } from '../leases/helpers';
import { secureOperatorArgs, startOperatorFixture } from '../operator/fixture';
import type { OperatorFixture } from '../operator/fixture';
import { applyAccessPolicy, installCrds, kube, kubectlApply, poolManifest } from '../operator/helpers';
import { runTool } from '../exec';
import { testEnv } from '../env';
import { waitFor } from '../wait';
import { expectNoCredentials } from './leaks';

jest.setTimeout(240_000);

let fixture: OperatorFixture;
let dir: string;
let broker: BrokerProcess | undefined;
/** Tokens this file made (the pool's keys and the CA's are in the namespace's Secrets). */
const credentials: string[] = [];
const ns = () => fixture.ns.name;
const decode = (s: V1Secret, k: string) => Buffer.from(s.data?.[k] ?? '', 'base64').toString('utf8');

async function kubectl(...args: string[]): Promise<string> {
  const r = await runTool('kubectl', args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** `kubectl auth can-i` as the pool's brokers. */
const brokerCan = async (...args: string[]) =>
  (
    await runTool('kubectl', [
      'auth',
      'can-i',
      ...args,
      '--as',
      `system:serviceaccount:${ns()}:default-broker`,
    ])
  ).stdout.trim();

const poolSecret = () => kube().core.readNamespacedSecret({ namespace: ns(), name: 'default-broker-tls' });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-pool-sec-'));
  fixture = await startOperatorFixture({
    prefix: 'poolsec',
    operatorArgs: ['--assignment-poll-ms', '500', ...secureOperatorArgs(join(dir, 'meta-tls'))],
    topics: [{ name: 'orders', partitions: 1 }],
  });
});

afterAll(async () => {
  if (broker) {
    broker.child.kill('SIGTERM');
    await broker.exited;
  }
  await fixture?.stop();
});

test("the pool's certificate is issued into a Secret from the operator's CA, for the pool's names", async () => {
  const secret = await waitFor('the Secret default-broker-tls', () => poolSecret().catch(() => undefined));
  expect(secret.type).toBe('kubernetes.io/tls');
  expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'BrokerPool', name: 'default' });
  const ca = await kube().core.readNamespacedSecret({ namespace: ns(), name: 'herald-ca' });
  expect(decode(secret, 'ca.crt')).toBe(decode(ca, 'tls.crt'));
  const cert = new X509Certificate(decode(secret, 'tls.crt'));
  expect(cert.verify(new X509Certificate(decode(ca, 'tls.crt')).publicKey)).toBe(true);
  expect(cert.subject).toBe(`CN=herald:server:broker:${ns()}:default`);
  expect(cert.subjectAltName).toContain(`DNS:*.default-broker-headless.${ns()}.svc`);
  expect(cert.subjectAltName).toContain(`DNS:default-broker.${ns()}.svc`);
  expect(cert.checkPrivateKey(createPrivateKey(decode(secret, 'tls.key')))).toBe(true);

  // A deleted Secret is issued again (a manual rotation).
  await kube().core.deleteNamespacedSecret({ namespace: ns(), name: 'default-broker-tls' });
  await kubectl(
    '-n',
    ns(),
    'annotate',
    'brokerpool',
    'default',
    `herald.dev/poke=${Date.now()}`,
    '--overwrite',
  );
  const again = await waitFor('a new certificate', async () => {
    const s = await poolSecret().catch(() => undefined);
    return s && decode(s, 'tls.crt') !== decode(secret, 'tls.crt') ? s : undefined;
  });
  expect(new X509Certificate(decode(again, 'tls.crt')).subject).toBe(cert.subject);
});

test('the StatefulSet mounts the Secret and runs as the pool ServiceAccount; the ConfigMap holds no secret', async () => {
  const sts = await waitFor('the StatefulSet', () =>
    kube()
      .apps.readNamespacedStatefulSet({ namespace: ns(), name: 'default-broker' })
      .catch(() => undefined),
  );
  const pod = sts.spec?.template.spec;
  expect(pod?.serviceAccountName).toBe('default-broker');
  expect(pod?.volumes?.find((v) => v.name === 'tls')?.secret?.secretName).toBe('default-broker-tls');
  const sa = await kube().core.readNamespacedServiceAccount({ namespace: ns(), name: 'default-broker' });
  expect(sa.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'BrokerPool', name: 'default' });
  const cm = await kube().core.readNamespacedConfigMap({ namespace: ns(), name: 'default-broker-config' });
  const json = cm.data?.['broker.json'] ?? '';
  const config = JSON.parse(json) as BrokerPoolConfig;
  expect(config.security).toEqual({
    tls: {
      caFile: '/etc/herald/tls/ca.crt',
      certFile: '/etc/herald/tls/tls.crt',
      keyFile: '/etc/herald/tls/tls.key',
    },
    authentication: true,
    authorization: true,
    metricsTls: false,
    reviewCacheMs: 10_000,
  });
  expect(config.meta.plaintext).toBeUndefined();
  expect(json).not.toContain('PRIVATE KEY');
  expect(json).not.toContain('BEGIN CERTIFICATE');
});

test('the brokers may create TokenReviews and read access rules, and nothing else', async () => {
  await waitFor('the binding', async () =>
    (await brokerCan('create', 'tokenreviews')) === 'yes' ? true : undefined,
  );
  const rbac = loadKubeConfig(testEnv().kubeconfig).makeApiClient(RbacAuthorizationV1Api);
  const binding = await rbac.readClusterRoleBinding({ name: `herald-broker:${ns()}` });
  expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'default-broker', namespace: ns() }]);
  expect(await brokerCan('list', 'accesspolicies.herald.dev', '--all-namespaces')).toBe('yes');
  expect(await brokerCan('watch', 'heraldusers.herald.dev', '--all-namespaces')).toBe('yes');
  for (const denied of [
    ['get', 'secrets', '-n', ns()],
    ['create', 'accesspolicies.herald.dev', '-n', ns()],
    ['update', 'heraldusers.herald.dev', '-n', ns()],
    ['list', 'configmaps', '-n', ns()],
    ['create', 'serviceaccounts/token', '-n', ns()],
  ])
    expect(`${denied.join(' ')}: ${await brokerCan(...denied)}`).toBe(`${denied.join(' ')}: no`);
});

test('a broker runs with the ConfigMap, the Secret and the ServiceAccount token alone, and checks callers', async () => {
  const cm = await kube().core.readNamespacedConfigMap({ namespace: ns(), name: 'default-broker-config' });
  const config = JSON.parse(cm.data?.['broker.json'] ?? '{}') as BrokerPoolConfig;
  // The Secret's files where the pod mounts them: here, a directory of the test's.
  const secret = await poolSecret();
  const tlsDir = join(dir, 'tls');
  mkdirSync(tlsDir);
  for (const k of ['ca.crt', 'tls.crt', 'tls.key'])
    writeFileSync(join(tlsDir, k), decode(secret, k), { mode: 0o600 });
  // What the pod's mounted ServiceAccount token is: the pool ServiceAccount's own.
  const saToken = await kubectl('-n', ns(), 'create', 'token', 'default-broker');
  credentials.push(saToken);
  const kc = loadKubeConfig(testEnv().kubeconfig);
  const cluster = kc.getCurrentCluster()!;
  const kubeconfig = join(dir, 'broker-kubeconfig.json');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'c',
          cluster: {
            server: cluster.server,
            ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}),
            ...(cluster.caFile ? { 'certificate-authority': cluster.caFile } : {}),
          },
        },
      ],
      users: [{ name: 'broker', user: { token: saToken } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'broker' } }],
      'current-context': 'c',
    }),
    { mode: 0o600 },
  );
  const address = `127.0.0.1:${await freePort()}`;
  broker = await spawnBroker(
    {
      ...config,
      listen: address,
      metricsListen: '127.0.0.1:0',
      // The ConfigMap's 0.0.0.0:7680 may be taken on a shared machine.
      httpListen: '127.0.0.1:0',
      meta: { ...config.meta, address: fixture.operators[0].metaAddress },
      security: {
        ...config.security,
        tls: {
          caFile: join(tlsDir, 'ca.crt'),
          certFile: join(tlsDir, 'tls.crt'),
          keyFile: join(tlsDir, 'tls.key'),
        },
        kubeconfig,
      },
    },
    [],
    {
      HERALD_POD_NAME: 'default-broker-0',
      HERALD_ADVERTISED_ADDRESS: address,
      HERALD_MYSQL_URL: fixture.ns.mysqlUrl,
    },
  );

  // kubelet's readiness probe of a TLS broker: plain HTTP on the metrics listener.
  const ready = await fetch(`http://${broker.metricsAddress}/readyz`);
  expect({ status: ready.status, body: await ready.text() }).toEqual({ status: 200, body: 'ok\n' });

  const appToken = await (async () => {
    await kube().core.createNamespacedServiceAccount({
      namespace: ns(),
      body: { metadata: { name: 'app' } },
    });
    return kubectl('-n', ns(), 'create', 'token', 'app', '--audience', 'herald');
  })();
  // The certificate names the Services, not 127.0.0.1: dial the Service's name.
  const client = new (loadProtos().grpc.herald.v1.Broker)(
    address,
    channelCredentials({ tls: { caFile: join(tlsDir, 'ca.crt') }, auth: { token: appToken } }),
    { 'grpc.ssl_target_name_override': `default-broker.${ns()}.svc` },
  );
  const publish = () =>
    new Promise<grpc.status>((resolve) =>
      client.Publish(
        { topic: 'orders', partition: 0, messages: [{ body: Buffer.from('x') }] },
        { deadline: Date.now() + 10_000 },
        (err) => resolve(err ? err.code : grpc.status.OK),
      ),
    );
  try {
    // The token was reviewed (TokenReview allowed), the policies watched (no rule yet): denied.
    await waitFor('PERMISSION_DENIED without a rule', async () =>
      (await publish()) === grpc.status.PERMISSION_DENIED ? true : undefined,
    );
    await applyAccessPolicy(
      ns(),
      'app',
      '[{kind: ServiceAccount, name: app}]',
      '[{operations: [publish], topics: [{name: orders}]}]',
    );
    await waitFor(
      'the publish allowed',
      async () => ((await publish()) === grpc.status.OK ? true : undefined),
      {
        timeoutMs: 60_000,
      },
    );
  } finally {
    client.close();
  }
});

test('the schema refuses authentication without TLS; a pool without security gets no ServiceAccount binding', async () => {
  // The CRDs are cluster-wide and other suites apply theirs: make sure this checkout's are in place.
  await installCrds();
  const bad = await runTool(
    'kubectl',
    ['-n', ns(), 'apply', '-f', '-'],
    poolManifest('broken', '  security: {tls: {enabled: false}, authentication: true}'),
  );
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('security.authentication needs security.tls.enabled');

  await kubectlApply(
    ns(),
    poolManifest('open', '  security: {tls: {enabled: false}, authentication: false, authorization: false}'),
  );
  const rbac = loadKubeConfig(testEnv().kubeconfig).makeApiClient(RbacAuthorizationV1Api);
  await waitFor('the open pool reconciled', () =>
    kube()
      .apps.readNamespacedStatefulSet({ namespace: ns(), name: 'open-broker' })
      .catch(() => undefined),
  );
  const binding = await rbac.readClusterRoleBinding({ name: `herald-broker:${ns()}` });
  expect(binding.subjects?.map((s) => s.name)).toEqual(['default-broker']);
  await expect(
    kube().core.readNamespacedSecret({ namespace: ns(), name: 'open-broker-tls' }),
  ).rejects.toBeTruthy();

  // The last secured pool gone: the namespace's binding goes too.
  await kubectl('-n', ns(), 'delete', 'brokerpool', 'default', '--wait=true');
  await waitFor(
    'the binding deleted',
    () =>
      rbac
        .readClusterRoleBinding({ name: `herald-broker:${ns()}` })
        .then(() => undefined)
        .catch(() => true),
    { timeoutMs: 30_000 },
  );
});

test('no token or private key appears in any log or any non-Secret object', async () => {
  await expectNoCredentials({
    namespaces: [ns()],
    credentials,
    logs: broker ? [['broker', broker.logs.join('\n')]] : [],
  });
});
