// ConsumerGroup -> the meta-server's group (membership, leases), the group's start position
// in storage, and status: lag per partition, Ready, Registered and LagAlert. Alerts (maximum
// lag, maximum age of the oldest unconsumed message) raise a Warning event when they start.
// status.assignment, consumers and activeConsumers belong to the meta-server's checkpoints.
// Dead letters older than spec.deadLetter.retentionHours are deleted at each resync.
// The group's delivery policy goes to the brokers through the meta-server; a tagFilter that
// does not parse sets TagFilterValid=False (and Ready=False) with a Warning event, and the
// brokers refuse the group's reads until it is fixed.
import { parseTagFilter, TagFilterError } from '../../common/tag-filter';
import type { ConsumerGroup, ConsumerGroupStatus } from '../gen/crds';
import { ConsumerGroupResource } from '../gen/crds';
import { patchStatus } from '../kube/client';
import { isTrue, setCondition } from '../reconcile/conditions';
import type { ConditionInput } from '../reconcile/conditions';
import { sameJson } from '../reconcile/diff';
import { groupInfoOf } from '../meta/from-crds';
import type { TopicStorage } from '../storage/topic-storage';
import type { ControllerContext } from './context';
import { isPaused, splitKey } from './context';
import type { ReconcileResult } from './controller';

type OwnStatus = Pick<ConsumerGroupStatus, 'observedGeneration' | 'lag' | 'totalLag' | 'conditions'>;
type Lag = NonNullable<ConsumerGroupStatus['lag']>;

export async function reconcileConsumerGroup(
  ctx: ControllerContext,
  key: string,
): Promise<ReconcileResult | undefined> {
  const group = ctx.caches.groups.get(key);
  const { namespace, name } = splitKey(key);
  if (!group || group.metadata?.deletionTimestamp) {
    ctx.meta.removeGroup(namespace, name);
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
  const info = groupInfoOf(group);
  const filterProblem = tagFilterProblem(group.spec.tagFilter ?? '');

  const topic = ctx.caches.topics.get(`${namespace}/${group.spec.topic}`);
  const pool = topic ? ctx.caches.pools.get(`${namespace}/${topic.spec.pool}`) : undefined;
  if (!topic || !pool || !isTrue(topic.status?.conditions, 'StorageProvisioned')) {
    ctx.meta.removeGroup(namespace, name);
    const why = !topic ? `Topic ${group.spec.topic} does not exist` : 'the topic has no storage yet';
    set({ type: 'Ready', status: 'False', reason: 'TopicNotReady', message: why });
  } else if (topic.spec.storage === 'kafka') {
    // Leases work alike; start positions and lag live in Kafka's group offsets, which the
    // brokers' Kafka storage will own.
    ctx.meta.setGroup(info);
    set({ type: 'Ready', status: 'True', reason: 'Ready', message: `reading ${group.spec.topic}` });
    set({
      type: 'Registered',
      status: 'False',
      reason: 'KafkaOffsetsNotManaged',
      message: 'start positions and lag of Kafka topics are not managed by the operator yet',
    });
  } else {
    ctx.meta.setGroup(info);
    const storage = await ctx.storage(pool);
    const partitions = topic.status?.provisionedPartitions ?? topic.spec.partitions;
    if (!isTrue(conditions, 'Registered')) {
      await register(storage, group, partitions);
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
    lag = await readLag(storage, name, group.spec.topic, partitions, Date.now());
    const retentionMs = group.spec.deadLetter.retentionHours * 3_600_000;
    await storage.retries.expireDeadLetters(group.spec.topic, name, Date.now() - retentionMs);
    set({ type: 'Ready', status: 'True', reason: 'Ready', message: `reading ${group.spec.topic}` });
    const alert = alertOf(group, lag);
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
  };
  const oldOwn: OwnStatus = {
    observedGeneration: old.observedGeneration,
    lag: old.lag,
    totalLag: old.totalLag,
    conditions: old.conditions,
  };
  if (!sameJson(status, oldOwn))
    await patchStatus(ctx.custom, ConsumerGroupResource, namespace, name, status);
  return { requeueAfterMs: ctx.options.lagIntervalMs };
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
async function register(storage: TopicStorage, group: ConsumerGroup, partitions: number): Promise<void> {
  if (group.spec.startFrom !== 'latest') return;
  const groupName = group.metadata?.name ?? '';
  for (let partition = 0; partition < partitions; partition++) {
    const ref = { topic: group.spec.topic, partition };
    if ((await storage.messages.committedOffset(groupName, ref)) > 0) continue;
    const last = await storage.messages.lastOffset(ref);
    if (last > 0) await storage.messages.commitOffset(groupName, ref, last);
  }
}

async function readLag(
  storage: TopicStorage,
  group: string,
  topic: string,
  partitions: number,
  now: number,
): Promise<Lag> {
  const lag: Lag = [];
  for (let partition = 0; partition < partitions; partition++) {
    const ref = { topic, partition };
    const [last, committed] = await Promise.all([
      storage.messages.lastOffset(ref),
      storage.messages.committedOffset(group, ref),
    ]);
    const messages = Math.max(0, last - committed);
    const oldest = messages > 0 ? (await storage.messages.read(ref, committed, 1))[0] : undefined;
    lag.push({
      partition,
      messages,
      ...(oldest ? { oldestAgeSeconds: Math.max(0, Math.floor((now - oldest.publishedAt) / 1000)) } : {}),
    });
  }
  return lag;
}

/** The alert a group's lag raises, if any. Pure. */
export function alertOf(group: ConsumerGroup, lag: Lag): { reason: string; message: string } | undefined {
  const alerts = group.spec.alerts;
  if (!alerts) return undefined;
  const total = lag.reduce((sum, l) => sum + l.messages, 0);
  if (alerts.maxLagMessages !== undefined && total > alerts.maxLagMessages) {
    return { reason: 'LagTooHigh', message: `lag ${total} messages exceeds ${alerts.maxLagMessages}` };
  }
  const oldest = Math.max(0, ...lag.map((l) => l.oldestAgeSeconds ?? 0));
  if (alerts.maxAgeSeconds !== undefined && oldest > alerts.maxAgeSeconds) {
    return {
      reason: 'MessagesTooOld',
      message: `oldest unconsumed message is ${oldest}s old, over ${alerts.maxAgeSeconds}s`,
    };
  }
  return undefined;
}
