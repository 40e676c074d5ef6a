// The delivery path: one GroupCursor per (group, topic, partition), opened on first use;
// long-poll Pull, credit-paced subscriptions, Ack, Nack and lag.
import { HeraldError } from '../../client/errors';
import type { Logger } from '../../client/logger';
import type { BrokerMetrics, LagSample } from '../metrics';
import type { BrokerOptions } from '../options';
import type { MessageStore, PartitionRef } from '../storage/storage';
import { partitionKey, requireName } from '../topics';
import type { Topics } from '../topics';
import { GroupCursor } from './group-cursor';
import type { Delivered } from './group-cursor';
import type { PartitionLog } from './partition-log';
import { OffsetCommitter } from './offset-committer';
import type { Signal } from './signal';
import type { ConsumerClaim, ConsumerLeaseGuard } from '../lease/consumer-leases';

export interface PullInput {
  group: string;
  topic: string;
  partition: number;
  maxMessages: number;
  maxWaitMs: number;
  ackTimeoutMs: number;
  consumer: ConsumerClaim;
}

export interface PartitionLagInfo {
  partition: number;
  endOffset: number;
  committedOffset: number;
  lag: number;
  inFlight: number;
}

/** A subscription's sink: `send` resolves once the transport can take more. */
export interface SubscriptionSink {
  send(d: Delivered, ref: PartitionRef): Promise<void>;
}

export class Delivery {
  private cursors = new Map<string, Promise<GroupCursor>>();
  /** The cursors whose open completed, for synchronous metrics collection. */
  private opened: GroupCursor[] = [];
  /** Fires on shutdown: every waiting pull returns, every subscription ends. */
  private readonly stopping = new AbortController();
  private readonly offsets: OffsetCommitter;

  constructor(
    private readonly topics: Topics,
    private readonly logs: Map<string, PartitionLog>,
    private readonly store: MessageStore,
    private readonly options: BrokerOptions['delivery'],
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly leases: ConsumerLeaseGuard,
  ) {
    this.offsets = new OffsetCommitter(store, options.commitIntervalMs, logger);
    this.offsets.start();
  }

  async pull(input: PullInput, cancelled: AbortSignal): Promise<Delivered[]> {
    let cursor = await this.cursor(input.group, input.topic, input.partition, input.consumer);
    const max = clamp(input.maxMessages || 1, 1, this.options.maxPullMessages);
    const ackTimeout = input.ackTimeoutMs || this.options.defaultAckTimeoutMs;
    const deadline = Date.now() + Math.min(input.maxWaitMs, this.options.maxPullWaitMs);
    const abort = AbortSignal.any([cancelled, this.stopping.signal]);
    for (;;) {
      // An offset reset or a change of owner replaced the cursor: go on with the new one.
      if (this.retired(cursor))
        cursor = await this.cursor(input.group, input.topic, input.partition, input.consumer);
      const seen = cursor.signal.version;
      const taken = await cursor.take(max, ackTimeout);
      if (taken.length > 0) return this.delivered(cursor, taken);
      const remaining = deadline - Date.now();
      if (remaining <= 0 || abort.aborted) return [];
      if (cursor.signal.version !== seen) continue;
      this.metrics.waitingPulls.inc();
      await cursor.signal.wait(remaining, abort).finally(() => this.metrics.waitingPulls.dec());
    }
  }

  /**
   * Sends deliveries while credits last; `credits` grows as the client grants more. Ends
   * when `cancelled` fires (client gone) or the broker stops.
   */
  async subscribe(
    start: { group: string; topic: string; partition: number; ackTimeoutMs: number; consumer: ConsumerClaim },
    credits: { available: number; signal: Signal },
    sink: SubscriptionSink,
    cancelled: AbortSignal,
  ): Promise<void> {
    let cursor = await this.cursor(start.group, start.topic, start.partition, start.consumer);
    const ackTimeout = start.ackTimeoutMs || this.options.defaultAckTimeoutMs;
    const abort = AbortSignal.any([cancelled, this.stopping.signal]);
    while (!abort.aborted) {
      if (this.retired(cursor))
        cursor = await this.cursor(start.group, start.topic, start.partition, start.consumer);
      if (credits.available <= 0) {
        const seen = credits.signal.version;
        if (credits.available <= 0 && credits.signal.version === seen)
          await credits.signal.wait(Infinity, abort);
        continue;
      }
      const seen = cursor.signal.version;
      const taken = await cursor.take(Math.min(credits.available, this.options.maxPullMessages), ackTimeout);
      if (taken.length === 0) {
        if (cursor.signal.version === seen) await cursor.signal.wait(Infinity, abort);
        continue;
      }
      credits.available -= taken.length;
      for (const d of this.delivered(cursor, taken)) await sink.send(d, cursor.ref);
    }
  }

  async ack(
    group: string,
    topic: string,
    partition: number,
    offsets: number[],
    consumer: ConsumerClaim,
  ): Promise<number> {
    const cursor = await this.cursor(group, topic, partition, consumer);
    const committed = cursor.ack(offsets);
    this.offsets.changed(cursor);
    this.metrics.ackedMessages.inc({ topic, group }, offsets.length);
    return committed;
  }

  async nack(
    group: string,
    topic: string,
    partition: number,
    offsets: number[],
    delayMs: number,
    consumer: ConsumerClaim,
  ): Promise<void> {
    const cursor = await this.cursor(group, topic, partition, consumer);
    cursor.nack(offsets, delayMs);
  }

  async lag(group: string, topic: string): Promise<PartitionLagInfo[]> {
    requireName('group', group);
    return Promise.all(
      this.topics.ownedPartitions(topic).map(async (ref) => {
        const log = this.logs.get(partitionKey(ref))!;
        const open = this.cursors.get(cursorKey(group, ref));
        const cursor = open ? await open : undefined;
        const committedOffset = cursor ? cursor.committed : await this.store.committedOffset(group, ref);
        return {
          partition: ref.partition,
          endOffset: log.endOffset,
          committedOffset,
          lag: Math.max(0, log.endOffset - committedOffset),
          inFlight: cursor?.inFlight ?? 0,
        };
      }),
    );
  }

  /** Lag of every open cursor, for the metrics gauge (no I/O). */
  lagSamples(): LagSample[] {
    return this.opened.map((c) => ({
      group: c.group,
      topic: c.ref.topic,
      partition: c.ref.partition,
      lag: Math.max(0, this.logs.get(partitionKey(c.ref))!.endOffset - c.committed),
      inFlight: c.inFlight,
    }));
  }

  /** Ends waits and subscriptions, then stores every committed offset. */
  async stop(): Promise<void> {
    this.stopping.abort();
    const opened = await Promise.allSettled(this.cursors.values());
    try {
      await this.offsets.stop();
    } catch (err) {
      this.logger.error('could not store committed offsets at shutdown', { err });
    }
    for (const o of opened) if (o.status === 'fulfilled') o.value.close();
  }

  /**
   * Forgets every group's cursor on a partition (another broker served it meanwhile): the next
   * call reloads the committed offset from the store.
   */
  forget(ref: PartitionRef): void {
    const suffix = `\u0000${partitionKey(ref)}`;
    for (const [key, open] of [...this.cursors]) {
      if (!key.endsWith(suffix)) continue;
      this.cursors.delete(key);
      open.then(
        (c) => {
          this.opened = this.opened.filter((o) => o !== c);
          c.close();
        },
        () => undefined,
      );
    }
  }

  private async cursor(
    group: string,
    topic: string,
    partition: number,
    consumer: ConsumerClaim,
  ): Promise<GroupCursor> {
    if (this.stopping.signal.aborted) throw new HeraldError('SHUTTING_DOWN', 'the broker is shutting down');
    requireName('group', group);
    let ref = this.topics.ownedPartition(topic, partition);
    await this.leases.check(group, ref, consumer);
    // The lease check may have waited on the meta-server: ownership again, with no await after.
    ref = this.topics.ownedPartition(topic, partition);
    const key = cursorKey(group, ref);
    let open = this.cursors.get(key);
    if (!open) {
      const log = this.logs.get(partitionKey(ref))!;
      open = GroupCursor.open(group, log, this.store, this.options, this.logger);
      this.cursors.set(key, open);
      open.then(
        (c) => this.opened.push(c),
        // A failed open (store down) is retried by the next call.
        () => this.cursors.delete(key),
      );
    }
    return open;
  }

  private delivered(cursor: GroupCursor, taken: Delivered[]): Delivered[] {
    let redeliveries = 0;
    for (const d of taken) if (d.attempt > 1) redeliveries++;
    const labels = { topic: cursor.ref.topic, group: cursor.group };
    if (taken.length > redeliveries)
      this.metrics.deliveredMessages.inc({ ...labels, redelivery: 'false' }, taken.length - redeliveries);
    if (redeliveries > 0) this.metrics.deliveredMessages.inc({ ...labels, redelivery: 'true' }, redeliveries);
    return taken;
  }

  /**
   * An offset reset (CommandTarget): drops the group's cursor on the partition with what it
   * has in flight, stores the acks it had not stored yet and then `offset` itself, forcibly,
   * and opens a new cursor there. Calls arriving meanwhile wait for the new cursor.
   */
  async reset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    const log = this.logs.get(partitionKey(ref));
    if (!log) return this.store.forceCommittedOffset(group, ref, offset);
    const key = cursorKey(group, ref);
    const old = this.cursors.get(key);
    const open = (async () => {
      const cursor = await old?.catch(() => undefined);
      if (cursor) {
        this.opened = this.opened.filter((o) => o !== cursor);
        cursor.close();
      }
      await this.offsets.flush();
      // A late ack on the dropped cursor must never be stored over the reset.
      if (cursor) cursor.storedOffset = Number.MAX_SAFE_INTEGER;
      await this.store.forceCommittedOffset(group, ref, offset);
      return GroupCursor.open(group, log, this.store, this.options, this.logger);
    })();
    this.cursors.set(key, open);
    open.then(
      (c) => this.opened.push(c),
      () => {
        if (this.cursors.get(key) === open) this.cursors.delete(key);
      },
    );
    await open;
  }

  /** Whether the cursor was dropped (reset, forget) since a call took it. */
  private retired(cursor: GroupCursor): boolean {
    return !this.opened.includes(cursor);
  }

  /** Wakes the group's waiting pulls and subscriptions on the partition (CommandTarget). */
  wakeResends(group: string, ref: PartitionRef): void {
    this.cursors.get(cursorKey(group, ref))?.then(
      (c) => c.signal.notify(),
      () => undefined,
    );
  }
}

function cursorKey(group: string, ref: PartitionRef): string {
  return `${group}\u0000${partitionKey(ref)}`;
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}
