// Admin ResetOffsets, served by any broker: computes the new committed offset of every chosen
// partition from the shared store, writes it, records an "offsets-reset" trace event, and
// appends a 'reset' command so that the partition's owner drops its in-memory position and
// applies it (command-poller.ts) within a poll interval.
import { HeraldError } from '../../common/errors';
import type { TopicOptions } from '../../common/broker-options';
import type { MessageStore, PartitionRef } from '../../storage/storage';
import type { TraceStore } from '../../storage/trace-store';
import { requireName, requirePartition } from '../topics';
import { messageId } from '../trace/message-id';

export type ResetTarget =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'time'; at: number }
  | { kind: 'offset'; offset: number };

export interface ResetRequest {
  group: string;
  /** Whose offsets move: the group's key, or a broadcast consumer's (storage/subscription.ts). */
  key: string;
  /** The broadcast consumer of `key`; '' for a clustering group. */
  consumer: string;
  topic: string;
  /** Empty: every partition of the topic. */
  partitions: number[];
  target: ResetTarget;
}

export interface PartitionReset {
  partition: number;
  previousOffset: number;
  committedOffset: number;
}

/** What a reset reads and writes in the topic's message store. */
export type ResetStore = Pick<
  MessageStore,
  'lastOffset' | 'committedOffset' | 'firstOffset' | 'offsetAtTime' | 'forceCommittedOffset'
>;

export interface ResetDeps {
  /** The message store of the topic's storage kind. */
  messages(topic: TopicOptions): ResetStore;
  traces: Pick<TraceStore, 'appendCommands' | 'appendTrace'>;
  /** The topic's definition, or TOPIC_NOT_FOUND. */
  topic(name: string): Promise<TopicOptions>;
  /** This broker's identity, for the trace event. */
  broker: () => string;
  now?: () => number;
}

export async function resetOffsets(deps: ResetDeps, req: ResetRequest): Promise<PartitionReset[]> {
  requireName('group', req.group);
  const topic = await deps.topic(req.topic);
  const partitions = req.partitions.length > 0 ? [...new Set(req.partitions)] : range(topic.partitions);
  for (const p of partitions) requirePartition(topic, p, 'partitions');
  const store = deps.messages(topic);
  // Every target first, so that an invalid one changes nothing.
  const resets: (PartitionReset & { ref: PartitionRef })[] = [];
  for (const partition of partitions.sort((a, b) => a - b)) {
    const ref = { topic: topic.name, partition };
    const end = await store.lastOffset(ref);
    const committedOffset = await targetOffset(store, ref, end, req.target);
    resets.push({
      ref,
      partition,
      previousOffset: await store.committedOffset(req.key, ref),
      committedOffset,
    });
  }
  const at = (deps.now ?? Date.now)();
  for (const r of resets) await store.forceCommittedOffset(req.key, r.ref, r.committedOffset);
  await deps.traces.appendCommands(
    resets.map((r) => ({ kind: 'reset', group: req.key, ref: r.ref, offset: r.committedOffset })),
  );
  // Written directly, not through the buffered tracer: a reset is an audit record.
  await deps.traces.appendTrace(
    resets.map((r) => ({
      at,
      event: 'offsets-reset',
      ref: r.ref,
      offset: r.committedOffset + 1,
      messageId: messageId(r.ref, r.committedOffset + 1),
      refKey: '',
      group: req.group,
      consumerId: req.consumer,
      attempt: 0,
      broker: deps.broker(),
      detail: {
        previous_offset: String(r.previousOffset),
        committed_offset: String(r.committedOffset),
        target: describe(req.target),
      },
    })),
  );
  return resets.map(({ partition, previousOffset, committedOffset }) => ({
    partition,
    previousOffset,
    committedOffset,
  }));
}

/** The committed offset a target means on one partition whose newest offset is `end`. */
async function targetOffset(
  store: ResetStore,
  ref: PartitionRef,
  end: number,
  target: ResetTarget,
): Promise<number> {
  switch (target.kind) {
    case 'earliest': {
      const first = await store.firstOffset(ref);
      return first === undefined ? end : first - 1;
    }
    case 'latest':
      return end;
    case 'time': {
      const first = await store.offsetAtTime(ref, target.at);
      return first === undefined ? end : first - 1;
    }
    case 'offset':
      if (target.offset > end) {
        throw new HeraldError(
          'INVALID_REQUEST',
          `offset ${target.offset} is beyond the end of ${ref.topic}/${ref.partition} (${end})`,
          { field: 'offset', partition: String(ref.partition), end_offset: String(end) },
        );
      }
      return target.offset;
  }
}

function describe(target: ResetTarget): string {
  switch (target.kind) {
    case 'time':
      return `timestamp ${new Date(target.at).toISOString()}`;
    case 'offset':
      return `offset ${target.offset}`;
    default:
      return target.kind;
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
