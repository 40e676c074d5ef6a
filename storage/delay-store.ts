// Delayed and scheduled messages (QMQ's design on MySQL). A delayed message waits in the
// partition's delay table, keyed by (deliverAt, id), until it falls due; the partition's owner
// keeps the near future in an in-memory timer wheel and, when a message is due, appends it to
// the partition and deletes it from the delay table in the same transaction
// (MessageStore.append with NewMessage.scheduled), so it is delivered once across restarts and
// changes of owner.
import type { NewMessage, PartitionRef } from './storage';

export interface DelayedMessage {
  /** Allocated by the store; unique per partition. */
  id: number;
  deliverAt: number;
  message: NewMessage;
}

export interface DelayStore {
  /** Stores delayed messages for one partition atomically; returns their ids in order. */
  scheduleDelayed(
    ref: PartitionRef,
    messages: { deliverAt: number; message: NewMessage }[],
  ): Promise<number[]>;
  /** Up to `limit` delayed messages due before `until`, by (deliverAt, id), after `after`. */
  dueDelayed(
    ref: PartitionRef,
    until: number,
    limit: number,
    after?: { deliverAt: number; id: number },
  ): Promise<DelayedMessage[]>;
}
