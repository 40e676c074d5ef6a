// Helpers for the operator's integration tests: a namespace per test file, the operator as a
// child process (the same main.ts a pod runs), API clients, and lease clients that play
// brokers and consumers against its meta-server.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PolicyV1Api,
} from '@kubernetes/client-node';
import mysql from 'mysql2/promise';
import { silentLogger } from '../../../common/logger';
import type { BrokerPool, ConsumerGroup, Topic } from '../../../operator/gen/crds';
import { BrokerPoolResource, ConsumerGroupResource, TopicResource } from '../../../operator/gen/crds';
import { BrokerLeaseClient, ConsumerLeaseClient } from '../../../common/meta-client';
import { testEnv, uniqueDatabase, uniqueName } from '../env';
import { runTool } from '../exec';
import { waitFor } from '../wait';

const root = join(__dirname, '..', '..', '..');

export function kube() {
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
  };
}

/** Applies the CRDs (idempotent) so every test file can run alone. */
export async function installCrds(): Promise<void> {
  const r = await runTool('kubectl', [
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    join(root, 'crds'),
  ]);
  if (r.code !== 0) throw new Error(`kubectl apply crds: ${r.stderr}`);
  await runTool('kubectl', [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    '-f',
    join(root, 'crds'),
  ]);
}

export interface TestNamespace {
  name: string;
  /** A fresh MySQL database for this namespace's pool, and the URL the pool's Secret holds. */
  database: string;
  mysqlUrl: string;
  delete(): Promise<void>;
}

/**
 * A namespace with a Secret `mysql` holding a URL to a fresh database. delete() removes both;
 * Herald's objects in it must be gone first (the operator fixture finalizes them).
 */
export async function testNamespace(prefix: string): Promise<TestNamespace> {
  const { core } = kube();
  const name = uniqueName(prefix);
  const database = uniqueDatabase(prefix);
  const base = new URL(testEnv().mysqlUrl);
  base.pathname = `/${database}`;
  const mysqlUrl = base.toString();
  await core.createNamespace({ body: { metadata: { name } } });
  await core.createNamespacedSecret({
    namespace: name,
    body: { metadata: { name: 'mysql' }, stringData: { url: mysqlUrl } },
  });
  return {
    name,
    database,
    mysqlUrl,
    async delete() {
      await core.deleteNamespace({ name });
      const conn = await mysql.createConnection(testEnv().mysqlUrl);
      await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await conn.end();
    },
  };
}

export async function kubectlApply(namespace: string, manifest: string): Promise<void> {
  const r = await runTool('kubectl', ['-n', namespace, 'apply', '-f', '-'], manifest);
  if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
}

/** Applies an AccessPolicy; `subjects` and `rules` are YAML (flow style is fine). */
export function applyAccessPolicy(
  namespace: string,
  name: string,
  subjects: string,
  rules: string,
): Promise<void> {
  return kubectlApply(
    namespace,
    `apiVersion: herald.dev/v1alpha1
kind: AccessPolicy
metadata: {name: ${name}}
spec:
  subjects: ${subjects}
  rules: ${rules}
`,
  );
}

/** Applies a HeraldUser authenticated by `authentication`; `rules` is YAML (flow style is fine). */
export function applyHeraldUser(
  namespace: string,
  name: string,
  authentication: 'token' | 'tls',
  rules: string,
): Promise<void> {
  return kubectlApply(
    namespace,
    `apiVersion: herald.dev/v1alpha1
kind: HeraldUser
metadata: {name: ${name}}
spec:
  authentication: {type: ${authentication}}
  rules: ${rules}
`,
  );
}

/** A real ServiceAccount token from the apiserver (`kubectl create token`), valid 10 minutes. */
export async function serviceAccountToken(
  namespace: string,
  serviceAccount: string,
  audience = 'herald',
): Promise<string> {
  const r = await runTool('kubectl', [
    '-n',
    namespace,
    'create',
    'token',
    serviceAccount,
    '--audience',
    audience,
    '--duration',
    '10m',
  ]);
  if (r.code !== 0) throw new Error(`kubectl create token ${serviceAccount}: ${r.stderr}`);
  return r.stdout.trim();
}

export function poolManifest(name = 'default', extra = ''): string {
  return `apiVersion: herald.dev/v1alpha1
kind: BrokerPool
metadata: {name: ${name}}
spec:
  image: herald/broker:dev
  replicas: 3
  storage: {mysql: {secretRef: {name: mysql}}}
${extra}`;
}

export function topicManifest(name: string, partitions: number, extra = ''): string {
  return `apiVersion: herald.dev/v1alpha1
kind: Topic
metadata: {name: ${name}}
spec:
  partitions: ${partitions}
${extra}`;
}

export async function getTopic(namespace: string, name: string): Promise<Topic> {
  return (await kube().custom.getNamespacedCustomObject({ ...TopicResource, namespace, name })) as Topic;
}

export async function getPool(namespace: string, name: string): Promise<BrokerPool> {
  return (await kube().custom.getNamespacedCustomObject({
    ...BrokerPoolResource,
    namespace,
    name,
  })) as BrokerPool;
}

export async function getGroup(namespace: string, name: string): Promise<ConsumerGroup> {
  return (await kube().custom.getNamespacedCustomObject({
    ...ConsumerGroupResource,
    namespace,
    name,
  })) as ConsumerGroup;
}

export function condition<C extends { type: string; status: string; observedGeneration?: number }>(
  obj: { status?: { conditions?: C[] } },
  type: string,
): C | undefined {
  return obj.status?.conditions?.find((c) => c.type === type);
}

/** Message tables of a topic in a database (the broker names them m_<topic>_<partition>). */
export async function topicTables(mysqlUrl: string, topic: string): Promise<string[]> {
  const conn = await mysql.createConnection(mysqlUrl);
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?',
      [`m\\_${topic.replace(/_/g, '\\_')}\\_%`],
    );
    return rows.map((r) => String(r.t)).sort();
  } finally {
    await conn.end();
  }
}

export interface OperatorProcess {
  child: ChildProcess;
  metaAddress: string;
  /** host:port of the operator's /metrics. */
  metricsAddress: string;
  identity: string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts operator/main.ts watching one namespace, with its leader Lease there too. */
export async function spawnOperator(namespace: string, extraArgs: string[] = []): Promise<OperatorProcess> {
  const env = testEnv();
  const log = createWriteStream(join(env.logDir, `operator-${namespace}-${Date.now()}.log`));
  const child = spawn(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      join(root, 'operator', 'main.ts'),
      '--kubeconfig',
      env.kubeconfig,
      '--watch-namespace',
      namespace,
      '--lease-namespace',
      namespace,
      '--meta-listen',
      '127.0.0.1:0',
      '--metrics-listen',
      '127.0.0.1:0',
      ...extraArgs,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  type Started = { metaAddress: string; metricsAddress: string; identity: string };
  const started = await new Promise<Started>((resolve, reject) => {
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { event?: string } & Partial<Started>;
        if (parsed.event === 'started' && parsed.metaAddress && parsed.metricsAddress && parsed.identity) {
          resolve({
            metaAddress: parsed.metaAddress,
            metricsAddress: parsed.metricsAddress,
            identity: parsed.identity,
          });
        }
      } catch {
        // not ours
      }
    });
    void exited.then((code) => reject(new Error(`operator exited with ${code}; see ${env.logDir}`)));
  });
  return {
    child,
    ...started,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** A lease client playing broker `id` of a pool, with short test-friendly timings from the pool. */
export function fakeBroker(
  metaAddresses: string[],
  namespace: string,
  id: string,
  zone = '',
  pool = 'default',
) {
  const client = new BrokerLeaseClient({
    metaAddresses,
    safetyMarginMs: 1_000,
    logger: silentLogger,
    namespace,
    pool,
    broker: { id, address: `${id}.test:7600`, zone, weight: 1 },
  });
  client.start();
  return client;
}

export function fakeConsumer(metaAddresses: string[], namespace: string, group: string, consumerId: string) {
  const client = new ConsumerLeaseClient({
    metaAddresses,
    safetyMarginMs: 1_000,
    logger: silentLogger,
    namespace,
    group,
    consumerId,
    zone: '',
  });
  client.start();
  return client;
}

/** Waits until the topic's Ready condition is True for its current generation. */
export function waitReady(namespace: string, name: string, timeoutMs = 90_000): Promise<Topic> {
  return waitFor(
    `Topic ${name} Ready`,
    async () => {
      const t = await getTopic(namespace, name);
      const ready = condition(t, 'Ready');
      return ready?.status === 'True' && ready.observedGeneration === t.metadata?.generation ? t : undefined;
    },
    { timeoutMs, intervalMs: 500 },
  );
}
