// What every controller reads and writes through: the informers' caches, the API clients, the
// event recorder, the meta-server core and the pools' message stores.
import type {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObject,
  KubernetesObjectApi,
  V1ConfigMap,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { Logger } from '../../common/logger';
import type { BrokerPool, ConsumerGroup, Topic } from '../gen/crds';
import type { AccessPolicy, HeraldUser } from '../../common/gen/crds';
import type { CaKeeper } from '../ca/ca-secret';
import type { Reflector } from '../../common/kube/reflector';
import type { MetaCore } from '../meta/meta-core';
import type { KafkaTopicStorage } from '../storage/kafka-topics';
import type { TopicStorage } from '../storage/topic-storage';
import type { EventRecorder } from './events';
import type { GovernanceMetrics } from '../metrics';

export const PAUSED_ANNOTATION = 'herald.dev/paused';
export const FINALIZER = 'herald.dev/finalizer';

export interface ControllerContext {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  objects: KubernetesObjectApi;
  events: EventRecorder;
  logger: Logger;
  meta: MetaCore;
  /** The governance gauges (each ConsumerGroup's backlog as its resync read it). */
  metrics: GovernanceMetrics;
  /** The message store of a pool's MySQL database (by the URL in the pool's Secret). */
  storage(pool: BrokerPool): Promise<TopicStorage>;
  /** The operator's certificate authority. */
  ca: CaKeeper;
  /** A pool's Kafka: its topics, and the groups' offsets of Kafka topics. */
  kafka(pool: BrokerPool): Promise<KafkaTopicStorage>;
  caches: {
    pools: Reflector<BrokerPool>;
    topics: Reflector<Topic>;
    groups: Reflector<ConsumerGroup>;
    statefulSets: Reflector<V1StatefulSet>;
    services: Reflector<V1Service>;
    pdbs: Reflector<V1PodDisruptionBudget>;
    configMaps: Reflector<V1ConfigMap>;
    users: Reflector<HeraldUser>;
    policies: Reflector<AccessPolicy>;
    /** The HeraldUsers' credential Secrets (label herald.dev/user). */
    userSecrets: Reflector<V1Secret>;
    /** Every Secret of the watched namespaces: push groups' signing keys and CA bundles. */
    secrets: Reflector<V1Secret>;
  };
  options: {
    metaAddress: string;
    /** The meta-server listens without TLS (brokers are told so: meta.plaintext). */
    metaPlaintext: boolean;
    /** How often a ConsumerGroup's lag is read. */
    lagIntervalMs: number;
    /** How often a Topic whose partitions are not all assigned is looked at again. */
    assignmentPollMs: number;
  };
}

export const isPaused = (obj: KubernetesObject) => obj.metadata?.annotations?.[PAUSED_ANNOTATION] === 'true';

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
