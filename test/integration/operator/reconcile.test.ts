// kubectl apply of a BrokerPool and Topics, reconciled by the operator process against the real
// control plane and MariaDB: owned objects with ownerReferences, tables, conditions with
// observedGeneration, growing partitions, consumer groups with lag alerts, and deletion
// with deletionPolicy delete (tables dropped, finalizer removed) or retain (tables kept).
import { createLogger } from '../../../common/logger';
import { createMysqlStore } from '../../../storage/mysql/mysql-store';
import { runTool } from '../exec';
import { waitFor } from '../wait';
import type { BrokerLeaseClient } from '../../../common/meta-client';
import { startOperatorFixture } from './fixture';
import type { OperatorFixture } from './fixture';
import {
  condition,
  fakeBroker,
  getGroup,
  getPool,
  getTopic,
  kube,
  kubectlApply,
  poolManifest,
  topicManifest,
  topicTables,
  waitReady,
} from './helpers';
import type { OperatorProcess, TestNamespace } from './helpers';

// These tests wait through several lease periods: longer than the integration default (120 s).
jest.setTimeout(180_000);

let fixture: OperatorFixture | undefined;
let ns: TestNamespace;
let operator: OperatorProcess;
let brokers: BrokerLeaseClient[] = [];
const leases = '  leases: {brokerSeconds: 4, consumerSeconds: 6, safetyMarginSeconds: 1}';

beforeAll(async () => {
  // The test applies its pool and topic itself, to watch them being reconciled.
  fixture = await startOperatorFixture({
    prefix: 'reconcile',
    pool: false,
    operatorArgs: ['--lag-interval-ms', '1000', '--assignment-poll-ms', '500'],
  });
  ns = fixture.ns;
  operator = fixture.operators[0]!;
  brokers = ['b0', 'b1', 'b2'].map((id) => fakeBroker([operator.metaAddress], ns.name, id));
});

afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop({ release: false })));
  await fixture?.stop();
});

test('a BrokerPool and a Topic become a StatefulSet, Services, a PDB, a ConfigMap, tables and Ready', async () => {
  await kubectlApply(ns.name, poolManifest('default', leases));
  await kubectlApply(ns.name, topicManifest('orders', 4));
  const { apps, core, policy } = kube();
  const pool = await getPool(ns.name, 'default');
  const owned = (o: {
    metadata?: { ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[] };
  }) =>
    o.metadata?.ownerReferences?.find(
      (r) => r.kind === 'BrokerPool' && r.name === 'default' && r.controller === true,
    )?.uid;

  const sts = await waitFor('the StatefulSet', () =>
    apps.readNamespacedStatefulSet({ name: 'default-broker', namespace: ns.name }),
  );
  expect(owned(sts)).toBe(pool.metadata?.uid);
  expect(sts.spec?.serviceName).toBe('default-broker-headless');
  expect(sts.spec?.template.spec?.topologySpreadConstraints?.[0]?.topologyKey).toBe(
    'topology.kubernetes.io/zone',
  );
  const container = sts.spec?.template.spec?.containers[0];
  // A secured pool (the default): kubelet's gRPC probe cannot speak TLS, /readyz answers instead.
  expect(container?.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'metrics' });
  expect(container?.env?.find((e) => e.name === 'HERALD_POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe(
    'metadata.name',
  );
  expect(container?.env?.find((e) => e.name === 'HERALD_MYSQL_URL')?.valueFrom?.secretKeyRef).toEqual({
    name: 'mysql',
    key: 'url',
  });

  const headless = await waitFor('the headless Service', () =>
    core.readNamespacedService({ name: 'default-broker-headless', namespace: ns.name }),
  );
  expect(headless.spec?.clusterIP).toBe('None');
  expect(owned(headless)).toBe(pool.metadata?.uid);
  const client = await waitFor('the client Service', () =>
    core.readNamespacedService({ name: 'default-broker', namespace: ns.name }),
  );
  expect(owned(client)).toBe(pool.metadata?.uid);
  const pdb = await waitFor('the PDB', () =>
    policy.readNamespacedPodDisruptionBudget({ name: 'default-broker', namespace: ns.name }),
  );
  expect(owned(pdb)).toBe(pool.metadata?.uid);
  const cm = await waitFor('the ConfigMap', () =>
    core.readNamespacedConfigMap({ name: 'default-broker-config', namespace: ns.name }),
  );
  expect(owned(cm)).toBe(pool.metadata?.uid);
  expect(cm.data?.['broker.json']).not.toContain('herald:herald'); // no secret in the ConfigMap

  await waitFor(
    '3 ready brokers in the pool status',
    async () => {
      const p = await getPool(ns.name, 'default');
      return p.status?.readyReplicas === 3 && condition(p, 'Ready')?.status === 'True' ? p : undefined;
    },
    { timeoutMs: 90_000 },
  );

  const topic = await waitReady(ns.name, 'orders');
  expect(condition(topic, 'StorageProvisioned')?.status).toBe('True');
  expect(condition(topic, 'PartitionsAssigned')?.status).toBe('True');
  expect(condition(topic, 'Ready')?.observedGeneration).toBe(topic.metadata?.generation);
  expect(topic.status?.observedGeneration).toBe(topic.metadata?.generation);
  expect(topic.metadata?.finalizers).toContain('herald.dev/finalizer');
  expect(await topicTables(ns.mysqlUrl, 'orders')).toEqual([
    'm_orders_0',
    'm_orders_1',
    'm_orders_2',
    'm_orders_3',
  ]);
  // The checkpoint names a broker for every partition.
  await waitFor('the assignment checkpoint', async () => {
    const t = await getTopic(ns.name, 'orders');
    return t.status?.assignment?.length === 4 ? t : undefined;
  });

  const get = await runTool('kubectl', ['-n', ns.name, 'get', 'topics']);
  expect(get.stdout.split('\n')[0]).toMatch(/NAME\s+PARTITIONS\s+STORAGE\s+POOL\s+READY\s+AGE/);
  expect(get.stdout).toMatch(/orders\s+4\s+mysql\s+default\s+True/);
  const all = await runTool('kubectl', ['-n', ns.name, 'get', 'herald']);
  expect(all.stdout).toContain('topic.herald.dev/orders');
});

test('partitions grow while the topic runs', async () => {
  await kubectlApply(ns.name, topicManifest('orders', 6));
  const topic = await waitFor('6 partitions provisioned and Ready', async () => {
    const t = await waitReady(ns.name, 'orders');
    return t.status?.provisionedPartitions === 6 && condition(t, 'Ready')?.observedGeneration === 2
      ? t
      : undefined;
  });
  expect(topic.metadata?.generation).toBe(2);
  expect(await topicTables(ns.mysqlUrl, 'orders')).toHaveLength(6);
  const events = await kube().core.listNamespacedEvent({
    namespace: ns.name,
    fieldSelector: 'involvedObject.name=orders',
  });
  expect(events.items.map((e) => e.reason)).toEqual(
    expect.arrayContaining(['StorageProvisioned', 'PartitionsAdded', 'Ready']),
  );
});

test('a ConsumerGroup registers, reports lag, and alerts with a Warning event (lag, then age by publish time)', async () => {
  const store = await createMysqlStore({
    url: ns.mysqlUrl,
    poolSize: 1,
    connectTimeoutMs: 2000,
    queryTimeoutMs: 10_000,
    logger: createLogger({ write: () => undefined }),
  });
  const message = { key: '', refKey: '', tags: [], properties: {}, body: Buffer.from('x'), priority: false };
  try {
    await kubectlApply(
      ns.name,
      `apiVersion: herald.dev/v1alpha1\nkind: ConsumerGroup\nmetadata: {name: billing}\nspec:\n  topic: orders\n  startFrom: earliest\n  alerts: {maxLagMessages: 2}\n`,
    );
    await waitFor('Registered and Ready', async () => {
      const g = await getGroup(ns.name, 'billing');
      return condition(g, 'Registered')?.status === 'True' && condition(g, 'Ready')?.status === 'True'
        ? g
        : undefined;
    });
    await store.messages.append(
      [{ ref: { topic: 'orders', partition: 1 }, firstOffset: 1, messages: [message, message, message] }],
      Date.now(),
    );
    const group = await waitFor('lag 3 and LagAlert', async () => {
      const g = await getGroup(ns.name, 'billing');
      return g.status?.totalLag === 3 && condition(g, 'LagAlert')?.status === 'True' ? g : undefined;
    });
    expect(group.status?.lag?.find((l) => l.partition === 1)?.messages).toBe(3);
    await waitFor('a Warning event', async () => {
      const events = await kube().core.listNamespacedEvent({
        namespace: ns.name,
        fieldSelector: 'involvedObject.name=billing',
      });
      return events.items.find((e) => e.type === 'Warning' && e.reason === 'LagTooHigh');
    });
    await store.messages.commitOffset('billing', { topic: 'orders', partition: 1 }, 3);
    await waitFor('the alert clears', async () => {
      const g = await getGroup(ns.name, 'billing');
      return g.status?.totalLag === 0 && condition(g, 'LagAlert')?.status === 'False' ? g : undefined;
    });

    // maxAgeSeconds against the stored publish time: one message stored two minutes ago (the
    // time the store keeps with it) is over a limit of 60 s at once, though it is new to the
    // operator; the lag (1) stays under maxLagMessages.
    const publishedAt = Date.now() - 120_000;
    await store.messages.append(
      [{ ref: { topic: 'orders', partition: 0 }, firstOffset: 1, messages: [message] }],
      publishedAt,
    );
    await runTool('kubectl', [
      '-n',
      ns.name,
      'patch',
      'consumergroup',
      'billing',
      '--type=merge',
      '-p',
      '{"spec":{"alerts":{"maxAgeSeconds":60}}}',
    ]);
    const old = await waitFor('LagAlert MessagesTooOld', async () => {
      const g = await getGroup(ns.name, 'billing');
      return condition(g, 'LagAlert')?.reason === 'MessagesTooOld' ? { g, seenAt: Date.now() } : undefined;
    });
    expect(old.g.status?.totalLag).toBe(1);
    const age = old.g.status?.lag?.find((l) => l.partition === 0)?.oldestAgeSeconds ?? 0;
    expect(age).toBeGreaterThanOrEqual(120);
    expect(age).toBeLessThanOrEqual((old.seenAt - publishedAt) / 1000);
    await waitFor('a Warning event MessagesTooOld', async () => {
      const events = await kube().core.listNamespacedEvent({
        namespace: ns.name,
        fieldSelector: 'involvedObject.name=billing',
      });
      return events.items.find((e) => e.type === 'Warning' && e.reason === 'MessagesTooOld');
    });
  } finally {
    await store.close();
  }
});

test('deletionPolicy delete drops the tables and removes the finalizer; retain keeps them', async () => {
  await kubectlApply(ns.name, topicManifest('doomed', 2, '  deletionPolicy: delete'));
  await kubectlApply(ns.name, topicManifest('kept', 2));
  await waitReady(ns.name, 'doomed');
  await waitReady(ns.name, 'kept');
  expect(await topicTables(ns.mysqlUrl, 'doomed')).toHaveLength(2);

  const del = await runTool('kubectl', ['-n', ns.name, 'delete', 'topic', 'doomed', 'kept', '--timeout=60s']);
  expect(del.code).toBe(0);
  const left = await runTool('kubectl', [
    '-n',
    ns.name,
    'get',
    'topic',
    'doomed',
    'kept',
    '--ignore-not-found',
  ]);
  expect(left.stdout.trim()).toBe('');
  expect(await topicTables(ns.mysqlUrl, 'doomed')).toEqual([]);
  expect(await topicTables(ns.mysqlUrl, 'kept')).toEqual(['m_kept_0', 'm_kept_1']);
});

test('the paused annotation stops reconciling', async () => {
  await kubectlApply(ns.name, topicManifest('paused', 1));
  await waitReady(ns.name, 'paused');
  await runTool('kubectl', ['-n', ns.name, 'annotate', 'topic', 'paused', 'herald.dev/paused=true']);
  await kubectlApply(ns.name, topicManifest('paused', 3));
  // Prove the operator saw the change: another topic applied afterwards becomes Ready first.
  await kubectlApply(ns.name, topicManifest('marker', 1));
  await waitReady(ns.name, 'marker');
  const t = await getTopic(ns.name, 'paused');
  expect(t.status?.provisionedPartitions).toBe(1);
  expect(await topicTables(ns.mysqlUrl, 'paused')).toHaveLength(1);
  await runTool('kubectl', ['-n', ns.name, 'annotate', 'topic', 'paused', 'herald.dev/paused-']);
  await waitFor('paused topic resumes', async () => {
    const r = await getTopic(ns.name, 'paused');
    return r.status?.provisionedPartitions === 3 ? r : undefined;
  });
});
