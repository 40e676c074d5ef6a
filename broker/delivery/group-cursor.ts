// One consumer group's reading position on one owned partition. It delivers, in Hermes'
// order: the priority lane, then due resends, then the normal lane; it tracks what is in
// flight (AckTracker for the partition's offsets, a map for resends), applies the group's
// tag filter and retry policy, and wakes waiting pulls through its Signal.
//
// Failures (Nack, ack timeout) follow the group's policy (retry-schedule.ts):
// - concurrent: the message leaves the partition's order. Its retry is written to the resend
//   schedule FIRST; only then is its offset treated as acked, so the committed offset can pass
//   it. A crash in between redelivers it from the partition (at-least-once), never loses it.
//   A resend is rescheduled to (now + ack timeout, attempts + 1) as it is delivered, so a
//   delivery lost with its broker comes back with the right attempt number.
// - ordered: the message stays in the partition's order and is redelivered in place after the
//   policy's delay; nothing later is delivered until it is acked or given up.
// After maxRetries a failure dead-letters the message (or drops it, without dead letters).
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { BrokerMetrics } from '../metrics';
import type { NewDeadLetter, Resend, RetryStore } from '../../storage/retry-store';
import type { MessageStore, PartitionRef, StoredMessage } from '../../storage/storage';
import { recordDelivery } from '../trace/record';
import type { Tracer } from '../trace/tracer';
import { AckTracker } from './ack-tracker';
import type { GroupPolicy } from '../../common/group-policy';
import { MinHeap } from './min-heap';
import type { PartitionLog } from './partition-log';
import { nextRetry } from '../../common/retry-schedule';
import type { RetryPolicy, RetryStep } from '../../common/retry-schedule';
import { Signal } from './signal';
import { matchesTags } from '../../common/tag-filter';

export interface CursorOptions {
  /** Delivered-but-unacked messages per group and partition (the broker's cap). */
  maxInFlight: number;
  /** Messages per read from the store when the cursor is behind the log's cache. */
  prefetchMessages: number;
  /** An idle cursor re-reads the head of its resend schedule at most this often. */
  resendPollMs: number;
  /** Due resends read per query. */
  resendBatch: number;
  /** After a failed write of a retry, the failure is tried again this much later. */
  retryWriteBackoffMs: number;
}

/** What a cursor uses besides its partition's log. */
export interface CursorContext {
  store: Pick<MessageStore, 'read' | 'readOffsets'>;
  retries: Pick<
    RetryStore,
    'scheduleResends' | 'dueResends' | 'nextResendAt' | 'deleteResends' | 'deadLetter'
  >;
  tracer: Tracer;
  metrics: BrokerMetrics;
  logger: Logger;
}

export interface Delivered {
  message: StoredMessage;
  attempt: number;
}

/** Nack error texts are kept up to this many bytes. */
export const MAX_ERROR_BYTES = 4096;

interface ResendInFlight {
  attempt: number;
  due: number;
  lastError: string;
  failing: boolean;
}

interface Failure {
  offset: number;
  attempts: number;
  lastError: string;
  overrideMs: number;
  source: 'partition' | 'resend';
  /** No retry whatever the budget: dead-letter (or drop) now (a push endpoint's 4xx). */
  final?: boolean;
}

export class GroupCursor {
  readonly signal = new Signal();
  private readonly tracker: AckTracker;
  /** The next normal-lane offset to look at. */
  private normalNext: number;
  /** The next priority-lane offset to look at (Infinity: the topic has no priority lane). */
  private priorityNext: number;
  /** Normal-lane messages read ahead from the store, from `normalNext` on. */
  private buffer: StoredMessage[] = [];
  private prefetching: Promise<void> | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** When `timer` fires (Date.now() time). */
  private timerAt = 0;
  /** Due resends read from the store, not yet delivered. */
  private resendQueue: Resend[] = [];
  /** The earliest scheduleAt known to this cursor; undefined when none is known. */
  private resendHeadAt: number | undefined;
  private resendCheckedAt = 0;
  /** Re-read the schedule's head at the next take (a replay, or a retry due at once). */
  private resendStale = true;
  private readonly resending = new Map<number, ResendInFlight>();
  private readonly resendDue = new MinHeap<number>();
  private closed = false;
  /** The committed offset last stored (the OffsetCommitter moves it). */
  storedOffset: number;
  private readonly unlisten: () => void;

  constructor(
    /** The group's name, for metrics, traces and logs. */
    readonly group: string,
    /**
     * Whose offsets, retries and dead letters these are in storage: the group's name, or in a
     * broadcast group one consumer's key (storage/subscription.ts).
     */
    readonly key: string,
    private readonly log: PartitionLog,
    private readonly ctx: CursorContext,
    private readonly options: CursorOptions,
    public policy: GroupPolicy,
    priorityLane: boolean,
    committed: number,
  ) {
    this.tracker = new AckTracker(committed);
    this.storedOffset = committed;
    this.normalNext = committed + 1;
    this.priorityNext = priorityLane ? committed + 1 : Infinity;
    this.unlisten = log.listen(() => this.signal.notify());
  }

  get ref(): PartitionRef {
    return this.log.ref;
  }

  get committed(): number {
    return this.tracker.committed;
  }

  get inFlight(): number {
    return this.tracker.outstanding + this.resending.size;
  }

  /**
   * Up to `max` deliveries available now. Never waits for new messages (callers wait on
   * `signal`), but reads from the store and writes resend bookkeeping.
   */
  take(max: number, ackTimeoutMs: number): Promise<Delivered[]> {
    return this.locked(() => this.takeLocked(max, ackTimeoutMs));
  }

  /** When an offset now awaiting its ack was delivered; undefined for others and for resends. */
  deliveredAt(offset: number): number | undefined {
    return this.resending.has(offset) ? undefined : this.tracker.deliveredAt(offset);
  }

  /**
   * Applies acks (all or none: an offset never delivered rejects the whole call) and returns
   * the committed offset; the OffsetCommitter stores it shortly after. An acked resend leaves
   * the schedule before this resolves.
   */
  ack(offsets: number[]): Promise<number> {
    return this.locked(async () => {
      this.requireDelivered(offsets);
      const blocked = this.blocked();
      const resends = offsets.filter((o) => this.resending.has(o));
      this.tracker.ackAll(resends.length === 0 ? offsets : offsets.filter((o) => !this.resending.has(o)));
      if (resends.length > 0) {
        await this.ctx.retries.deleteResends(this.key, this.ref, resends);
        for (const o of resends) this.resending.delete(o);
      }
      // An ack gives a reader something only when it held the window (maxInFlight, or an
      // ordered group's failed message) shut.
      if (blocked && !this.blocked()) this.signal.notify();
      return this.tracker.committed;
    });
  }

  /**
   * Whether a take now could deliver something or has work due (expiries, a resend read):
   * false means it would return nothing. No I/O and no allocation, so a reader asks it at
   * every notify (Signal's `ready`) and sleeps on until it holds.
   */
  hasWork(now: number): boolean {
    if (this.closed || this.tracker.readyCount() > 0) return true;
    const due = this.tracker.nextDue();
    if (due !== undefined && due <= now) return true;
    const resendDue = this.resendDue.peek();
    if (resendDue && resendDue.at <= now) return true;
    if (this.blocked()) return false;
    const end = this.log.endOffset;
    if (this.normalNext <= end || this.priorityNext <= end) return true;
    return !this.policy.ordered && this.resendsToRead(now);
  }

  /** No new delivery can go out until an ack (or a retry's end) opens the window. */
  private blocked(): boolean {
    if (this.policy.ordered && this.tracker.troubled > 0) return true;
    return this.inFlight >= Math.min(this.policy.maxInFlight, this.options.maxInFlight);
  }

  /**
   * Gives delivered messages back: each is retried per the policy (or after `delayMs`), or
   * given up after maxRetries. Resolves once that is stored. `accepted` runs once the offsets
   * are checked, before anything is retried (the caller traces the Nack there), with the
   * delivery attempt that failed of each offset it changed. `final` gives them up at once.
   */
  nack(
    offsets: number[],
    delayMs: number,
    error: string,
    accepted: (failed: { offset: number; attempts: number }[]) => void = () => undefined,
    final = false,
  ): Promise<void> {
    return this.locked(async () => {
      this.requireDelivered(offsets);
      const lastError = truncateUtf8(error, MAX_ERROR_BYTES);
      const failures: Failure[] = [];
      for (const offset of offsets) {
        const resend = this.resending.get(offset);
        if (resend && !resend.failing) {
          resend.failing = true;
          failures.push({
            offset,
            attempts: resend.attempt,
            lastError,
            overrideMs: delayMs,
            source: 'resend',
            final,
          });
          continue;
        }
        const attempts = resend ? undefined : this.tracker.fail(offset);
        // Offsets already acked or already failing are left as they are.
        if (attempts !== undefined)
          failures.push({ offset, attempts, lastError, overrideMs: delayMs, source: 'partition', final });
      }
      accepted(failures);
      await this.failed(failures, Date.now());
      this.signal.notify();
    });
  }

  /** The resend schedule changed in the store (a replay): re-read its head. */
  wakeResends(): void {
    this.resendStale = true;
    this.signal.notify();
  }

  close(): void {
    this.closed = true;
    this.unlisten();
    if (this.timer) clearTimeout(this.timer);
    this.signal.notify();
  }

  private locked<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lock.then(work);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async takeLocked(max: number, ackTimeoutMs: number): Promise<Delivered[]> {
    const now = Date.now();
    const expiring = this.expire(now);
    if (expiring) await expiring;
    const out: Delivered[] = [];
    const cap = Math.min(this.policy.maxInFlight, this.options.maxInFlight);
    const room = () => Math.min(max - out.length, cap - this.inFlight);
    // In-place redeliveries (ordered mode) come first.
    const ready = this.tracker.takeReady(Math.max(0, max), now, ackTimeoutMs);
    if (ready.length > 0) {
      const messages = await this.fetchOffsets(ready.map(([o]) => o));
      for (const [offset, attempt] of ready) {
        const message = messages.get(offset);
        // A message gone from the store (retention) cannot be redelivered: it counts as acked.
        if (message) out.push({ message, attempt });
        else this.tracker.ack(offset);
      }
    }
    if (!this.policy.ordered || this.tracker.troubled === 0) {
      // Each step only when it may find something: a take woken by one commit awaits once.
      if (this.priorityNext <= this.log.endOffset)
        await this.takeLane('priority', room, now, ackTimeoutMs, out);
      if (!this.policy.ordered && room() > 0 && this.resendsToRead(now)) {
        try {
          out.push(...(await this.takeResends(room(), now, ackTimeoutMs)));
        } catch (err) {
          // Priority messages taken above are in flight already: deliver them, retry later.
          if (out.length === 0) throw err;
          this.ctx.logger.warn('could not read due resends', { ...this.ref, group: this.group, err });
          this.armTimer();
          return out;
        }
      }
      if (this.normalNext <= this.log.endOffset) await this.takeLane('normal', room, now, ackTimeoutMs, out);
    }
    this.tracker.advanceSeen(Math.min(this.normalNext, this.priorityNext) - 1);
    this.armTimer();
    return out;
  }

  /** Delivers new messages of one lane while there is room, skipping what the filter rejects. */
  private async takeLane(
    lane: 'priority' | 'normal',
    room: () => number,
    now: number,
    ackTimeoutMs: number,
    out: Delivered[],
  ): Promise<void> {
    const filter = this.policy.filter.ok ? this.policy.filter.expr : undefined;
    // An empty read with the lane's next offset still at or below the end: the cache held only
    // the other lane's messages there; read on.
    while (room() > 0 && (lane === 'priority' ? this.priorityNext : this.normalNext) <= this.log.endOffset) {
      const read = lane === 'priority' ? this.readPriority(room()) : this.readNormal(room());
      const messages = Array.isArray(read) ? read : await read;
      for (const message of messages) {
        if (!matchesTags(filter, message.tags)) {
          this.filtered(message);
          continue;
        }
        this.tracker.deliverNew(message.offset, now, ackTimeoutMs);
        out.push({ message, attempt: 1 });
      }
    }
  }

  private filtered(message: StoredMessage): void {
    this.ctx.metrics.filteredMessages.inc({ topic: this.ref.topic, group: this.group });
    this.trace('filtered', message.offset, message.refKey, { detail: { filter: this.policy.tagFilter } });
  }

  /** Moves timed-out deliveries (first deliveries and resends) into their retry; undefined: none. */
  private expire(now: number): Promise<void> | undefined {
    const failures: Failure[] = this.tracker
      .expire(now)
      .map(([offset, attempts]) => ({ offset, attempts, lastError: '', overrideMs: 0, source: 'partition' }));
    for (let top = this.resendDue.peek(); top && top.at <= now; top = this.resendDue.peek()) {
      this.resendDue.pop();
      const r = this.resending.get(top.value);
      if (!r || r.failing || r.due !== top.at) continue;
      r.failing = true;
      failures.push({
        offset: top.value,
        attempts: r.attempt,
        lastError: r.lastError,
        overrideMs: 0,
        source: 'resend',
      });
    }
    return failures.length > 0 ? this.failed(failures, now) : undefined;
  }

  /** Applies the retry policy to failures; durable before anything changes in memory. */
  private async failed(failures: Failure[], now: number): Promise<void> {
    if (failures.length === 0) return;
    const retry: { f: Failure; at: number }[] = [];
    const dead: Failure[] = [];
    const dropped: Failure[] = [];
    for (const f of failures) {
      const step = f.final
        ? giveUp(this.policy.retry)
        : nextRetry(this.policy.retry, f.attempts, now, f.overrideMs);
      if (step.kind === 'retry') retry.push({ f, at: step.at });
      else if (step.kind === 'dead-letter') dead.push(f);
      else dropped.push(f);
    }
    // Ordered mode: a partition message is retried in place and keeps blocking the partition.
    const inPlace = this.policy.ordered ? retry.filter((r) => r.f.source === 'partition') : [];
    const scheduled = retry.filter((r) => !inPlace.includes(r));
    try {
      await this.ctx.retries.scheduleResends(
        scheduled.map(({ f, at }) => ({
          group: this.key,
          ref: this.ref,
          offset: f.offset,
          scheduleAt: at,
          attempts: f.attempts,
          lastError: f.lastError,
        })),
      );
      await this.deadLetter(dead);
      const gone = dropped.filter((f) => f.source === 'resend').map((f) => f.offset);
      if (gone.length > 0) await this.ctx.retries.deleteResends(this.key, this.ref, gone);
    } catch (err) {
      // Nothing changed: the failures go back into flight and time out again shortly.
      const due = Date.now() + this.options.retryWriteBackoffMs;
      for (const f of failures) {
        if (f.source === 'partition') this.tracker.unfail(f.offset, due);
        else
          this.resendInFlight(f.offset, { attempt: f.attempts, due, lastError: f.lastError, failing: false });
      }
      this.armTimer();
      throw err;
    }
    const labels = { topic: this.ref.topic, group: this.group };
    for (const { f, at } of retry) {
      this.ctx.metrics.retriesScheduled.inc(labels);
      this.trace('retried', f.offset, '', {
        attempt: f.attempts,
        detail: { scheduleAt: new Date(at).toISOString() },
      });
    }
    for (const { f, at } of inPlace) this.tracker.retryAt(f.offset, at);
    for (const { f, at } of scheduled) {
      this.release(f);
      if (at <= Date.now()) this.resendStale = true;
      else if (
        this.resendHeadAt === undefined ||
        this.resendHeadAt <= this.resendCheckedAt ||
        at < this.resendHeadAt
      )
        this.resendHeadAt = at;
    }
    for (const f of dead) {
      this.release(f);
      this.ctx.metrics.deadLettered.inc(labels);
      this.trace('dead-lettered', f.offset, '', { attempt: f.attempts, detail: { reason: reasonOf(f) } });
    }
    for (const f of dropped) {
      this.release(f);
      this.ctx.metrics.droppedMessages.inc(labels);
      this.trace('dead-lettered', f.offset, '', {
        attempt: f.attempts,
        detail: { reason: reasonOf(f), dropped: 'true' },
      });
    }
    this.armTimer();
  }

  private async deadLetter(dead: Failure[]): Promise<void> {
    if (dead.length === 0) return;
    const messages = await this.fetchOffsets(dead.map((f) => f.offset));
    const letters: NewDeadLetter[] = [];
    const gone: number[] = [];
    for (const f of dead) {
      const message = messages.get(f.offset);
      if (!message) {
        gone.push(f.offset);
        continue;
      }
      letters.push({
        group: this.key,
        message: { ...message, ref: this.ref },
        reason: reasonOf(f),
        attempts: f.attempts,
        lastError: f.lastError,
      });
    }
    await this.ctx.retries.deadLetter(letters);
    // A message gone from the store (retention) has nothing to keep.
    if (gone.length > 0) await this.ctx.retries.deleteResends(this.key, this.ref, gone);
  }

  /** A failure whose retry (or end) is stored no longer holds its place. */
  private release(f: Failure): void {
    if (f.source === 'partition') this.tracker.ack(f.offset);
    else this.resending.delete(f.offset);
  }

  private resendInFlight(offset: number, r: ResendInFlight): void {
    this.resending.set(offset, r);
    this.resendDue.push(r.due, offset);
  }

  /** Due resends, marked delivered in the store (due again after the ack timeout) first. */
  private async takeResends(max: number, now: number, ackTimeoutMs: number): Promise<Delivered[]> {
    await this.refreshResends(now);
    const picked: Resend[] = [];
    while (picked.length < max && this.resendQueue.length > 0) {
      const r = this.resendQueue.shift()!;
      // In flight already (as a resend, or still in the partition's tracker): not due twice.
      if (this.resending.has(r.offset) || this.tracker.check(r.offset) === 'acked') continue;
      picked.push(r);
    }
    if (picked.length === 0) return [];
    try {
      const messages = await this.fetchOffsets(picked.map((r) => r.offset));
      const live = picked.filter((r) => messages.has(r.offset));
      const gone = picked.filter((r) => !messages.has(r.offset)).map((r) => r.offset);
      const due = now + ackTimeoutMs;
      await this.ctx.retries.scheduleResends(
        live.map((r) => ({ ...r, scheduleAt: due, attempts: r.attempts + 1 })),
      );
      if (gone.length > 0) await this.ctx.retries.deleteResends(this.key, this.ref, gone);
      return live.map((r) => {
        this.resendInFlight(r.offset, {
          attempt: r.attempts + 1,
          due,
          lastError: r.lastError,
          failing: false,
        });
        return { message: messages.get(r.offset)!, attempt: r.attempts + 1 };
      });
    } catch (err) {
      this.resendStale = true;
      throw err;
    }
  }

  /** Resends are queued, or the schedule is due a read (stale, its head due, or the poll). */
  private resendsToRead(now: number): boolean {
    if (this.resendQueue.length > 0 || this.resendStale) return true;
    const headDue =
      this.resendHeadAt !== undefined && this.resendHeadAt <= now && this.resendHeadAt > this.resendCheckedAt;
    return headDue || now - this.resendCheckedAt >= this.options.resendPollMs;
  }

  private async refreshResends(now: number): Promise<void> {
    if (this.resendQueue.length > 0 || !this.resendsToRead(now)) return;
    this.resendStale = false;
    this.resendCheckedAt = now;
    const rows = await this.ctx.retries.dueResends(this.key, this.ref, now, this.options.resendBatch);
    this.resendQueue = rows.filter((r) => !this.resending.has(r.offset));
    // A full batch: more may be due; read again once this batch is delivered.
    if (rows.length >= this.options.resendBatch) this.resendStale = true;
    else {
      // The rows just read are due (and about to be rescheduled as delivered): only a later head counts.
      this.resendHeadAt = await this.ctx.retries.nextResendAt(this.key, this.ref, now);
    }
  }

  private requireDelivered(offsets: number[]): void {
    for (const o of offsets) {
      if (Number.isSafeInteger(o) && (this.resending.has(o) || this.tracker.check(o) !== 'not-delivered'))
        continue;
      throw new HeraldError(
        'OFFSET_NOT_DELIVERED',
        `offset ${o} of ${this.ref.topic}/${this.ref.partition} was not delivered to group ${this.group} (committed ${this.tracker.committed}, last delivered ${this.tracker.lastDelivered})`,
        { offset: String(o), group: this.group, committed: String(this.tracker.committed) },
      );
    }
  }

  private armTimer(): void {
    if (this.closed) return;
    const now = Date.now();
    const due = Math.min(
      this.tracker.nextDue() ?? Infinity,
      this.resendDue.peek()?.at ?? Infinity,
      this.resendHeadAt !== undefined && this.resendHeadAt > this.resendCheckedAt
        ? this.resendHeadAt
        : Infinity,
      this.resendCheckedAt + this.options.resendPollMs,
    );
    // Most takes leave the earliest deadline where it was: keep the timer set for it.
    if (this.timer && this.timerAt === due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = due;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.locked(() => this.expire(Date.now()) ?? Promise.resolve()).then(
          () => {
            this.signal.notify();
            this.armTimer();
          },
          (err: unknown) => {
            this.ctx.logger.warn('could not store a retry', { ...this.ref, group: this.group, err });
            this.armTimer();
          },
        );
      },
      Math.max(0, due - now),
    );
    this.timer.unref();
  }

  private async fetchOffsets(offsets: number[]): Promise<Map<number, StoredMessage>> {
    const found = new Map<number, StoredMessage>();
    const missing: number[] = [];
    for (const o of offsets) {
      const m = this.log.cached(o);
      if (m) found.set(o, m);
      else missing.push(o);
    }
    for (const m of await this.ctx.store.readOffsets(this.ref, missing)) found.set(m.offset, m);
    return found;
  }

  /**
   * Priority-lane messages from `priorityNext` on: from the log's cache (synchronously), else
   * the store.
   */
  private readPriority(max: number): StoredMessage[] | Promise<StoredMessage[]> {
    const end = this.log.endOffset;
    if (this.priorityNext > end) return [];
    const cached = this.log.readCached(this.priorityNext, end - this.priorityNext + 1);
    if (cached) return this.priorityRead(cached.filter((m) => m.priority).slice(0, max), max, end);
    return this.ctx.store.read(this.ref, this.priorityNext - 1, max, 'priority').then((found) =>
      this.priorityRead(
        found.filter((m) => m.offset <= end),
        max,
        end,
      ),
    );
  }

  private priorityRead(found: StoredMessage[], max: number, end: number): StoredMessage[] {
    const last = found[found.length - 1];
    // Fewer than asked: the lane holds nothing else up to the end offset read before.
    this.priorityNext = found.length < max || !last ? end + 1 : last.offset + 1;
    return found;
  }

  /**
   * Normal-lane messages from `normalNext` on: the log's cache (synchronously), else a
   * prefetch buffer.
   */
  private readNormal(max: number): StoredMessage[] | Promise<StoredMessage[]> {
    const end = this.log.endOffset;
    if (max <= 0 || this.normalNext > end) return [];
    const cached = this.log.readCached(this.normalNext, max);
    if (cached) {
      if (this.buffer.length > 0) this.buffer = [];
      const last = cached[cached.length - 1];
      if (last) this.normalNext = last.offset + 1;
      return cached.filter((m) => !m.priority);
    }
    return this.readBuffered(max, end);
  }

  private async readBuffered(max: number, end: number): Promise<StoredMessage[]> {
    while (this.buffer[0] && this.buffer[0].offset < this.normalNext) this.buffer.shift();
    if (this.buffer.length === 0) {
      await (this.prefetching ?? this.prefetch());
      if (this.buffer.length === 0) {
        // Nothing stored in this lane from normalNext up to the end offset: skip the hole.
        this.normalNext = end + 1;
        return [];
      }
    }
    const taken = this.buffer.splice(0, max);
    this.normalNext = taken[taken.length - 1].offset + 1;
    if (this.buffer.length < this.options.prefetchMessages / 2 && !this.prefetching) {
      this.prefetch().catch((err: unknown) => this.ctx.logger.warn('prefetch failed', { ...this.ref, err }));
    }
    return taken;
  }

  private prefetch(): Promise<void> {
    const after = this.buffer[this.buffer.length - 1]?.offset ?? this.normalNext - 1;
    if (after >= this.log.endOffset) return Promise.resolve();
    this.prefetching = this.ctx.store
      .read(this.ref, after, this.options.prefetchMessages, 'normal')
      .then((messages) => {
        const tail = this.buffer[this.buffer.length - 1]?.offset ?? this.normalNext - 1;
        for (const m of messages) if (m.offset > tail) this.buffer.push(m);
      })
      .finally(() => {
        this.prefetching = undefined;
      });
    return this.prefetching;
  }

  private trace(
    event: string,
    offset: number,
    refKey: string,
    extra: { attempt?: number; detail?: Record<string, string> } = {},
  ): void {
    recordDelivery(this.ctx.tracer, event, this.ref, offset, this.group, {
      ...(refKey ? { refKey } : {}),
      ...extra,
    });
  }
}

/** Why a message was given up: its retries ran out, or its failure was final (`rejected`). */
function reasonOf(f: Failure): string {
  return f.final ? 'rejected' : 'max-retries';
}

/** The end of a message whose failure is final: its dead letter, or nothing without them. */
function giveUp(policy: RetryPolicy): RetryStep {
  return policy.deadLetter ? { kind: 'dead-letter' } : { kind: 'drop' };
}

/** The longest prefix of `text` that fits in `maxBytes` of UTF-8, never splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = Buffer.from(text).subarray(0, maxBytes).toString();
  // A cut multi-byte character decodes as U+FFFD: drop it.
  while (out.endsWith('\uFFFD') && Buffer.byteLength(out) > maxBytes - 3) out = out.slice(0, -1);
  return out;
}
