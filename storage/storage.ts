// The storage interface the broker core owns. Adapters (storage/mysql, storage/memory,
// storage/kafka) implement it; no connection, transaction or driver type crosses it. Every
// adapter passes the conformance suite in test/storage-conformance.ts (the cases its
// capabilities allow).
//
// Who allocates offsets depends on the store (capabilities.ownerFencing):
// - owner fencing (MySQL, memory): the partition's owner allocates them. It reads lastOffset()
//   when it takes a partition over and appends with explicit offsets; an append whose offsets
//   already exist fails as a whole with PARTITION_FENCED. So a stale owner that still believes
//   it owns a partition cannot write once a newer owner has written. The owner's own appends
//   are then everything the partition holds, so they feed its view of the partition.
// - no owner fencing (Kafka): the store allocates them and append() says which it gave. Anyone
//   may write (a stale owner, a foreign producer), so the owner learns what the partition holds
//   by following it (follow), not from its appends.

import type { HeraldError } from '../common/errors';
import type { StorageCapabilities, StorageKind } from './capabilities';

export interface PartitionRef {
  topic: string;
  partition: number;
}

/** A message as the producer gave it, before it has an offset. */
export interface NewMessage {
  key: string;
  refKey: string;
  tags: string[];
  properties: Record<string, string>;
  body: Buffer;
  /**
   * Stored in the partition's priority table, which every group reads before the normal one.
   * Both tables share the partition's offsets: an offset is in exactly one of them.
   */
  priority: boolean;
  /** Set for a message that was published delayed and has now fallen due. */
  scheduled?: { id: number; deliverAt: number };
}

/**
 * Messages for one partition, to be stored at firstOffset, firstOffset + 1, ... (owner fencing;
 * otherwise firstOffset is ignored and the store picks consecutive offsets). A message with
 * `scheduled` is removed from the delay table (DelayStore) in the same transaction.
 */
export interface AppendBatch {
  ref: PartitionRef;
  firstOffset: number;
  messages: NewMessage[];
}

/** What rides in an append's transaction besides its batches (MessageStore.append). */
export interface AppendRiders {
  trace?: readonly TraceEvent[];
  offsets?: readonly OffsetCommit[];
}

/** What became of one batch of an append: stored from firstOffset on, or not (error says why). */
export type AppendOutcome = { ok: true; firstOffset: number } | { ok: false; error: HeraldError };

/** Where a followed partition's records go (MessageStore.follow). */
export interface TailSink {
  /** Records stored after the previous ones, in offset order (there may be holes). */
  appended(messages: StoredMessage[]): void;
  /** The partition lost records (an unclean leader change): it now ends at endOffset. */
  truncated(endOffset: number): void;
}

export interface StoredMessage extends NewMessage {
  offset: number;
  /** Milliseconds since the Unix epoch when the owner stored it. */
  publishedAt: number;
}

/** Which of a partition's two message tables. */
export type Lane = 'normal' | 'priority';

export interface OffsetCommit {
  group: string;
  ref: PartitionRef;
  offset: number;
}

/** One event of a message's life, as the trace store keeps it (trace-store.ts). */
export interface TraceEvent {
  at: number;
  event: string;
  ref: PartitionRef;
  /** 0 when the message has no offset yet (a delayed message before it falls due). */
  offset: number;
  messageId: string;
  refKey: string;
  group: string;
  consumerId: string;
  attempt: number;
  broker: string;
  detail: Record<string, string>;
}

export interface MessageStore {
  /** Which adapter this is, for messages and metrics only: decide on `capabilities`. */
  readonly kind: StorageKind;
  readonly capabilities: StorageCapabilities;
  /**
   * Creates what the topic's partitions need (idempotent; partitions only grow). A store with
   * `segmentRetention` lays each partition it creates out in segments of `segmentMessages`
   * offsets (default: the broker option retention.segmentMessages' default), so that
   * maintenance has nothing to split until the end offset reaches the second segment.
   */
  ensureTopic(topic: string, partitions: number, segmentMessages?: number): Promise<void>;
  /** Deletes everything stored for the topic: messages and committed offsets (idempotent). */
  dropTopic(topic: string, partitions: number): Promise<void>;
  /** The highest stored offset of the partition, 0 when it is empty. */
  lastOffset(ref: PartitionRef): Promise<number>;
  /**
   * Stores every batch (each for a different partition) durably; the outcomes are in batch
   * order. With atomicMultiPartitionAppend all batches are stored in one commit or none, and it
   * throws PARTITION_FENCED when any of the offsets is taken. Without it each batch succeeds or
   * fails on its own (its outcome says which; an owner-fencing store throws a single batch's fence). Throws STORAGE_UNAVAILABLE when the store cannot
   * be reached (the outcome of every batch is then unknown). The riders are stored in the
   * same transaction as the batches, all or none, so they cost no log flush of their own: with
   * traceInAppend `trace` (events of earlier messages, from the broker's trace buffer), with
   * offsetsInAppend `offsets` (each only forward, as commitOffsets); a store without the
   * capability is never given any.
   */
  append(batches: AppendBatch[], publishedAt: number, riders?: AppendRiders): Promise<AppendOutcome[]>;
  /** Up to `limit` messages of one lane with offset > afterOffset, in offset order. */
  read(ref: PartitionRef, afterOffset: number, limit: number, lane?: Lane): Promise<StoredMessage[]>;
  /** The messages at these offsets that exist (in either lane), in offset order. */
  readOffsets(ref: PartitionRef, offsets: number[]): Promise<StoredMessage[]>;
  /**
   * The group's committed offset on the partition, 0 when it never committed. Here and below,
   * `group` is a subscription key (subscription.ts): the group's name, or in a broadcast group
   * one consumer's key.
   */
  committedOffset(group: string, ref: PartitionRef): Promise<number>;
  /**
   * As committedOffset, but undefined when the key never committed on the partition (a
   * broadcast consumer new to its group, which then starts by the group's startFrom).
   */
  findCommittedOffset(group: string, ref: PartitionRef): Promise<number | undefined>;
  /**
   * The consumers of broadcast group `group` that have committed offsets on the topic: the
   * consumer ids of the keys `subscriptionKey(group, id)` stored, in no particular order.
   */
  broadcastConsumers(group: string, topic: string): Promise<string[]>;
  /**
   * Forgets every committed offset of the key on the topic (a broadcast consumer that left
   * long enough ago; idempotent). The Kafka store deletes the key's Kafka group.
   */
  dropOffsets(group: string, topic: string): Promise<void>;
  /** Stores committed offsets in one write; each only ever moves forward. */
  commitOffsets(commits: OffsetCommit[]): Promise<void>;
  /** commitOffsets for one group and partition (the operator sets start positions with it). */
  commitOffset(group: string, ref: PartitionRef, offset: number): Promise<void>;
  /** Stores a group's committed offset even when lower (an offset reset). */
  forceCommittedOffset(group: string, ref: PartitionRef, offset: number): Promise<void>;
  /** The first offset (either lane) published at or after `at`; undefined when there is none. */
  offsetAtTime(ref: PartitionRef, at: number): Promise<number | undefined>;
  /** The lowest retained offset (either lane); undefined when the partition is empty. */
  firstOffset(ref: PartitionRef): Promise<number | undefined>;
  /** Offered exactly when capabilities.segmentRetention is set. */
  readonly segments?: SegmentRetention;
  /**
   * Offered exactly when the store allocates offsets (no ownerFencing): calls `sink` with every
   * message stored in the partition after `afterOffset`, whoever wrote it, in offset order and
   * soon after it is stored, until the returned function is called.
   */
  follow?(ref: PartitionRef, afterOffset: number, sink: TailSink): () => void;
  /** Resolves when the store answers; throws STORAGE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Retention by whole segments, without DELETE: a partition's offsets are cut into segments of
 * `segmentMessages` (MySQL: range partitions of the message tables).
 */
export interface SegmentRetention {
  /**
   * Keeps at least two empty segments ahead of `endOffset` (so a new segment is split off an
   * empty tail, which copies nothing), and drops every whole segment below endOffset whose
   * newest message was published before `expireBefore`. Returns the dropped segments' offset
   * ranges.
   */
  maintainSegments(
    ref: PartitionRef,
    endOffset: number,
    segmentMessages: number,
    expireBefore: number,
  ): Promise<{ from: number; to: number }[]>;
}
