// The storage interface the broker core owns. Adapters (storage/mysql, storage/memory, later
// storage/kafka) implement it; no connection, transaction or driver type crosses it. Every
// adapter passes the conformance suite in test/storage-conformance.ts (the cases its
// capabilities allow).
//
// Fencing (capability ownerFencing): offsets are allocated by the partition's owner, not by the store. The owner reads
// lastOffset() when it takes a partition over and appends with explicit offsets; an append
// whose offsets already exist fails as a whole with PARTITION_FENCED. So a stale owner that
// still believes it owns a partition cannot write once a newer owner has written.

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
 * Messages for one partition, to be stored at firstOffset, firstOffset + 1, ... A message with
 * `scheduled` is removed from the delay table (DelayStore) in the same transaction.
 */
export interface AppendBatch {
  ref: PartitionRef;
  firstOffset: number;
  messages: NewMessage[];
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

export interface MessageStore {
  /** Which adapter this is, for messages and metrics only: decide on `capabilities`. */
  readonly kind: StorageKind;
  readonly capabilities: StorageCapabilities;
  /** Creates what the topic's partitions need (idempotent; partitions only grow). */
  ensureTopic(topic: string, partitions: number): Promise<void>;
  /** Deletes everything stored for the topic: messages and committed offsets (idempotent). */
  dropTopic(topic: string, partitions: number): Promise<void>;
  /** The highest stored offset of the partition, 0 when it is empty. */
  lastOffset(ref: PartitionRef): Promise<number>;
  /**
   * Stores every batch (each for a different partition): all or none, with one durable commit.
   * Several batches in one call only with capabilities.atomicMultiPartitionAppend. Throws HeraldError PARTITION_FENCED when any of the offsets is taken,
   * and STORAGE_UNAVAILABLE when the store cannot be reached (the outcome is then unknown).
   */
  append(batches: AppendBatch[], publishedAt: number): Promise<void>;
  /** Up to `limit` messages of one lane with offset > afterOffset, in offset order. */
  read(ref: PartitionRef, afterOffset: number, limit: number, lane?: Lane): Promise<StoredMessage[]>;
  /** The messages at these offsets that exist (in either lane), in offset order. */
  readOffsets(ref: PartitionRef, offsets: number[]): Promise<StoredMessage[]>;
  /** The group's committed offset on the partition, 0 when it never committed. */
  committedOffset(group: string, ref: PartitionRef): Promise<number>;
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
