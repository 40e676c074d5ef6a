// What a BrokerPool should produce, as plain objects: a StatefulSet, a headless Service (stable
// pod DNS), a client Service, a PodDisruptionBudget, a ConfigMap and (with authentication) the
// brokers' ServiceAccount, each owned by the pool; the request for the pool's certificate; and
// the cluster-wide RBAC the brokers of a namespace need (TokenReviews; reading AccessPolicies and
// HeraldUsers). Pure; the controller applies them only when they differ from what exists.
import { createHash } from 'node:crypto';
import type {
  KubernetesObject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1ConfigMap,
  V1ServiceAccount,
  V1OwnerReference,
  V1PodDisruptionBudget,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { BrokerOptionsInput } from '../../common/broker-options';
import { brokerHeapFlags, memoryBytes } from '../../common/broker-heap';
import type { BrokerPool } from '../gen/crds';
import { AccessPolicyResource, HeraldUserResource } from '../../common/gen/crds';
import { brokerServerSubject } from '../../common/security/authenticator';
import type { LeafRequest } from '../ca/ca';

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'herald-operator' };
const POOL_LABEL = 'herald.dev/pool';
export const CONFIG_FILE = 'broker.json';
/** Where the pool's TLS Secret (tls.crt, tls.key, ca.crt) is mounted in the broker pods. */
export const TLS_DIR = '/etc/herald/tls';
/** The ClusterRole every broker ServiceAccount is bound to (brokerRbacObjects). */
export const BROKER_CLUSTER_ROLE = 'herald-broker';
/** How long a pool's broker certificate lives (renewed at two thirds). */
export const BROKER_CERT_DAYS = 90;

export interface PoolObjectOptions {
  /** Where brokers reach the meta-server (the operator's meta Service in a cluster). */
  metaAddress: string;
  /** Partitions of all topics in the pool, for autoscale. */
  totalPartitions: number;
  /** The meta-server listens without TLS: brokers reach it in plain text (meta.plaintext). */
  metaPlaintext: boolean;
}

/** The ConfigMap's broker.json: the broker's options, and the pool's lease-mode settings. */
export type BrokerPoolConfig = BrokerOptionsInput & {
  meta: {
    address: string;
    namespace: string;
    pool: string;
    leases: BrokerPool['spec']['leases'];
    plaintext?: boolean;
  };
};

export const names = (pool: string) => ({
  statefulSet: `${pool}-broker`,
  headless: `${pool}-broker-headless`,
  client: `${pool}-broker`,
  pdb: `${pool}-broker`,
  config: `${pool}-broker-config`,
  serviceAccount: `${pool}-broker`,
  /** The Secret the operator issues the pool's certificate into (unless tls.secretName is set). */
  tls: `${pool}-broker-tls`,
});

/** spec.security's schema default (the CRD's; test/unit/common/crd-defaults.test.ts holds them equal). */
export const POOL_SECURITY_DEFAULTS: BrokerPool['spec']['security'] = {
  tls: { enabled: true, metrics: false },
  authentication: true,
  authorization: true,
  reviewCacheSeconds: 10,
};

/**
 * A pool's security settings. A pool stored before the CRD had spec.security has none (helm
 * never upgrades the CRDs of crds/, so a new operator may meet an old schema): it gets the
 * schema's defaults, as the apiserver would give it under the new CRD.
 */
export function securityOf(pool: BrokerPool): BrokerPool['spec']['security'] {
  const stored: BrokerPool['spec']['security'] | undefined = pool.spec.security;
  return stored ?? POOL_SECURITY_DEFAULTS;
}

/** The Secret the pool's brokers take their TLS files from, or undefined without TLS. */
export function tlsSecretOf(pool: BrokerPool): string | undefined {
  const tls = securityOf(pool).tls;
  return tls.enabled ? (tls.secretName ?? names(pool.metadata?.name ?? '').tls) : undefined;
}

/**
 * The pool's broker certificate: CN herald:server:broker:<ns>:<pool>, for every pod's name under
 * the headless Service (a wildcard, since a StatefulSet mounts one Secret in all its pods) and
 * the client Service's names. Server and client use: brokers present it to each other and to the
 * meta-server.
 */
export function brokerCertificateRequest(pool: BrokerPool): LeafRequest {
  const name = pool.metadata?.name ?? '';
  const ns = pool.metadata?.namespace ?? '';
  const n = names(name);
  return {
    commonName: brokerServerSubject(ns, name),
    dnsNames: [
      `*.${n.headless}.${ns}.svc`,
      `*.${n.headless}.${ns}.svc.cluster.local`,
      n.client,
      `${n.client}.${ns}`,
      `${n.client}.${ns}.svc`,
      `${n.client}.${ns}.svc.cluster.local`,
    ],
    server: true,
    days: BROKER_CERT_DAYS,
  };
}

/**
 * What brokers with authentication need from the API, and no more: TokenReviews (cluster-scoped),
 * and reading AccessPolicies and HeraldUsers (watched in every namespace, since a policy may name
 * users of another). One ClusterRole for all, and one ClusterRoleBinding per namespace listing
 * the ServiceAccounts of its pools with authentication (undefined when there are none: delete it).
 */
export function brokerRbacObjects(
  namespace: string,
  pools: BrokerPool[],
): { role: V1ClusterRole; binding: V1ClusterRoleBinding | undefined; bindingName: string } {
  const role: V1ClusterRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: BROKER_CLUSTER_ROLE, labels: { ...MANAGED_BY } },
    rules: [
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      {
        apiGroups: [AccessPolicyResource.group],
        resources: [AccessPolicyResource.plural, HeraldUserResource.plural],
        verbs: ['get', 'list', 'watch'],
      },
    ],
  };
  const bindingName = `${BROKER_CLUSTER_ROLE}:${namespace}`;
  const subjects = pools
    .filter((p) => securityOf(p).authentication && !p.metadata?.deletionTimestamp)
    .map((p) => ({ kind: 'ServiceAccount', name: names(p.metadata?.name ?? '').serviceAccount, namespace }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const binding: V1ClusterRoleBinding | undefined =
    subjects.length === 0
      ? undefined
      : {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: bindingName, labels: { ...MANAGED_BY } },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: BROKER_CLUSTER_ROLE },
          subjects,
        };
  return { role, binding, bindingName };
}

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
  const security = securityOf(pool);
  const tlsSecret = tlsSecretOf(pool);

  // The broker's own config file (BrokerOptions, broker/options.ts) plus what lease mode needs.
  // No secret goes in here: the MySQL URL reaches the pods as HERALD_MYSQL_URL from the
  // Secret, which broker/main.ts puts into mysql.url; the TLS files are the mounted Secret's,
  // named by path. Topics come from the meta-server.
  const config: BrokerPoolConfig = {
    listen: `0.0.0.0:${spec.grpcPort}`,
    metricsListen: `0.0.0.0:${spec.metricsPort}`,
    httpListen: `0.0.0.0:${spec.httpPort}`,
    mysql: { url: '', ...(spec.storage.mysql ? { poolSize: spec.storage.mysql.poolSize } : {}) },
    topics: [],
    meta: {
      address: options.metaAddress,
      namespace,
      pool: name,
      leases: spec.leases,
      ...(options.metaPlaintext ? { plaintext: true } : {}),
    },
    ...(spec.storage.kafka ? { kafka: { bootstrapServers: spec.storage.kafka.bootstrapServers } } : {}),
    security: {
      ...(tlsSecret
        ? {
            tls: {
              caFile: `${TLS_DIR}/ca.crt`,
              certFile: `${TLS_DIR}/tls.crt`,
              keyFile: `${TLS_DIR}/tls.key`,
            },
          }
        : {}),
      metricsTls: Boolean(tlsSecret) && security.tls.metrics,
      authentication: security.authentication,
      authorization: security.authorization,
      reviewCacheMs: security.reviewCacheSeconds * 1000,
    },
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
  const limit = spec.resources?.limits?.memory;
  const memoryLimit = limit === undefined ? undefined : memoryBytes(limit, 'spec.resources.limits.memory');
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
          // With authentication brokers call the Kubernetes API (TokenReviews, the access rules'
          // watches) as their own ServiceAccount; without it they never do. Either way they run
          // under the restricted Pod Security profile.
          ...(security.authentication
            ? { serviceAccountName: n.serviceAccount, automountServiceAccountToken: true }
            : { automountServiceAccountToken: false }),
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
                // V8's heap follows the container's memory limit (common/broker-heap.ts).
                ...(memoryLimit !== undefined
                  ? [{ name: 'NODE_OPTIONS', value: brokerHeapFlags(memoryLimit).join(' ') }]
                  : []),
                ...(mysqlRef
                  ? [
                      {
                        name: 'HERALD_MYSQL_URL',
                        valueFrom: { secretKeyRef: { name: mysqlRef.name, key: mysqlRef.key } },
                      },
                    ]
                  : []),
              ],
              // kubelet's gRPC probes speak plain text only: with TLS, readiness is the broker's
              // serving state on the metrics listener (/readyz; HTTPS with tls.metrics, which
              // kubelet does not verify) and liveness its gRPC port.
              ...(tlsSecret
                ? {
                    readinessProbe: {
                      httpGet: {
                        path: '/readyz',
                        port: 'metrics',
                        ...(security.tls.metrics ? { scheme: 'HTTPS' } : {}),
                      },
                      periodSeconds: 5,
                      failureThreshold: 2,
                    },
                    livenessProbe: { tcpSocket: { port: 'grpc' }, periodSeconds: 10, failureThreshold: 6 },
                  }
                : {
                    readinessProbe: { grpc: { port: spec.grpcPort }, periodSeconds: 5, failureThreshold: 2 },
                    livenessProbe: { grpc: { port: spec.grpcPort }, periodSeconds: 10, failureThreshold: 6 },
                  }),
              ...(spec.resources
                ? {
                    resources: {
                      requests: quantities(spec.resources.requests),
                      limits: quantities(spec.resources.limits),
                    },
                  }
                : {}),
              volumeMounts: [
                { name: 'config', mountPath: '/etc/herald', readOnly: true },
                ...(tlsSecret ? [{ name: 'tls', mountPath: TLS_DIR, readOnly: true }] : []),
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: n.config } },
            ...(tlsSecret ? [{ name: 'tls', secret: { secretName: tlsSecret, defaultMode: 0o440 } }] : []),
          ],
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
  const serviceAccount: V1ServiceAccount = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(n.serviceAccount),
    automountServiceAccountToken: false,
  };
  return [
    configMap,
    statefulSet,
    headless,
    client,
    pdb,
    ...(security.authentication ? [serviceAccount] : []),
  ];
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
