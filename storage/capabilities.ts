// What a message store can do. Each adapter declares its capabilities once; the broker core and
// the operator refuse a feature that a topic's storage lacks (requireCapability) instead of
// asking which adapter it is.
import type { StorageKind } from '../common/broker-options';
import { HeraldError } from '../common/errors';

export type { StorageKind };

export interface StorageCapabilities {
  /** A second lane per partition that every group reads first (Topic spec.priority). */
  priorityLanes: boolean;
  /** Messages held back until a time (Topic spec.delay). */
  delayedMessages: boolean;
  /**
   * Offsets are allocated by the partition's owner and an append whose offsets are taken fails
   * with PARTITION_FENCED, so a stale owner cannot write. Without it the store allocates offsets
   * and a stale owner's late write is stored.
   */
  ownerFencing: boolean;
  /** append() of batches for several partitions commits all or none. */
  atomicMultiPartitionAppend: boolean;
  /** Retention drops whole segments (SegmentRetention) rather than relying on the store's own. */
  segmentRetention: boolean;
  /**
   * append() also stores trace events in its transaction (the pool's trace store is the same
   * database), so a broker's trace buffer rides on its commits instead of flushing on its own.
   */
  traceInAppend: boolean;
  /**
   * append() also stores committed offsets in its transaction (they live beside the messages),
   * so a broker's moved offsets ride on its commits instead of a write of their own.
   */
  offsetsInAppend: boolean;
}

/** The feature names as users meet them: Topic fields and message options. */
export const CAPABILITY_FEATURES: Record<keyof StorageCapabilities, string> = {
  priorityLanes: 'priority messages (Topic spec.priority)',
  delayedMessages: 'delayed messages (Topic spec.delay)',
  ownerFencing: 'owner fencing',
  atomicMultiPartitionAppend: 'atomic multi-partition appends',
  segmentRetention: 'segment retention',
  traceInAppend: 'trace events in the message transaction',
  offsetsInAppend: 'committed offsets in the message transaction',
};

/** Throws INVALID_REQUEST naming the feature when `kind` storage lacks `capability`. */
export function requireCapability(
  kind: StorageKind,
  capabilities: StorageCapabilities,
  capability: keyof StorageCapabilities,
  topic: string,
): void {
  if (capabilities[capability]) return;
  throw new HeraldError(
    'INVALID_REQUEST',
    `topic ${topic} is stored in ${kind}, which does not support ${CAPABILITY_FEATURES[capability]}`,
    { topic, storage: kind, feature: capability },
  );
}
