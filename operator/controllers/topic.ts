// Topic -> storage (a MySQL table per partition, or a Kafka topic), the meta-server's view of its partitions,
// and status: StorageProvisioned, PartitionsAssigned and Ready, with observedGeneration.
// The finalizer keeps the Topic until its storage is dropped (deletionPolicy delete) or
// deliberately kept (retain). status.assignment belongs to the meta-server's checkpoints.
import type { BrokerPool, Topic, TopicStatus } from '../gen/crds';
import type { TopicProvisioner } from '../storage/topic-storage';
import { TopicResource } from '../gen/crds';
import { isNotFound, patchObject, patchStatus } from '../kube/client';
import { findCondition, setCondition } from '../reconcile/conditions';
import type { ConditionInput } from '../reconcile/conditions';
import { sameJson } from '../reconcile/diff';
import { topicInfoOf } from '../meta/from-crds';
import { FINALIZER, isPaused, splitKey } from './context';
import type { ControllerContext } from './context';
import { TerminalError } from './controller';
import type { ReconcileResult } from './controller';

type OwnStatus = Omit<TopicStatus, 'assignment'>;

export async function reconcileTopic(
  ctx: ControllerContext,
  key: string,
): Promise<ReconcileResult | undefined> {
  const topic = ctx.caches.topics.get(key);
  const { namespace, name } = splitKey(key);
  if (!topic) {
    ctx.meta.removeTopic(namespace, name);
    return undefined;
  }
  if (isPaused(topic)) return undefined;
  if (topic.metadata?.deletionTimestamp) return finalize(ctx, topic);

  const finalizers = topic.metadata?.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) {
    await patchObject(ctx.custom, TopicResource, namespace, name, {
      metadata: { finalizers: [...finalizers, FINALIZER], resourceVersion: topic.metadata?.resourceVersion },
    });
    return undefined; // the update comes back through the watch
  }

  const generation = topic.metadata?.generation ?? 0;
  const old: TopicStatus = topic.status ?? {};
  let conditions = old.conditions;
  const set = (c: ConditionInput) => {
    conditions = setCondition(conditions, c, generation, new Date());
  };
  const pool = ctx.caches.pools.get(`${namespace}/${topic.spec.pool}`);
  let provisioned = old.provisionedPartitions ?? 0;
  let requeueAfterMs: number | undefined;

  if (!pool) {
    set({
      type: 'StorageProvisioned',
      status: 'False',
      reason: 'PoolNotFound',
      message: `BrokerPool ${topic.spec.pool} does not exist`,
    });
  } else if (!pool.spec.storage[topic.spec.storage]) {
    set({
      type: 'StorageProvisioned',
      status: 'False',
      reason: 'PoolLacksStorage',
      message: `BrokerPool ${topic.spec.pool} has no ${topic.spec.storage} storage`,
    });
  } else if (
    provisioned !== topic.spec.partitions ||
    findCondition(conditions, 'StorageProvisioned')?.status !== 'True' ||
    !schemaChecked(ctx).has(checkKey(topic))
  ) {
    try {
      const changed =
        provisioned !== topic.spec.partitions ||
        findCondition(conditions, 'StorageProvisioned')?.status !== 'True';
      await (
        await provisioner(ctx, topic, pool)
      ).ensureTopic(name, topic.spec.partitions, {
        retentionHours: topic.spec.retention.hours,
      });
      schemaChecked(ctx).add(checkKey(topic));
      const grown = provisioned > 0 && provisioned < topic.spec.partitions;
      if (changed) {
        await ctx.events.record(
          topic,
          'Normal',
          grown ? 'PartitionsAdded' : 'StorageProvisioned',
          grown
            ? `partitions grew from ${provisioned} to ${topic.spec.partitions}`
            : `created storage for ${topic.spec.partitions} partitions`,
        );
      }
      provisioned = topic.spec.partitions;
      set({
        type: 'StorageProvisioned',
        status: 'True',
        reason: 'Provisioned',
        message: `${provisioned} partitions`,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (findCondition(conditions, 'StorageProvisioned')?.reason !== 'ProvisioningFailed') {
        await ctx.events.record(topic, 'Warning', 'ProvisioningFailed', message);
      }
      set({ type: 'StorageProvisioned', status: 'False', reason: 'ProvisioningFailed', message });
      requeueAfterMs = 10_000;
    }
  }

  const storageReady = findCondition(conditions, 'StorageProvisioned')?.status === 'True';
  if (storageReady) {
    ctx.meta.setTopic(topicInfoOf(topic, provisioned));
    const routes = ctx.meta.routes(namespace, name, Date.now());
    const assigned = routes.filter((r) => r.brokerId !== '').length;
    const all = assigned === routes.length;
    set({
      type: 'PartitionsAssigned',
      status: all ? 'True' : 'False',
      reason: all ? 'Assigned' : 'WaitingForBrokers',
      message: `${assigned} of ${routes.length} partitions have a broker`,
    });
    if (!all) requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, ctx.options.assignmentPollMs);
  } else {
    // A pool that lacks the topic's storage: the meta-server gives its brokers none of the
    // topic's partitions (MetaCore.servesStorage), even where the storage was provisioned before.
    const lacks = findCondition(conditions, 'StorageProvisioned')?.reason === 'PoolLacksStorage';
    set({
      type: 'PartitionsAssigned',
      status: 'False',
      reason: lacks ? 'PoolLacksStorage' : 'StorageNotReady',
      message: lacks
        ? `no broker of BrokerPool ${topic.spec.pool} serves ${topic.spec.storage} topics`
        : 'storage is not provisioned',
    });
  }
  const ready = storageReady && findCondition(conditions, 'PartitionsAssigned')?.status === 'True';
  set({
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason: ready
      ? 'Ready'
      : (findCondition(conditions, storageReady ? 'PartitionsAssigned' : 'StorageProvisioned')?.reason ??
        'NotReady'),
    message: ready ? `${provisioned} partitions served` : 'see the other conditions',
  });
  // While brokers come and go, assignment is rechecked; otherwise only events wake it.
  if (ready) requeueAfterMs = requeueAfterMs ?? ctx.options.assignmentPollMs * 10;

  const status: OwnStatus = {
    observedGeneration: generation,
    provisionedPartitions: provisioned,
    conditions,
  };
  const oldOwn: OwnStatus = {
    observedGeneration: old.observedGeneration,
    provisionedPartitions: old.provisionedPartitions,
    conditions: old.conditions,
  };
  if (!sameJson(status, oldOwn)) {
    await patchStatus(ctx.custom, TopicResource, namespace, name, status);
    if (ready && findCondition(old.conditions, 'Ready')?.status !== 'True') {
      await ctx.events.record(topic, 'Normal', 'Ready', `${provisioned} partitions served`);
    }
  }
  return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
}

async function finalize(ctx: ControllerContext, topic: Topic): Promise<ReconcileResult | undefined> {
  const namespace = topic.metadata?.namespace ?? '';
  const name = topic.metadata?.name ?? '';
  const finalizers = topic.metadata?.finalizers ?? [];
  ctx.meta.removeTopic(namespace, name);
  if (!finalizers.includes(FINALIZER)) return undefined;
  if (topic.spec.deletionPolicy === 'delete') {
    const pool = ctx.caches.pools.get(`${namespace}/${topic.spec.pool}`);
    if (!pool) throw new TerminalError(`cannot drop storage: BrokerPool ${topic.spec.pool} does not exist`);
    const partitions = Math.max(topic.status?.provisionedPartitions ?? 0, topic.spec.partitions);
    await (await provisioner(ctx, topic, pool)).dropTopic(name, partitions);
    await ctx.events.record(
      topic,
      'Normal',
      'StorageDeleted',
      `dropped the tables of ${partitions} partitions`,
    );
  }
  try {
    await patchObject(ctx.custom, TopicResource, namespace, name, {
      metadata: {
        finalizers: finalizers.filter((f) => f !== FINALIZER),
        resourceVersion: topic.metadata?.resourceVersion,
      },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return undefined;
}

/**
 * The topics whose storage this operator process has ensured. ensureTopic also brings tables of
 * an earlier Herald version to the current layout, so each process runs it once per topic even
 * when the Topic's status says it is provisioned (an upgrade changes no Topic).
 */
const checked = new WeakMap<ControllerContext, Set<string>>();
function schemaChecked(ctx: ControllerContext): Set<string> {
  let set = checked.get(ctx);
  if (!set) checked.set(ctx, (set = new Set()));
  return set;
}

/** A change of partitions or of a setting the storage keeps (Kafka's retention.ms) ensures again. */
function checkKey(topic: Topic): string {
  return `${topic.metadata!.uid}/${topic.spec.partitions}/${topic.spec.retention.hours}`;
}

function provisioner(ctx: ControllerContext, topic: Topic, pool: BrokerPool): Promise<TopicProvisioner> {
  return topic.spec.storage === 'kafka' ? ctx.kafka(pool) : ctx.storage(pool);
}
