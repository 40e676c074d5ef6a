import type { V1ConfigMap, V1StatefulSet } from '@kubernetes/client-node';
import { brokerPoolObjects, desiredReplicas } from '../../../operator/controllers/broker-pool-objects';
import { alertOf } from '../../../operator/controllers/group-lag';
import type { BrokerPool, ConsumerGroup } from '../../../operator/gen/crds';
import { samplePool } from '../fixtures';

const pool = samplePool('ns', { resources: { requests: { cpu: '500m', memory: 268435456 } } });

test('a pool produces five owned objects; the MySQL URL stays in its Secret', () => {
  const objects = brokerPoolObjects(pool, { metaAddress: 'meta:7700', totalPartitions: 0 });
  expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
    'ConfigMap/main-broker-config',
    'StatefulSet/main-broker',
    'Service/main-broker-headless',
    'Service/main-broker',
    'PodDisruptionBudget/main-broker',
  ]);
  for (const o of objects) {
    expect(o.metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'herald.dev/v1alpha1',
        kind: 'BrokerPool',
        name: 'main',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  }
  const sts = objects[1] as V1StatefulSet;
  const container = sts.spec?.template.spec?.containers[0];
  expect(container?.env).toContainEqual({
    name: 'HERALD_MYSQL_URL',
    valueFrom: { secretKeyRef: { name: 'db', key: 'url' } },
  });
  expect(container?.resources).toEqual({ requests: { cpu: '500m', memory: '268435456' } });
  const config = JSON.parse((objects[0] as V1ConfigMap).data?.['broker.json'] ?? '{}') as Record<
    string,
    unknown
  >;
  expect(config).toEqual({
    listen: '0.0.0.0:7600',
    metricsListen: '0.0.0.0:9600',
    mysql: { url: '', poolSize: 16 },
    topics: [],
    meta: { address: 'meta:7700', namespace: 'ns', pool: 'main', leases: pool.spec.leases },
  });
  expect(container?.env).toContainEqual({
    name: 'HERALD_ADVERTISED_ADDRESS',
    value: '$(HERALD_POD_NAME).main-broker-headless.ns.svc:7600',
  });
  expect(JSON.stringify(config)).not.toContain('secret');
});

test('brokers run under the restricted Pod Security profile, without an API token', () => {
  const sts = brokerPoolObjects(pool, { metaAddress: 'meta:7700', totalPartitions: 0 })[1] as V1StatefulSet;
  const podSpec = sts.spec?.template.spec;
  expect(podSpec?.automountServiceAccountToken).toBe(false);
  expect(podSpec?.securityContext).toMatchObject({
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  expect(podSpec?.containers[0].securityContext).toEqual({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  });
});

test('a config change rolls the pods through the template hash', () => {
  const hash = (p: BrokerPool) =>
    (brokerPoolObjects(p, { metaAddress: 'm:1', totalPartitions: 0 })[1] as V1StatefulSet).spec?.template
      .metadata?.annotations?.['herald.dev/config-hash'];
  const longer = { ...pool, spec: { ...pool.spec, leases: { ...pool.spec.leases, brokerSeconds: 12 } } };
  expect(hash(pool)).not.toBe(hash(longer));
  expect(hash(pool)).toBe(hash(structuredClone(pool)));
});

test('autoscale sizes the pool from its partitions within min and max', () => {
  const auto = {
    ...pool,
    spec: { ...pool.spec, autoscale: { minReplicas: 2, maxReplicas: 5, partitionsPerBroker: 64 } },
  };
  expect(desiredReplicas(pool, 10_000)).toBe(3);
  expect(desiredReplicas(auto, 0)).toBe(2);
  expect(desiredReplicas(auto, 200)).toBe(4);
  expect(desiredReplicas(auto, 10_000)).toBe(5);
});

test('alerts: maximum lag first, then maximum age', () => {
  const group = (
    alerts?: Omit<NonNullable<ConsumerGroup['spec']['alerts']>, 'offlineSeconds'>,
  ): ConsumerGroup => ({
    spec: {
      topic: 't',
      mode: 'clustering',
      startFrom: 'latest',
      ordering: 'concurrent',
      retry: { maxRetries: 16 },
      deadLetter: { enabled: true, retentionHours: 336 },
      ackTimeoutSeconds: 30,
      maxInFlight: 1000,
      broadcast: { offsetRetentionSeconds: 86400 },
      alerts: alerts && { offlineSeconds: 60, ...alerts },
    },
  });
  const lag = [
    { partition: 0, messages: 3, oldestAgeSeconds: 100 },
    { partition: 1, messages: 0 },
  ];
  expect(alertOf(group(undefined), lag)).toBeUndefined();
  expect(alertOf(group({ maxLagMessages: 2 }), lag)?.reason).toBe('LagTooHigh');
  expect(alertOf(group({ maxLagMessages: 3, maxAgeSeconds: 60 }), lag)?.reason).toBe('MessagesTooOld');
  expect(alertOf(group({ maxLagMessages: 3, maxAgeSeconds: 100 }), lag)).toBeUndefined();
});
