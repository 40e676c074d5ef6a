// The one mapping from Herald's custom resources to the meta-server's view: a Topic becomes a
// TopicInfo (what GetRoutes and ListTopics answer), a ConsumerGroup a GroupInfo with the
// delivery policy brokers apply (herald.v1.GroupPolicy), a BrokerPool its lease durations, and
// the checkpoints in their status the entries a new leader restores. The controllers and leader
// restore both call these, so a restored meta-server carries the same features as a reconciled
// one. Pure. The return types are Required<...>: a field the meta-server gains must be mapped here.
import type { GroupPolicy__Input } from '../../proto/gen/herald/v1/GroupPolicy';
import type { PushPolicy__Input } from '../../proto/gen/herald/v1/PushPolicy';
import type { BrokerPool, ConsumerGroup, ConsumerGroupSpec, Topic } from '../gen/crds';

type ConsumerGroupPush = NonNullable<ConsumerGroupSpec['push']>;
import { isTrue } from '../reconcile/conditions';
import type { CheckpointEntry, GroupInfo, PoolInfo, TopicInfo } from './meta-core';

/**
 * A Topic as the meta-server serves it, with `partitions` provisioned in storage (by default
 * status.provisionedPartitions, which may lag spec.partitions while the topic grows).
 */
export function topicInfoOf(
  topic: Topic,
  partitions = topic.status?.provisionedPartitions ?? topic.spec.partitions,
): Required<TopicInfo> {
  const { spec } = topic;
  return {
    namespace: topic.metadata?.namespace ?? '',
    name: topic.metadata?.name ?? '',
    pool: spec.pool,
    partitions,
    maxMessageBytes: spec.maxMessageBytes,
    storage: spec.storage,
    priority: spec.priority,
    delay: spec.delay,
    retentionHours: spec.retention.hours,
    rateLimit: spec.rateLimit ?? null,
    owner: spec.owner ?? '',
    contact: spec.contact ?? '',
  };
}

/** What a push group's Secrets hold: the signing key and the CA bundle (spec.push.caSecretRef). */
export interface PushSecrets {
  signingKey: Buffer;
  caPem?: string;
}

/**
 * The policy brokers apply (herald.v1.GroupPolicy) from a ConsumerGroup's spec; spec.push only
 * with the signing key read from its Secret (a group without one is not pushed).
 */
export function groupPolicyOf(spec: ConsumerGroupSpec, secrets?: PushSecrets): Required<GroupPolicy__Input> {
  return {
    tagFilter: spec.tagFilter ?? '',
    retryDelaysSeconds: spec.retry.delaysSeconds ?? [],
    exponential: spec.retry.exponential ?? null,
    maxRetries: spec.retry.maxRetries,
    deadLetter: spec.deadLetter.enabled,
    ordered: spec.ordering === 'ordered',
    ackTimeoutMs: spec.ackTimeoutSeconds * 1000,
    maxInFlight: spec.maxInFlight,
    startFrom: spec.startFrom,
    push: spec.push && secrets ? pushPolicyOf(spec.push, secrets) : null,
  };
}

function pushPolicyOf(push: ConsumerGroupPush, secrets: PushSecrets): Required<PushPolicy__Input> {
  return {
    url: push.url,
    timeoutMs: push.timeoutMs,
    maxInFlight: push.maxInFlight,
    rate: push.rate,
    headers: Object.fromEntries(
      Object.entries(push.headers ?? {}).filter((h): h is [string, string] => h[1] !== undefined),
    ),
    batchMaxMessages: push.batch.maxMessages,
    batchMaxDelayMs: push.batch.maxDelayMs,
    batchMaxBytes: push.batch.maxBytes,
    signingKeyId: push.signingSecretRef.keyId || push.signingSecretRef.name,
    signingKey: secrets.signingKey,
    retryClientErrors: push.retryClientErrors,
    caPem: secrets.caPem ?? '',
  };
}

export function groupInfoOf(group: ConsumerGroup, secrets?: PushSecrets): Required<GroupInfo> {
  return {
    namespace: group.metadata?.namespace ?? '',
    name: group.metadata?.name ?? '',
    topic: group.spec.topic,
    mode: group.spec.mode,
    policy: groupPolicyOf(group.spec, secrets),
  };
}

/** The lease durations a pool's spec asks for and the storage kinds its brokers are given. */
export function poolInfoOf(pool: BrokerPool): Required<PoolInfo> {
  const { leases, storage } = pool.spec;
  return {
    broker: { durationMs: leases.brokerSeconds * 1000, safetyMarginMs: leases.safetyMarginSeconds * 1000 },
    consumer: {
      durationMs: leases.consumerSeconds * 1000,
      safetyMarginMs: leases.safetyMarginSeconds * 1000,
    },
    storages: (Object.keys(storage) as (keyof typeof storage)[]).filter(
      (kind) => storage[kind] !== undefined,
    ),
  };
}

/** Whether a new leader restores the Topic: its storage exists and it is not being deleted. */
export function restorableTopic(topic: Topic): boolean {
  return isTrue(topic.status?.conditions, 'StorageProvisioned') && !topic.metadata?.deletionTimestamp;
}

/** The broker assignment the last leader checkpointed into the Topic's status. */
export function topicCheckpointOf(topic: Topic): CheckpointEntry[] {
  return (topic.status?.assignment ?? []).map((a) => ({
    partition: a.partition,
    holder: a.broker,
    address: a.address ?? '',
    epoch: a.epoch,
  }));
}

/** The consumer assignment and members the last leader checkpointed into the group's status. */
export function groupCheckpointOf(group: ConsumerGroup): {
  entries: CheckpointEntry[];
  consumers: { id: string; zone: string }[];
} {
  return {
    entries: (group.status?.assignment ?? []).map((a) => ({
      partition: a.partition,
      holder: a.consumer,
      address: '',
      epoch: a.epoch,
    })),
    consumers: (group.status?.consumers ?? []).map((c) => ({ id: c.id, zone: c.zone ?? '' })),
  };
}
