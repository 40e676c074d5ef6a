// Objects several unit tests start from, written once.
import type { BrokerPool } from '../../operator/gen/crds';
import type { StoredMessage } from '../../storage/storage';

/** A stored message with an empty key and a body of `size` zero bytes. */
export function storedMessage(offset: number, size = 10): StoredMessage {
  return {
    offset,
    publishedAt: 0,
    key: '',
    refKey: '',
    tags: [],
    properties: {},
    priority: false,
    body: Buffer.alloc(size),
  };
}

/** A BrokerPool "main" as the apiserver returns it, defaults filled in. */
export function samplePool(namespace: string, extraSpec: Partial<BrokerPool['spec']> = {}): BrokerPool {
  return {
    apiVersion: 'herald.dev/v1alpha1',
    kind: 'BrokerPool',
    metadata: { name: 'main', namespace, uid: 'uid-1' },
    spec: {
      replicas: 3,
      image: 'herald/broker:1',
      imagePullPolicy: 'IfNotPresent',
      storage: { mysql: { secretRef: { name: 'db', key: 'url' }, poolSize: 16 } },
      zoneSpread: {
        topologyKey: 'topology.kubernetes.io/zone',
        maxSkew: 1,
        whenUnsatisfiable: 'ScheduleAnyway',
      },
      leases: { brokerSeconds: 10, consumerSeconds: 20, safetyMarginSeconds: 2 },
      grpcPort: 7600,
      metricsPort: 9600,
      httpPort: 7680,
      maxUnavailable: 1,
      security: {
        tls: { enabled: true, metrics: false },
        authentication: true,
        authorization: true,
        reviewCacheSeconds: 10,
      },
      ...extraSpec,
    },
  };
}
