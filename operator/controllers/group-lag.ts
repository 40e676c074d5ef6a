// A ConsumerGroup's lag as its status shows it, and the alert it raises. A clustering group has
// one set of offsets; a broadcast group one per consumer (storage/subscription.ts), each with
// its own lag in status.broadcastConsumers. A broadcast consumer the meta-server has not had as
// a member for spec.broadcast.offsetRetentionSeconds loses its offsets, resend schedule and dead
// letters here, and leaves the status.
import type { ConsumerGroup, ConsumerGroupStatus } from '../gen/crds';
import { subscriptionKey } from '../../storage/index';
import type { MessageStore, RetryStore } from '../../storage/index';

/**
 * spec.broadcast.offsetRetentionSeconds when the apiserver's CRD predates the field (Helm does
 * not upgrade CRDs), as the CRD's default.
 */
export const DEFAULT_OFFSET_RETENTION_SECONDS = 86_400;

/** The group's offsetRetentionSeconds. */
export function offsetRetentionSeconds(group: ConsumerGroup): number {
  return (
    (group.spec.broadcast as ConsumerGroup['spec']['broadcast'] | undefined)?.offsetRetentionSeconds ??
    DEFAULT_OFFSET_RETENTION_SECONDS
  );
}

export type Lag = NonNullable<ConsumerGroupStatus['lag']>;
export type BroadcastConsumers = NonNullable<ConsumerGroupStatus['broadcastConsumers']>;

/** The lag of one subscription key on every partition, with the age of its oldest message. */
export async function readLag(
  messages: MessageStore,
  key: string,
  topic: string,
  partitions: number,
  now: number,
): Promise<Lag> {
  const lag: Lag = [];
  for (let partition = 0; partition < partitions; partition++) {
    const ref = { topic, partition };
    const [last, committed] = await Promise.all([
      messages.lastOffset(ref),
      messages.committedOffset(key, ref),
    ]);
    const behind = Math.max(0, last - committed);
    const oldest = behind > 0 ? (await messages.read(ref, committed, 1))[0] : undefined;
    lag.push({
      partition,
      messages: behind,
      ...(oldest ? { oldestAgeSeconds: Math.max(0, Math.floor((now - oldest.publishedAt) / 1000)) } : {}),
    });
  }
  return lag;
}

export interface BroadcastLag {
  /** Per partition, the largest lag (and oldest message) of any consumer. */
  lag: Lag;
  consumers: BroadcastConsumers;
  /** Consumers whose offsets were deleted in this pass. */
  removed: string[];
  /** When the next consumer's offsets fall due for deletion (ms from now); undefined: none. */
  nextRemovalMs: number | undefined;
}

/**
 * A broadcast group's consumers with stored offsets, or live now, each with its lag; deletes
 * what belongs to those gone for longer than the group's offsetRetentionSeconds.
 */
export async function broadcastLag(
  stores: { messages: MessageStore; retries: Pick<RetryStore, 'dropResends' | 'purgeDeadLetters'> },
  group: ConsumerGroup,
  partitions: number,
  live: string[],
  now: number,
): Promise<BroadcastLag> {
  const name = group.metadata?.name ?? '';
  const topic = group.spec.topic;
  const retentionMs = offsetRetentionSeconds(group) * 1000;
  const seen = new Map((group.status?.broadcastConsumers ?? []).map((c) => [c.id, Date.parse(c.lastSeen)]));
  const stored = await stores.messages.broadcastConsumers(name, topic);
  const ids = [...new Set([...stored, ...live])].sort();
  const consumers: BroadcastConsumers = [];
  const removed: string[] = [];
  let nextRemovalMs: number | undefined;
  for (const id of ids) {
    const key = subscriptionKey(name, id);
    const last = live.includes(id) ? now : (seen.get(id) ?? now);
    const dueIn = Number.isNaN(last) ? 0 : last + retentionMs - now;
    if (dueIn <= 0) {
      await stores.messages.dropOffsets(key, topic);
      await stores.retries.dropResends(key, topic);
      await stores.retries.purgeDeadLetters({ topic, group: key, sinceMs: 0, untilMs: 0, ids: [] });
      removed.push(id);
      continue;
    }
    if (!live.includes(id)) nextRemovalMs = Math.min(nextRemovalMs ?? Infinity, dueIn);
    const lag = await readLag(stores.messages, key, topic, partitions, now);
    consumers.push({
      id,
      lastSeen: new Date(last).toISOString(),
      totalLag: lag.reduce((sum, l) => sum + l.messages, 0),
      lag,
    });
  }
  return { lag: worstPerPartition(consumers, partitions), consumers, removed, nextRemovalMs };
}

/** Each partition's largest lag and oldest message over the consumers. Pure. */
function worstPerPartition(consumers: BroadcastConsumers, partitions: number): Lag {
  const lag: Lag = [];
  for (let partition = 0; partition < partitions; partition++) {
    const rows = consumers.flatMap((c) => c.lag?.filter((l) => l.partition === partition) ?? []);
    const ages = rows.flatMap((r) => (r.oldestAgeSeconds === undefined ? [] : [r.oldestAgeSeconds]));
    lag.push({
      partition,
      messages: Math.max(0, ...rows.map((r) => r.messages)),
      ...(ages.length > 0 ? { oldestAgeSeconds: Math.max(...ages) } : {}),
    });
  }
  return lag;
}

/**
 * The alert a group's lag raises, if any: a clustering group's lag, or (given `consumers`) any
 * broadcast consumer's own. Pure.
 */
export function alertOf(
  group: ConsumerGroup,
  lag: Lag,
  consumers?: BroadcastConsumers,
): { reason: string; message: string } | undefined {
  if (consumers !== undefined) {
    for (const c of consumers) {
      const alert = alertOf(group, c.lag ?? []);
      if (alert) return { reason: alert.reason, message: `consumer ${c.id}: ${alert.message}` };
    }
    return undefined;
  }
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
