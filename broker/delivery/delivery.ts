// The delivery path: one GroupCursor per (group, topic, partition), opened on first use with
// the group's policy; long-poll Pull, credit-paced subscriptions, Ack, Nack, lag, and the
// owner's side of Admin changes (resend wake-ups after a replay, offset resets).
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { BrokerMetrics, LagSample } from '../metrics';
import type { BrokerOptions } from '../../common/broker-options';
import type { MessageStore, PartitionRef } from '../../storage/index';
import { broadcastConsumerOf, groupOfKey, subscriptionKey } from '../../storage/index';
import { recordDelivery, tracing } from '../trace/record';
import type { Tracer } from '../trace/tracer';
import { partitionKey, requireName } from '../topics';
import type { Topics } from '../topics';
import { GroupCursor } from './group-cursor';
import type { CursorContext, Delivered } from './group-cursor';
import type { GroupPolicies, GroupPolicy } from '../../common/group-policy';
import type { PartitionLog } from './partition-log';
import type { OffsetCommitter } from './offset-committer';
import { SendBudget } from './send-budget';
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
  /** A broadcast group's consumer whose lag this is; '' in a clustering group. */
  consumer: string;
  endOffset: number;
  committedOffset: number;
  lag: number;
  inFlight: number;
}

/** A subscription's sink: `send` resolves once the transport can take more. */
export interface SubscriptionSink {
  /** Hands over deliveries taken together, in order; resolves when the transport can take more. */
  send(ds: Delivered[], ref: PartitionRef): Promise<void>;
}

/** What delivery reads and writes in a topic's message store. */
export type DeliveryStore = Pick<
  MessageStore,
  | 'read'
  | 'readOffsets'
  | 'committedOffset'
  | 'findCommittedOffset'
  | 'commitOffset'
  | 'commitOffsets'
  | 'forceCommittedOffset'
  | 'broadcastConsumers'
>;

/** What Delivery works with besides its options. */
export interface DeliveryContext {
  topics: Topics;
  logs: Map<string, PartitionLog>;
  /** The message store of a topic (its storage kind's). */
  stores: (topic: string) => DeliveryStore;
  retries: CursorContext['retries'];
  metrics: BrokerMetrics;
  logger: Logger;
  leases: ConsumerLeaseGuard;
  policies: GroupPolicies;
  tracer: Tracer;
  /** Stores the acked offsets (Delivery starts and stops it). */
  offsets: OffsetCommitter;
}

export class Delivery {
  private cursors = new Map<string, Promise<GroupCursor>>();
  /**
   * The cursors whose open completed, by key, for synchronous use (metrics, the cached path of
   * a call); a cursor being replaced (reset, forget) leaves at once.
   */
  private readonly live = new Map<string, GroupCursor>();
  /** Each cursor's labelled metric series, looked up once (prom-client hashes labels per call). */
  private readonly series = new Map<GroupCursor, CursorSeries>();
  /** Fires on shutdown: every waiting pull returns, every subscription ends. */
  private readonly stopping = new AbortController();
  private readonly offsets: OffsetCommitter;
  /** Bytes of deliveries written to Subscribe streams and not yet flushed (delivery.maxUnsentBytes). */
  readonly unsent: SendBudget;
  /** When a call last used each cursor (broadcast cursors left idle are closed). */
  private readonly used = new Map<GroupCursor, number>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly topics: Topics;
  private readonly logs: Map<string, PartitionLog>;
  private readonly metrics: BrokerMetrics;
  private readonly logger: Logger;

  constructor(
    private readonly ctx: DeliveryContext,
    private readonly options: BrokerOptions['delivery'],
  ) {
    ({ topics: this.topics, logs: this.logs, metrics: this.metrics, logger: this.logger } = ctx);
    this.unsent = new SendBudget(options.maxUnsentBytes, (bytes) =>
      ctx.metrics.deliveryUnsentBytes.set(bytes),
    );
    this.offsets = ctx.offsets;
    this.offsets.start();
    this.sweeper = setInterval(
      () =>
        void this.closeIdle().catch((err: unknown) =>
          this.logger.warn('could not close idle broadcast cursors', { err }),
        ),
      Math.min(options.idleCursorMs, 10_000),
    );
    this.sweeper.unref();
  }

  /**
   * Closes broadcast cursors no call used for idleCursorMs, after storing their offsets: their
   * consumer left (its offsets may be deleted later) or reads elsewhere.
   */
  private async closeIdle(): Promise<void> {
    const before = Date.now() - this.options.idleCursorMs;
    const idle = () =>
      [...this.live.values()].filter((c) => c.key !== c.group && (this.used.get(c) ?? 0) < before);
    if (idle().length === 0) return;
    await this.offsets.flush();
    for (const c of idle()) {
      const key = cursorKey(c.key, c.ref);
      const open = this.cursors.get(key);
      if (open && (await open) === c) this.cursors.delete(key);
      this.close(c);
    }
  }

  async pull(input: PullInput, cancelled: AbortSignal): Promise<Delivered[]> {
    let cursor = await this.cursor(input.group, input.topic, input.partition, input.consumer);
    requireFilter(cursor);
    const max = clamp(input.maxMessages || 1, 1, this.options.maxPullMessages);
    const ackTimeout = input.ackTimeoutMs || cursor.policy.ackTimeoutMs;
    const deadline = Date.now() + Math.min(input.maxWaitMs, this.options.maxPullWaitMs);
    const abort = AbortSignal.any([cancelled, this.stopping.signal]);
    for (;;) {
      // An offset reset or a change of owner replaced the cursor: go on with the new one.
      if (this.retired(cursor))
        cursor = await this.cursor(input.group, input.topic, input.partition, input.consumer);
      const seen = cursor.signal.version;
      const taken = await cursor.take(max, ackTimeout);
      if (taken.length > 0) return this.delivered(cursor, taken, input.consumer);
      const remaining = deadline - Date.now();
      if (remaining <= 0 || abort.aborted) return [];
      if (cursor.signal.version !== seen) continue;
      this.metrics.waitingPulls.inc();
      const c = cursor;
      await c.signal.wait(remaining, abort, () => c.hasWork(Date.now()));
      this.metrics.waitingPulls.dec();
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
    requireFilter(cursor);
    const ackTimeout = start.ackTimeoutMs || cursor.policy.ackTimeoutMs;
    const abort = AbortSignal.any([cancelled, this.stopping.signal]);
    while (!abort.aborted) {
      if (credits.available <= 0) {
        const seen = credits.signal.version;
        if (credits.available <= 0 && credits.signal.version === seen)
          await credits.signal.wait(Infinity, abort);
        continue;
      }
      // Ownership and the consumer's lease again before every take (both cached): a stream whose
      // lease ended or whose partition moved ends with the reason instead of feeding a zombie.
      // This also moves on to a cursor that an offset reset replaced.
      cursor =
        this.cachedCursor(start.group, start.topic, start.partition, start.consumer) ??
        (await this.cursor(start.group, start.topic, start.partition, start.consumer));
      const c = cursor;
      const seen = c.signal.version;
      const taken = await c.take(Math.min(credits.available, this.options.maxPullMessages), ackTimeout);
      if (taken.length > 0) {
        credits.available -= taken.length;
        await sink.send(this.delivered(c, taken, start.consumer), c.ref);
        // More left than this take's limit: take again without waiting.
        if (c.hasWork(Date.now())) continue;
      }
      // A notify while taking or sending may have brought more: look again. Else sleep until a
      // notify leaves the cursor something to take (commits and window-opening acks do; the
      // rest cost the predicate only), or the recheck of ownership and lease is due.
      if (c.signal.version !== seen) continue;
      await c.signal.wait(this.options.subscribeRecheckMs, abort, () => c.hasWork(Date.now()));
    }
  }

  async ack(
    group: string,
    topic: string,
    partition: number,
    offsets: number[],
    consumer: ConsumerClaim,
  ): Promise<number> {
    const cursor =
      this.cachedCursor(group, topic, partition, consumer) ??
      (await this.cursor(group, topic, partition, consumer));
    const since = offsets.map((o) => cursor.deliveredAt(o));
    const committed = await cursor.ack(offsets);
    this.offsets.changed(cursor);
    const series = this.seriesOf(cursor);
    series.acked.inc(offsets.length);
    const now = Date.now();
    for (const at of since) if (at !== undefined) series.handling.observe((now - at) / 1000);
    if (tracing(this.ctx.tracer)) for (const offset of offsets) this.trace('acked', cursor, offset, consumer);
    return committed;
  }

  async nack(
    group: string,
    topic: string,
    partition: number,
    offsets: number[],
    delayMs: number,
    error: string,
    consumer: ConsumerClaim,
    /** Give the messages up now (dead letter or drop), whatever their retry budget. */
    final = false,
  ): Promise<void> {
    const cursor = await this.cursor(group, topic, partition, consumer);
    await cursor.nack(
      offsets,
      delayMs,
      error,
      (failed) => {
        for (const f of failed) this.trace('nacked', cursor, f.offset, consumer, { error }, f.attempts);
      },
      final,
    );
    // Dead letters and retries move the committed offset too.
    this.offsets.changed(cursor);
  }

  /**
   * The group's resend schedule on a partition changed in the store (a dead-letter replay):
   * an open cursor re-reads its head. A cursor opened later reads the schedule anyway.
   */
  wakeResends(sub: string, ref: PartitionRef): void {
    const open = this.cursors.get(cursorKey(sub, ref));
    open?.then(
      (c) => c.wakeResends(),
      () => undefined,
    );
  }

  /**
   * The lag of the group on the partitions this broker owns; in a broadcast group a row per
   * consumer with stored offsets (or an open cursor here) and partition.
   */
  async lag(group: string, topic: string): Promise<PartitionLagInfo[]> {
    requireName('group', group);
    const owned = this.topics.ownedPartitions(topic);
    const policy = await this.ctx.policies.policy(group);
    let consumers = [''];
    if (policy.broadcast) {
      // Every consumer that read has offsets stored (its start, at its first read).
      consumers = (await this.ctx.stores(topic).broadcastConsumers(group, topic)).sort();
    }
    const rows = owned.flatMap((ref) => consumers.map((consumer) => ({ ref, consumer })));
    return Promise.all(
      rows.map(async ({ ref, consumer }) => {
        const key = consumer === '' ? group : subscriptionKey(group, consumer);
        const log = this.logs.get(partitionKey(ref))!;
        const open = this.cursors.get(cursorKey(key, ref));
        const cursor = open ? await open : undefined;
        const committedOffset = cursor
          ? cursor.committed
          : await this.ctx.stores(topic).committedOffset(key, ref);
        return {
          partition: ref.partition,
          consumer,
          endOffset: log.endOffset,
          committedOffset,
          lag: Math.max(0, log.endOffset - committedOffset),
          inFlight: cursor?.inFlight ?? 0,
        };
      }),
    );
  }

  /**
   * The storage key of a call naming a group and maybe a consumer (Admin dead letters and
   * offset resets): a broadcast group needs the consumer, a clustering group takes none.
   */
  async subscription(group: string, consumer: string): Promise<string> {
    requireName('group', group);
    const policy = await this.ctx.policies.policy(group);
    if (policy.broadcast) {
      if (consumer === '')
        throw new HeraldError(
          'INVALID_REQUEST',
          `${group} is a broadcast group: every consumer has its own offsets and dead letters; name the consumer`,
          { field: 'consumer', group },
        );
      return subscriptionKey(group, consumer);
    }
    if (consumer !== '')
      throw new HeraldError(
        'INVALID_REQUEST',
        `${group} is a clustering group: its consumers share its offsets and dead letters; name no consumer`,
        { field: 'consumer', group },
      );
    return group;
  }

  /** Lag of every open cursor, for the metrics gauge (no I/O). */
  lagSamples(): LagSample[] {
    return [...this.live.values()].map((c) => ({
      group: c.group,
      consumer: consumerOf(c),
      topic: c.ref.topic,
      partition: c.ref.partition,
      lag: Math.max(0, this.logs.get(partitionKey(c.ref))!.endOffset - c.committed),
      inFlight: c.inFlight,
    }));
  }

  /** Ends waits and subscriptions, then stores every committed offset. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.sweeper);
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
      this.live.delete(key);
      open.then(
        (c) => this.close(c),
        () => undefined,
      );
    }
  }

  private close(c: GroupCursor): void {
    const key = cursorKey(c.key, c.ref);
    if (this.live.get(key) === c) this.live.delete(key);
    this.series.delete(c);
    this.used.delete(c);
    this.offsets.forget(c);
    c.close();
  }

  private newCursor(
    group: string,
    key: string,
    ref: PartitionRef,
    policy: GroupPolicy,
    committed: number,
  ): GroupCursor {
    const log = this.logs.get(partitionKey(ref))!;
    const priority = this.topics.topic(ref.topic).priority;
    const context = { ...this.ctx, store: this.ctx.stores(ref.topic) };
    return new GroupCursor(group, key, log, context, this.options, policy, priority, committed);
  }

  /**
   * Where a cursor opens: the key's committed offset; for a broadcast consumer new to the
   * partition, by the group's startFrom (stored at once, so a reconnect resumes there).
   */
  private async startOffset(key: string, ref: PartitionRef, policy: GroupPolicy): Promise<number> {
    const store = this.ctx.stores(ref.topic);
    if (!policy.broadcast) return store.committedOffset(key, ref);
    const found = await store.findCommittedOffset(key, ref);
    if (found !== undefined) return found;
    const start = policy.startFrom === 'latest' ? this.logs.get(partitionKey(ref))!.endOffset : 0;
    await store.commitOffset(key, ref, start);
    return start;
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
    await this.ctx.leases.check(group, ref, consumer);
    const policy = await this.ctx.policies.policy(group);
    const sub = policy.broadcast ? broadcastKey(group, consumer) : group;
    // The checks may have waited on the meta-server: ownership again, with no await after.
    ref = this.topics.ownedPartition(topic, partition);
    const key = cursorKey(sub, ref);
    let open = this.cursors.get(key);
    if (!open) {
      const at = ref;
      open = this.startOffset(sub, at, policy).then((committed) =>
        this.newCursor(group, sub, at, policy, committed),
      );
      this.cursors.set(key, open);
      open.then(
        (c) => this.live.set(key, c),
        // A failed open (store down) is retried by the next call.
        () => this.cursors.delete(key),
      );
    }
    const cursor = await open;
    cursor.policy = policy;
    this.used.set(cursor, Date.now());
    return cursor;
  }

  /**
   * The open cursor of a call when everything cursor() checks is decided by what is cached
   * (the group's policy, ownership, the consumer's lease), with no await: a take or an ack at
   * the tail then allocates no promise chain here. Undefined: ask cursor(), which also throws
   * the refusal.
   */
  private cachedCursor(
    group: string,
    topic: string,
    partition: number,
    consumer: ConsumerClaim,
  ): GroupCursor | undefined {
    if (this.stopping.signal.aborted) return undefined;
    const policy = this.ctx.policies.cachedPolicy(group);
    if (policy === undefined || (policy.broadcast && consumer.id === '')) return undefined;
    const ref = { topic, partition };
    // Only a call that opened this cursor before took cursor()'s checks of names and ranges.
    const cursor = this.live.get(
      cursorKey(policy.broadcast ? subscriptionKey(group, consumer.id) : group, ref),
    );
    if (cursor === undefined || !this.topics.owns(ref) || !this.ctx.leases.allowed(group, ref, consumer))
      return undefined;
    cursor.policy = policy;
    this.used.set(cursor, Date.now());
    return cursor;
  }

  private trace(
    event: string,
    cursor: GroupCursor,
    offset: number,
    consumer: ConsumerClaim,
    detail?: Record<string, string>,
    attempt?: number,
  ): void {
    recordDelivery(this.ctx.tracer, event, cursor.ref, offset, cursor.group, {
      ...(consumer.id ? { consumerId: consumer.id } : {}),
      ...(attempt !== undefined ? { attempt } : {}),
      ...(detail ? { detail } : {}),
    });
  }

  private delivered(cursor: GroupCursor, taken: Delivered[], consumer: ConsumerClaim): Delivered[] {
    const log = this.logs.get(partitionKey(cursor.ref));
    const now = performance.now();
    const traced = tracing(this.ctx.tracer);
    for (const d of taken) {
      if (traced) this.trace('delivered', cursor, d.message.offset, consumer, undefined, d.attempt);
      const committedAt = d.attempt === 1 ? log?.committedAt(d.message.offset) : undefined;
      if (committedAt !== undefined) this.metrics.deliveryWake.observe((now - committedAt) / 1000);
    }
    let redeliveries = 0;
    for (const d of taken) if (d.attempt > 1) redeliveries++;
    const series = this.seriesOf(cursor);
    if (taken.length > redeliveries) series.first.inc(taken.length - redeliveries);
    if (redeliveries > 0) series.again.inc(redeliveries);
    return taken;
  }

  private seriesOf(cursor: GroupCursor): CursorSeries {
    let series = this.series.get(cursor);
    if (!series) {
      const { topic } = cursor.ref;
      const group = cursor.group;
      series = {
        first: this.metrics.deliveredMessages.labels(topic, group, 'false'),
        again: this.metrics.deliveredMessages.labels(topic, group, 'true'),
        acked: this.metrics.ackedMessages.labels(topic, group),
        handling: this.metrics.handlingTime.labels(topic, group),
      };
      this.series.set(cursor, series);
    }
    return series;
  }

  /**
   * An offset reset (CommandTarget): drops the group's cursor on the partition with what it
   * has in flight, stores the acks it had not stored yet and then `offset` itself, forcibly,
   * and opens a new cursor there. Calls arriving meanwhile wait for the new cursor.
   */
  async reset(sub: string, ref: PartitionRef, offset: number): Promise<void> {
    const store = this.ctx.stores(ref.topic);
    if (!this.logs.has(partitionKey(ref))) return store.forceCommittedOffset(sub, ref, offset);
    const group = groupOfKey(sub);
    const key = cursorKey(sub, ref);
    const old = this.cursors.get(key);
    // Calls from now on wait for the new cursor (cursor() awaits it; the cached path misses).
    this.live.delete(key);
    const open = (async () => {
      const cursor = await old?.catch(() => undefined);
      // Acks taken before the reset are stored first; then the dropped cursor stores nothing.
      await this.offsets.flush();
      if (cursor) this.close(cursor);
      await store.forceCommittedOffset(sub, ref, offset);
      return this.newCursor(group, sub, ref, await this.ctx.policies.policy(group), offset);
    })();
    this.cursors.set(key, open);
    open.then(
      (c) => this.live.set(key, c),
      () => {
        if (this.cursors.get(key) === open) this.cursors.delete(key);
      },
    );
    await open;
  }

  /** Whether the cursor was dropped (reset, forget) since a call took it. */
  private retired(cursor: GroupCursor): boolean {
    return this.live.get(cursorKey(cursor.key, cursor.ref)) !== cursor;
  }
}

/** A group whose tagFilter does not parse gets no deliveries (the operator reports why). */
function requireFilter(cursor: GroupCursor): void {
  const f = cursor.policy.filter;
  if (!f.ok) {
    throw new HeraldError(
      'INVALID_REQUEST',
      `group ${cursor.group} has an invalid tagFilter ${JSON.stringify(cursor.policy.tagFilter)}: ${f.error.message}`,
      { field: 'tagFilter', group: cursor.group, position: String(f.error.position) },
    );
  }
}

/** The cursors of a group are keyed by subscription (storage/subscription.ts) and partition. */
function cursorKey(sub: string, ref: PartitionRef): string {
  return `${sub}\u0000${partitionKey(ref)}`;
}

/** A broadcast group's key of the calling consumer, which must name itself. */
function broadcastKey(group: string, consumer: ConsumerClaim): string {
  if (consumer.id === '')
    throw new HeraldError(
      'INVALID_REQUEST',
      `${group} is a broadcast group: name consumer_id and lease_epoch (every consumer reads with offsets of its own)`,
      { field: 'consumer_id', group },
    );
  return subscriptionKey(group, consumer.id);
}

/** A cursor's consumer: '' for a clustering group's. */
function consumerOf(c: GroupCursor): string {
  return broadcastConsumerOf(c.group, c.key) ?? '';
}

/** A cursor's labelled series: delivered (first, again), acked, handling time. */
interface CursorSeries {
  first: { inc(n: number): void };
  again: { inc(n: number): void };
  acked: { inc(n: number): void };
  handling: { observe(seconds: number): void };
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}
