// What a BrokerPool should produce, as plain objects: a StatefulSet, a headless Service (stable
// pod DNS), a client Service, a PodDisruptionBudget and a ConfigMap, each owned by the pool.
// Pure; the controller applies them only when they differ from what exists.
import { createHash } from 'node:crypto';
import type {
  KubernetesObject,
  V1ConfigMap,
  V1OwnerReference,
  V1PodDisruptionBudget,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { BrokerOptionsInput } from '../../common/broker-options';
import type { BrokerPool } from '../gen/crds';

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'herald-operator' };
const POOL_LABEL = 'herald.dev/pool';
export const CONFIG_FILE = 'broker.json';

export interface PoolObjectOptions {
  /** Where brokers reach the meta-server (the operator's meta Service in a cluster). */
  metaAddress: string;
  /** Partitions of all topics in the pool, for autoscale. */
  totalPartitions: number;
}

/** The ConfigMap's broker.json: the broker's options, and the pool's lease-mode settings. */
export type BrokerPoolConfig = BrokerOptionsInput & {
  meta: { address: string; namespace: string; pool: string; leases: BrokerPool['spec']['leases'] };
};

export const names = (pool: string) => ({
  statefulSet: `${pool}-broker`,
  headless: `${pool}-broker-headless`,
  client: `${pool}-broker`,
  pdb: `${pool}-broker`,
  config: `${pool}-broker-config`,
});

/** Brokers the pool should run: spec.replicas, or from partitions under autoscale. */
export function desiredReplicas(pool: BrokerPool, totalPartitions: number): number {
  const auto = pool.spec.autoscale;
  if (!auto) return pool.spec.replicas;
  const wanted = Math.ceil(totalPartitions / auto.partitionsPerBroker);
  return Math.min(auto.maxReplicas, Math.max(auto.minReplicas, wanted));
}

export function ownerReference(pool: BrokerPool): V1OwnerReference {
  return {
    apiVersion: 'herald.dev/v1alpha1',
    kind: 'BrokerPool',
    name: pool.metadata?.name ?? '',
    uid: pool.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function brokerPoolObjects(pool: BrokerPool, options: PoolObjectOptions): KubernetesObject[] {
  const name = pool.metadata?.name ?? '';
  const namespace = pool.metadata?.namespace ?? '';
  const n = names(name);
  const selector = { 'app.kubernetes.io/name': 'herald-broker', 'app.kubernetes.io/instance': name };
  const labels = { ...selector, ...MANAGED_BY, [POOL_LABEL]: name };
  const meta = (objName: string) => ({
    name: objName,
    namespace,
    labels,
    ownerReferences: [ownerReference(pool)],
  });
  const { spec } = pool;

  // The broker's own config file (BrokerOptions, broker/options.ts) plus what lease mode needs.
  // No secret goes in here: the MySQL URL reaches the pods as HERALD_MYSQL_URL from the
  // Secret, which broker/main.ts puts into mysql.url. Topics come from the meta-server.
  const config: BrokerPoolConfig = {
    listen: `0.0.0.0:${spec.grpcPort}`,
    metricsListen: `0.0.0.0:${spec.metricsPort}`,
    httpListen: `0.0.0.0:${spec.httpPort}`,
    mysql: { url: '', ...(spec.storage.mysql ? { poolSize: spec.storage.mysql.poolSize } : {}) },
    topics: [],
    meta: { address: options.metaAddress, namespace, pool: name, leases: spec.leases },
    ...(spec.storage.kafka ? { kafka: { bootstrapServers: spec.storage.kafka.bootstrapServers } } : {}),
  };
  const configJson = JSON.stringify(config, null, 2);
  const configHash = createHash('sha256').update(configJson).digest('hex').slice(0, 16);

  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(n.config),
    data: { [CONFIG_FILE]: configJson },
  };

  const fieldEnv = (envName: string, fieldPath: string) => ({
    name: envName,
    valueFrom: { fieldRef: { fieldPath } },
  });
  const mysqlRef = spec.storage.mysql?.secretRef;
  const statefulSet: V1StatefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(n.statefulSet),
    spec: {
      replicas: desiredReplicas(pool, options.totalPartitions),
      serviceName: n.headless,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selector },
      template: {
        metadata: { labels, annotations: { 'herald.dev/config-hash': configHash } },
        spec: {
          terminationGracePeriodSeconds: 30,
          // Brokers never call the Kubernetes API, and run under the restricted Pod Security profile.
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            runAsGroup: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          topologySpreadConstraints: [
            {
              maxSkew: spec.zoneSpread.maxSkew,
              topologyKey: spec.zoneSpread.topologyKey,
              whenUnsatisfiable: spec.zoneSpread.whenUnsatisfiable,
              labelSelector: { matchLabels: selector },
            },
          ],
          containers: [
            {
              name: 'broker',
              image: spec.image,
              imagePullPolicy: spec.imagePullPolicy,
              args: ['--config', `/etc/herald/${CONFIG_FILE}`],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              ports: [
                { name: 'grpc', containerPort: spec.grpcPort, protocol: 'TCP' },
                { name: 'metrics', containerPort: spec.metricsPort, protocol: 'TCP' },
                { name: 'http', containerPort: spec.httpPort, protocol: 'TCP' },
              ],
              env: [
                fieldEnv('HERALD_POD_NAME', 'metadata.name'),
                fieldEnv('HERALD_POD_NAMESPACE', 'metadata.namespace'),
                fieldEnv('HERALD_POD_IP', 'status.podIP'),
                fieldEnv('HERALD_NODE_NAME', 'spec.nodeName'),
                // Stable per pod through the headless Service; expanded by the kubelet.
                {
                  name: 'HERALD_ADVERTISED_ADDRESS',
                  value: `$(HERALD_POD_NAME).${n.headless}.${namespace}.svc:${spec.grpcPort}`,
                },
                ...(mysqlRef
                  ? [
                      {
                        name: 'HERALD_MYSQL_URL',
                        valueFrom: { secretKeyRef: { name: mysqlRef.name, key: mysqlRef.key } },
                      },
                    ]
                  : []),
              ],
              readinessProbe: { grpc: { port: spec.grpcPort }, periodSeconds: 5, failureThreshold: 2 },
              livenessProbe: { grpc: { port: spec.grpcPort }, periodSeconds: 10, failureThreshold: 6 },
              ...(spec.resources
                ? {
                    resources: {
                      requests: quantities(spec.resources.requests),
                      limits: quantities(spec.resources.limits),
                    },
                  }
                : {}),
              volumeMounts: [{ name: 'config', mountPath: '/etc/herald', readOnly: true }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: n.config } }],
        },
      },
    },
  };

  // What clients call: gRPC and the REST gateway.
  const ports = [
    { name: 'grpc', port: spec.grpcPort, targetPort: 'grpc', protocol: 'TCP' },
    { name: 'http', port: spec.httpPort, targetPort: 'http', protocol: 'TCP' },
  ];
  const headless: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(n.headless),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector,
      ports: [...ports, { name: 'metrics', port: spec.metricsPort, targetPort: 'metrics', protocol: 'TCP' }],
    },
  };
  const client: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(n.client),
    spec: { type: 'ClusterIP', selector, ports },
  };
  const pdb: V1PodDisruptionBudget = {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(n.pdb),
    spec: { maxUnavailable: spec.maxUnavailable, selector: { matchLabels: selector } },
  };
  return [configMap, statefulSet, headless, client, pdb];
}

/** Quantities as the core API types them (strings); integers become their decimal form. */
function quantities(
  values: Record<string, number | string | undefined> | undefined,
): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = String(v);
  return out;
}
