import type { V1ConfigMap, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import {
  brokerCertificateRequest,
  brokerPoolObjects,
  brokerRbacObjects,
  desiredReplicas,
} from '../../../operator/controllers/broker-pool-objects';
import { alertOf } from '../../../operator/controllers/group-lag';
import type { BrokerPool, ConsumerGroup } from '../../../operator/gen/crds';
import { samplePool } from '../fixtures';

const pool = samplePool('ns', { resources: { requests: { cpu: '500m', memory: 268435456 } } });

test("a pool's memory limit sizes the broker's V8 heap (NODE_OPTIONS)", () => {
  const limited = samplePool('ns', { resources: { limits: { memory: '512Mi' } } });
  const sts = brokerPoolObjects(limited, {
    metaAddress: 'meta:7700',
    totalPartitions: 0,
    metaPlaintext: false,
  })[1] as V1StatefulSet;
  expect(sts.spec?.template.spec?.containers[0].env).toContainEqual({
    name: 'NODE_OPTIONS',
    value: '--max-old-space-size=256',
  });
  const bad = samplePool('ns', { resources: { limits: { memory: '500m' } } });
  expect(() =>
    brokerPoolObjects(bad, { metaAddress: 'meta:7700', totalPartitions: 0, metaPlaintext: false }),
  ).toThrow(/spec\.resources\.limits\.memory must be a memory quantity/);
});

test('a pool produces six owned objects; the MySQL URL and the TLS key stay in their Secrets', () => {
  const objects = brokerPoolObjects(pool, {
    metaAddress: 'meta:7700',
    totalPartitions: 0,
    metaPlaintext: false,
  });
  expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
    'ConfigMap/main-broker-config',
    'StatefulSet/main-broker',
    'Service/main-broker-headless',
    'Service/main-broker',
    'PodDisruptionBudget/main-broker',
    'ServiceAccount/main-broker',
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
  // No memory limit: V8 sizes its heap itself.
  expect(container?.env?.map((e) => e.name)).not.toContain('NODE_OPTIONS');
  const config = JSON.parse((objects[0] as V1ConfigMap).data?.['broker.json'] ?? '{}') as Record<
    string,
    unknown
  >;
  expect(config).toEqual({
    listen: '0.0.0.0:7600',
    metricsListen: '0.0.0.0:9600',
    httpListen: '0.0.0.0:7680',
    mysql: { url: '', poolSize: 16 },
    topics: [],
    meta: { address: 'meta:7700', namespace: 'ns', pool: 'main', leases: pool.spec.leases },
    security: {
      tls: {
        caFile: '/etc/herald/tls/ca.crt',
        certFile: '/etc/herald/tls/tls.crt',
        keyFile: '/etc/herald/tls/tls.key',
      },
      metricsTls: false,
      authentication: true,
      authorization: true,
      reviewCacheMs: 10_000,
    },
  });
  expect(container?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
  expect(sts.spec?.template.spec?.volumes).toContainEqual({
    name: 'tls',
    secret: { secretName: 'main-broker-tls', defaultMode: 0o440 },
  });
  expect(container?.volumeMounts).toContainEqual({
    name: 'tls',
    mountPath: '/etc/herald/tls',
    readOnly: true,
  });
  expect(container?.env).toContainEqual({
    name: 'HERALD_ADVERTISED_ADDRESS',
    value: '$(HERALD_POD_NAME).main-broker-headless.ns.svc:7600',
  });
  expect(JSON.stringify(config)).not.toContain('secret');
});

test('with tls.metrics the brokers serve /metrics over HTTPS and are probed with scheme HTTPS', () => {
  const pool = samplePool('ns', {
    security: {
      tls: { enabled: true, metrics: true },
      authentication: true,
      authorization: true,
      reviewCacheSeconds: 10,
    },
  });
  const objects = brokerPoolObjects(pool, {
    metaAddress: 'meta:7700',
    totalPartitions: 0,
    metaPlaintext: false,
  });
  const config = JSON.parse((objects[0] as V1ConfigMap).data?.['broker.json'] ?? '{}') as {
    security: { metricsTls?: boolean };
  };
  expect(config.security.metricsTls).toBe(true);
  expect((objects[1] as V1StatefulSet).spec?.template.spec?.containers[0].readinessProbe?.httpGet).toEqual({
    path: '/readyz',
    port: 'metrics',
    scheme: 'HTTPS',
  });
});

test('brokers run under the restricted Pod Security profile; an API token only with authentication', () => {
  const open = samplePool('ns', {
    security: {
      tls: { enabled: false, metrics: false },
      authentication: false,
      authorization: false,
      reviewCacheSeconds: 10,
    },
  });
  const objects = brokerPoolObjects(open, {
    metaAddress: 'meta:7700',
    totalPartitions: 0,
    metaPlaintext: true,
  });
  const plain = objects[1] as V1StatefulSet;
  expect(plain.spec?.template.spec?.automountServiceAccountToken).toBe(false);
  expect(plain.spec?.template.spec?.serviceAccountName).toBeUndefined();
  expect(plain.spec?.template.spec?.containers[0].readinessProbe).toMatchObject({ grpc: { port: 7600 } });
  expect(objects.map((o) => o.kind)).not.toContain('ServiceAccount');
  const config = JSON.parse((objects[0] as V1ConfigMap).data?.['broker.json'] ?? '{}') as {
    meta: { plaintext?: boolean };
    security: { tls?: unknown };
  };
  expect(config.meta.plaintext).toBe(true);
  expect(config.security.tls).toBeUndefined();

  const sts = brokerPoolObjects(pool, {
    metaAddress: 'meta:7700',
    totalPartitions: 0,
    metaPlaintext: false,
  })[1] as V1StatefulSet;
  const podSpec = sts.spec?.template.spec;
  expect(podSpec?.serviceAccountName).toBe('main-broker');
  expect(podSpec?.automountServiceAccountToken).toBe(true);
  // kubelet's gRPC probe cannot speak TLS.
  expect(podSpec?.containers[0].readinessProbe).toMatchObject({
    httpGet: { path: '/readyz', port: 'metrics' },
  });
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

test("the REST gateway's port is on the pods and on both Services", () => {
  const objects = brokerPoolObjects(pool, { metaAddress: 'm:1', totalPartitions: 0, metaPlaintext: false });
  const container = (objects[1] as V1StatefulSet).spec?.template.spec?.containers[0];
  expect(container?.ports).toContainEqual({ name: 'http', containerPort: 7680, protocol: 'TCP' });
  const [headless, client] = [objects[2], objects[3]] as V1Service[];
  for (const svc of [headless, client])
    expect(svc.spec?.ports).toContainEqual({ name: 'http', port: 7680, targetPort: 'http', protocol: 'TCP' });
  expect(client.spec?.ports?.map((p) => p.name)).toEqual(['grpc', 'http']);
});

test('a config change rolls the pods through the template hash', () => {
  const hash = (p: BrokerPool) =>
    (
      brokerPoolObjects(p, {
        metaAddress: 'm:1',
        totalPartitions: 0,
        metaPlaintext: false,
      })[1] as V1StatefulSet
    ).spec?.template.metadata?.annotations?.['herald.dev/config-hash'];
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

test("the brokers' RBAC: one ClusterRole with only what they call, one binding per namespace of its secured pools", () => {
  const secured = samplePool('shop');
  const other = { ...samplePool('shop'), metadata: { name: 'bulk', namespace: 'shop', uid: 'uid-2' } };
  const open = {
    ...samplePool('shop', {
      security: {
        tls: { enabled: true, metrics: false },
        authentication: false,
        authorization: false,
        reviewCacheSeconds: 10,
      },
    }),
    metadata: { name: 'open', namespace: 'shop', uid: 'uid-3' },
  };
  const { role, binding, bindingName } = brokerRbacObjects('shop', [secured, other, open]);
  expect(role.rules).toEqual([
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    {
      apiGroups: ['herald.dev'],
      resources: ['accesspolicies', 'heraldusers'],
      verbs: ['get', 'list', 'watch'],
    },
  ]);
  expect(bindingName).toBe('herald-broker:shop');
  expect(binding?.roleRef.name).toBe(role.metadata?.name);
  expect(binding?.subjects).toEqual([
    { kind: 'ServiceAccount', name: 'bulk-broker', namespace: 'shop' },
    { kind: 'ServiceAccount', name: 'main-broker', namespace: 'shop' },
  ]);
  expect(brokerRbacObjects('shop', [open]).binding).toBeUndefined();
});

test("the pool's certificate names its pods (wildcard under the headless Service) and its client Service", () => {
  const request = brokerCertificateRequest(samplePool('shop'));
  expect(request.commonName).toBe('herald:server:broker:shop:main');
  expect(request.server).toBe(true);
  expect(request.dnsNames).toEqual(
    expect.arrayContaining(['*.main-broker-headless.shop.svc', 'main-broker.shop.svc', 'main-broker']),
  );
});
