// ConsumerGroup -> the meta-server's group (membership, leases), the group's start position
// in storage, and status: lag per partition, Ready, Registered, LagAlert and ConsumersOnline.
// Alerts (maximum lag, maximum age of the oldest unconsumed message by its publish time, fewer
// than minConsumers live consumers for offlineSeconds while there is a backlog) raise a
// Warning event when they start. status.assignment belongs to the meta-server's checkpoints;
// consumers and activeConsumers are written by those checkpoints when membership changes and
// refreshed here at each resync (their last heartbeats), from the same meta-server state.
// Dead letters older than spec.deadLetter.retentionHours are deleted at each resync.
// The group's delivery policy goes to the brokers through the meta-server; a tagFilter that
// does not parse sets TagFilterValid=False (and Ready=False) with a Warning event, and the
// brokers refuse the group's reads until it is fixed. A push group's signing key and its
// status.push / EndpointHealthy come from group-push.ts.
import { parseTagFilter, TagFilterError } from '../../common/tag-filter';
import type { ConsumerGroup, ConsumerGroupSpec, ConsumerGroupStatus } from '../gen/crds';
import { ConsumerGroupResource } from '../gen/crds';
import { patchStatus } from '../kube/client';
import { isTrue, setCondition } from '../reconcile/conditions';
import type { ConditionInput } from '../reconcile/conditions';
import { sameJson } from '../reconcile/diff';
import { subscriptionKey } from '../../storage/index';
import type { MessageStore } from '../../storage/index';
import { groupInfoOf } from '../meta/from-crds';
import {
  PUSH_REPORT_MAX_AGE_MS,
  PUSH_STATUS_INTERVAL_MS,
  pushSecretsIn,
  pushStatusOf,
  usablePushSecrets,
} from './group-push';
import type { PushStatus } from './group-push';
import type { ControllerContext } from './context';
import { isPaused, splitKey } from './context';
import type { ReconcileResult } from './controller';
import { alertOf, broadcastLag, offsetRetentionSeconds, readLag } from './group-lag';
import type { BroadcastConsumers, Lag } from './group-lag';
import { backlogOf } from '../metrics';

/** The status fields this controller writes; null removes a field (merge patch). */
type OwnStatus = Pick<
  ConsumerGroupStatus,
  'observedGeneration' | 'lag' | 'totalLag' | 'conditions' | 'consumers' | 'activeConsumers'
> & {
  consumersBelowMinimumSince: string | null;
  broadcastConsumers: BroadcastConsumers | null;
  push: PushStatus | null;
};

export async function reconcileConsumerGroup(
  ctx: ControllerContext,
  key: string,
): Promise<ReconcileResult | undefined> {
  const group = ctx.caches.groups.get(key);
  const { namespace, name } = splitKey(key);
  if (!group || group.metadata?.deletionTimestamp) {
    ctx.meta.removeGroup(namespace, name);
    ctx.metrics.forgetGroup(namespace, name);
    return undefined;
  }
  if (isPaused(group)) return undefined;
  const generation = group.metadata?.generation ?? 0;
  const old: ConsumerGroupStatus = group.status ?? {};
  let conditions = old.conditions;
  const set = (c: ConditionInput) => {
    conditions = setCondition(conditions, c, generation, new Date());
  };
  let lag: Lag | undefined = old.lag;
  let broadcast: BroadcastConsumers | undefined = old.broadcastConsumers;
  let requeueMs = ctx.options.lagIntervalMs;
  const { consumers } = ctx.meta.groupCheckpoint(namespace, name, Date.now());
  // A push group is pushed only with its signing key (from the Secret cache, handed to brokers
  // with the policy).
  const signing = group.spec.push ? pushSecretsIn(ctx.caches.secrets, group) : undefined;
  const info = groupInfoOf(group, usablePushSecrets(signing));
  const filterProblem = tagFilterProblem(group.spec.tagFilter ?? '');

  const topic = ctx.caches.topics.get(`${namespace}/${group.spec.topic}`);
  const pool = topic ? ctx.caches.pools.get(`${namespace}/${topic.spec.pool}`) : undefined;
  if (!topic || !pool || !isTrue(topic.status?.conditions, 'StorageProvisioned')) {
    ctx.meta.removeGroup(namespace, name);
    ctx.metrics.forgetGroup(namespace, name);
    const why = !topic ? `Topic ${group.spec.topic} does not exist` : 'the topic has no storage yet';
    set({ type: 'Ready', status: 'False', reason: 'TopicNotReady', message: why });
  } else {
    ctx.meta.setGroup(info);
    // Dead letters live in the pool's MySQL for every topic; offsets where the messages are (a
    // Kafka topic's are the group's own Kafka offsets).
    const storage = await ctx.storage(pool);
    const messages = topic.spec.storage === 'kafka' ? (await ctx.kafka(pool)).messages : storage.messages;
    const partitions = topic.status?.provisionedPartitions ?? topic.spec.partitions;
    if (!isTrue(conditions, 'Registered')) {
      await register(messages, group, partitions);
      set({
        type: 'Registered',
        status: 'True',
        reason: 'Registered',
        message: `starts from ${group.spec.startFrom}`,
      });
      await ctx.events.record(
        group,
        'Normal',
        'Registered',
        `registered; starts from ${group.spec.startFrom}`,
      );
    }
    const retentionMs = group.spec.deadLetter.retentionHours * 3_600_000;
    const readAt = Date.now();
    if (group.spec.mode === 'broadcast') {
      const live = consumers.map((c) => c.id);
      const b = await broadcastLag({ messages, retries: storage.retries }, group, partitions, live, readAt);
      lag = b.lag;
      broadcast = b.consumers;
      if (b.nextRemovalMs !== undefined) requeueMs = Math.min(requeueMs, b.nextRemovalMs + 1);
      for (const id of b.removed) {
        await ctx.events.record(
          group,
          'Normal',
          'ConsumerOffsetsRemoved',
          `consumer ${id} was gone for ${offsetRetentionSeconds(group)}s: its offsets, retries and dead letters are deleted`,
        );
      }
      for (const c of b.consumers)
        await storage.retries.expireDeadLetters(
          group.spec.topic,
          subscriptionKey(name, c.id),
          Date.now() - retentionMs,
        );
    } else {
      lag = await readLag(messages, name, group.spec.topic, partitions, readAt);
      broadcast = undefined;
    }
    ctx.metrics.recordBacklog({
      namespace,
      group: name,
      topic: group.spec.topic,
      consumers: broadcast
        ? broadcast.map((c) => backlogOf(c.id, c.lag ?? [], readAt))
        : [backlogOf('', lag, readAt)],
    });
    await storage.retries.expireDeadLetters(group.spec.topic, name, Date.now() - retentionMs);
    set({ type: 'Ready', status: 'True', reason: 'Ready', message: `reading ${group.spec.topic}` });
    const alert = alertOf(group, lag, broadcast);
    const wasAlerting = isTrue(conditions, 'LagAlert');
    set(
      alert
        ? { type: 'LagAlert', status: 'True', reason: alert.reason, message: alert.message }
        : {
            type: 'LagAlert',
            status: 'False',
            reason: 'WithinLimits',
            message: 'lag and age are within the alert limits',
          },
    );
    if (alert && !wasAlerting) await ctx.events.record(group, 'Warning', alert.reason, alert.message);
  }

  const now = Date.now();
  const backlog = lag?.reduce((sum, l) => sum + l.messages, 0) ?? 0;
  const presence = presenceOf(
    group.spec.alerts,
    consumers.length,
    backlog,
    old.consumersBelowMinimumSince,
    now,
  );
  let belowSince: string | undefined;
  if (presence) {
    belowSince = presence.belowSince;
    const wasOnline = !isFalse(conditions, 'ConsumersOnline');
    set(presence.condition);
    if (presence.condition.status === 'False' && wasOnline)
      await ctx.events.record(group, 'Warning', presence.condition.reason, presence.condition.message);
    if (presence.recheckMs !== undefined) requeueMs = Math.min(requeueMs, presence.recheckMs);
  }

  let push: PushStatus | undefined;
  if (group.spec.push) {
    const reports = ctx.meta.pushStatus(namespace, name, now, PUSH_REPORT_MAX_AGE_MS);
    const pushed = pushStatusOf(reports, old.push, now);
    push = pushed.status;
    set(pushed.condition);
    requeueMs = Math.min(requeueMs, PUSH_STATUS_INTERVAL_MS);
    if (signing && 'problem' in signing) {
      const newProblem =
        !isFalse(old.conditions, 'Ready') || findReason(old.conditions, 'Ready') !== signing.problem.reason;
      set(signing.problem);
      if (newProblem)
        await ctx.events.record(group, 'Warning', signing.problem.reason, signing.problem.message);
    }
  } else if (conditions?.some((c) => c.type === 'EndpointHealthy')) {
    conditions = conditions.filter((c) => c.type !== 'EndpointHealthy');
  }

  const filterWasValid = findValid(conditions);
  if (filterProblem) {
    set({ type: 'TagFilterValid', status: 'False', reason: 'InvalidTagFilter', message: filterProblem });
    set({ type: 'Ready', status: 'False', reason: 'InvalidTagFilter', message: filterProblem });
    if (filterWasValid) await ctx.events.record(group, 'Warning', 'InvalidTagFilter', filterProblem);
  } else {
    set({ type: 'TagFilterValid', status: 'True', reason: 'Valid', message: 'the tag filter parses' });
  }

  const status: OwnStatus = {
    observedGeneration: generation,
    lag,
    totalLag: lag?.reduce((sum, l) => sum + l.messages, 0),
    conditions,
    consumers,
    activeConsumers: consumers.length,
    consumersBelowMinimumSince: belowSince ?? null,
    broadcastConsumers: broadcast ?? null,
    push: push ?? null,
  };
  const oldOwn: OwnStatus = {
    observedGeneration: old.observedGeneration,
    lag: old.lag,
    totalLag: old.totalLag,
    conditions: old.conditions,
    consumers: old.consumers,
    activeConsumers: old.activeConsumers,
    consumersBelowMinimumSince: old.consumersBelowMinimumSince ?? null,
    broadcastConsumers: old.broadcastConsumers ?? null,
    push: old.push ?? null,
  };
  if (!sameJson(status, oldOwn))
    await patchStatus(ctx.custom, ConsumerGroupResource, namespace, name, status);
  return { requeueAfterMs: requeueMs };
}

/** Whether a condition is False now (so its next turn to False raises no second event). */
function isFalse(conditions: ConsumerGroupStatus['conditions'], type: string): boolean {
  return conditions?.find((c) => c.type === type)?.status === 'False';
}

export interface Presence {
  condition: ConditionInput;
  /** Since when the group has had fewer than minConsumers (ISO 8601); undefined: enough. */
  belowSince: string | undefined;
  /** When to look again so ConsumersOnline turns False on time; undefined: the usual resync. */
  recheckMs: number | undefined;
}

/**
 * The ConsumersOnline condition of a group with `online` live consumers and `backlog`
 * unacknowledged messages, given since when it has had too few (from its status); undefined
 * when spec.alerts.minConsumers is not set. It turns False once the group has had fewer than
 * minConsumers for offlineSeconds while it has a backlog. Pure.
 */
export function presenceOf(
  alerts: ConsumerGroupSpec['alerts'],
  online: number,
  backlog: number,
  belowSince: string | undefined,
  now: number,
): Presence | undefined {
  const min = alerts?.minConsumers;
  if (!alerts || min === undefined) return undefined;
  const counted = `${online} of at least ${min} consumers online`;
  if (online >= min) {
    return {
      condition: { type: 'ConsumersOnline', status: 'True', reason: 'ConsumersOnline', message: counted },
      belowSince: undefined,
      recheckMs: undefined,
    };
  }
  const since =
    belowSince !== undefined && !Number.isNaN(Date.parse(belowSince))
      ? belowSince
      : new Date(now).toISOString();
  const forMs = now - Date.parse(since);
  const graceMs = alerts.offlineSeconds * 1000;
  if (backlog === 0) {
    return {
      condition: {
        type: 'ConsumersOnline',
        status: 'True',
        reason: 'NoBacklog',
        message: `${counted}, but nothing is waiting for them`,
      },
      belowSince: since,
      recheckMs: undefined,
    };
  }
  if (forMs < graceMs) {
    return {
      condition: {
        type: 'ConsumersOnline',
        status: 'True',
        reason: 'TooFewConsumers',
        message: `${counted} for ${Math.floor(forMs / 1000)}s (alert after ${alerts.offlineSeconds}s)`,
      },
      belowSince: since,
      recheckMs: Math.max(1, graceMs - forMs),
    };
  }
  return {
    condition: {
      type: 'ConsumersOnline',
      status: 'False',
      reason: 'ConsumersOffline',
      message: `${counted} for ${Math.floor(forMs / 1000)}s with ${backlog} messages waiting`,
    },
    belowSince: since,
    recheckMs: undefined,
  };
}

/** The reason of a condition, if set. */
function findReason(conditions: ConsumerGroupStatus['conditions'], type: string): string | undefined {
  return conditions?.find((c) => c.type === type)?.reason;
}

/** Whether the TagFilterValid condition is not False (so a new problem raises one event). */
function findValid(conditions: ConsumerGroupStatus['conditions']): boolean {
  return conditions?.find((c) => c.type === 'TagFilterValid')?.status !== 'False';
}

/** Why the tag filter does not parse (with the position), or undefined. Pure. */
export function tagFilterProblem(tagFilter: string): string | undefined {
  try {
    parseTagFilter(tagFilter);
    return undefined;
  } catch (err) {
    if (err instanceof TagFilterError) return `spec.tagFilter: ${err.message}`;
    throw err;
  }
}

/** Records where a new group starts: with startFrom latest, at each partition's current end. */
async function register(messages: MessageStore, group: ConsumerGroup, partitions: number): Promise<void> {
  // A broadcast consumer starts by startFrom when it first reads (the broker stores that).
  if (group.spec.startFrom !== 'latest' || group.spec.mode === 'broadcast') return;
  const groupName = group.metadata?.name ?? '';
  for (let partition = 0; partition < partitions; partition++) {
    const ref = { topic: group.spec.topic, partition };
    if ((await messages.committedOffset(groupName, ref)) > 0) continue;
    const last = await messages.lastOffset(ref);
    if (last > 0) await messages.commitOffset(groupName, ref, last);
  }
}
