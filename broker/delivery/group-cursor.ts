// One consumer group's reading position on one owned partition: committed offset (loaded
// from and stored to the store), in-flight tracking with ack-timeout redelivery (AckTracker),
// a bounded prefetch buffer for reads behind the log's tail cache, and a Signal that wakes
// waiting pulls when messages arrive or redeliveries fall due.
import { HeraldError } from '../../client/errors';
import type { Logger } from '../../client/logger';
import type { MessageStore, PartitionRef, StoredMessage } from '../storage/storage';
import { AckTracker } from './ack-tracker';
import type { PartitionLog } from './partition-log';
import { Signal } from './signal';

export interface CursorOptions {
  /** Delivered-but-unacked messages per group and partition; no new deliveries beyond it. */
  maxInFlight: number;
  /** Messages per read from the store when the cursor is behind the log's cache. */
  prefetchMessages: number;
}

export interface Delivered {
  message: StoredMessage;
  attempt: number;
}

export class GroupCursor {
  readonly signal = new Signal();
  private readonly tracker: AckTracker;
  /** The next new offset to deliver. */
  private position: number;
  /** Messages read ahead from the store, from `position` on. */
  private buffer: StoredMessage[] = [];
  private prefetching: Promise<void> | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** The committed offset last stored (the OffsetCommitter moves it). */
  storedOffset: number;
  private readonly unlisten: () => void;

  private constructor(
    readonly group: string,
    private readonly log: PartitionLog,
    private readonly store: MessageStore,
    private readonly options: CursorOptions,
    private readonly logger: Logger,
    committed: number,
  ) {
    this.tracker = new AckTracker(committed);
    this.storedOffset = committed;
    this.position = committed + 1;
    this.unlisten = log.listen(() => this.signal.notify());
  }

  static async open(
    group: string,
    log: PartitionLog,
    store: MessageStore,
    options: CursorOptions,
    logger: Logger,
  ): Promise<GroupCursor> {
    const committed = await store.committedOffset(group, log.ref);
    return new GroupCursor(group, log, store, options, logger, committed);
  }

  get ref(): PartitionRef {
    return this.log.ref;
  }

  get committed(): number {
    return this.tracker.committed;
  }

  get inFlight(): number {
    return this.tracker.outstanding;
  }

  /**
   * Up to `max` deliveries available now: due redeliveries first, then new messages. Never
   * waits for new messages (callers wait on `signal`), but may read ahead from the store.
   */
  take(max: number, ackTimeoutMs: number): Promise<Delivered[]> {
    const run = this.lock.then(() => this.takeLocked(max, ackTimeoutMs));
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async takeLocked(max: number, ackTimeoutMs: number): Promise<Delivered[]> {
    const now = Date.now();
    this.tracker.expire(now);
    const out: Delivered[] = [];
    const redeliver = this.tracker.takeReady(max, now, ackTimeoutMs);
    if (redeliver.length > 0) {
      const messages = await this.fetchOffsets(redeliver.map(([o]) => o));
      for (const [offset, attempt] of redeliver) {
        const message = messages.get(offset);
        // A message gone from the store (retention) cannot be redelivered: it counts as acked.
        if (message) out.push({ message, attempt });
        else this.tracker.ack(offset);
      }
    }
    const room = Math.min(max - out.length, this.options.maxInFlight - this.tracker.outstanding);
    for (const message of await this.readNew(room)) {
      this.tracker.deliverNew(message.offset, now, ackTimeoutMs);
      out.push({ message, attempt: 1 });
    }
    this.armTimer();
    return out;
  }

  /**
   * Applies acks (all or none: an offset never delivered rejects the whole call) and returns
   * the committed offset; the OffsetCommitter stores it shortly after.
   */
  ack(offsets: number[]): number {
    this.requireDelivered(offsets);
    for (const o of offsets) this.tracker.ack(o);
    this.signal.notify(); // room under maxInFlight
    return this.tracker.committed;
  }

  nack(offsets: number[], delayMs: number): void {
    this.requireDelivered(offsets);
    const now = Date.now();
    for (const o of offsets) this.tracker.nack(o, now, delayMs);
    this.armTimer();
    if (this.tracker.readyCount() > 0) this.signal.notify();
  }

  close(): void {
    this.unlisten();
    if (this.timer) clearTimeout(this.timer);
    this.signal.notify();
  }

  private requireDelivered(offsets: number[]): void {
    for (const o of offsets) {
      if (!Number.isSafeInteger(o) || this.tracker.check(o) === 'not-delivered') {
        throw new HeraldError(
          'OFFSET_NOT_DELIVERED',
          `offset ${o} of ${this.ref.topic}/${this.ref.partition} was not delivered to group ${this.group} (committed ${this.tracker.committed}, last delivered ${this.tracker.lastDelivered})`,
          { offset: String(o), group: this.group, committed: String(this.tracker.committed) },
        );
      }
    }
  }

  private armTimer(): void {
    const due = this.tracker.nextDue();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (due === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.tracker.expire(Date.now()) > 0) this.signal.notify();
        this.armTimer();
      },
      Math.max(0, due - Date.now()),
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
    for (const m of await this.store.readOffsets(this.ref, missing)) found.set(m.offset, m);
    return found;
  }

  private async readNew(max: number): Promise<StoredMessage[]> {
    if (max <= 0 || this.position > this.log.endOffset) return [];
    const cached = this.log.readCached(this.position, max);
    if (cached) {
      this.buffer = [];
      return this.advance(cached);
    }
    while (this.buffer[0] && this.buffer[0].offset < this.position) this.buffer.shift();
    if (this.buffer.length === 0) {
      await (this.prefetching ?? this.prefetch());
      if (this.buffer.length === 0) {
        // Nothing stored at or after position up to the end offset: skip the hole.
        this.position = this.log.endOffset + 1;
        return [];
      }
    }
    const taken = this.advance(this.buffer.splice(0, max));
    if (this.buffer.length < this.options.prefetchMessages / 2 && !this.prefetching) {
      this.prefetch().catch((err: unknown) => this.logger.warn('prefetch failed', { ...this.ref, err }));
    }
    return taken;
  }

  private advance(messages: StoredMessage[]): StoredMessage[] {
    const last = messages[messages.length - 1];
    if (last) this.position = last.offset + 1;
    return messages;
  }

  private prefetch(): Promise<void> {
    const after = this.buffer[this.buffer.length - 1]?.offset ?? this.position - 1;
    if (after >= this.log.endOffset) return Promise.resolve();
    this.prefetching = this.store
      .read(this.ref, after, this.options.prefetchMessages)
      .then((messages) => {
        const tail = this.buffer[this.buffer.length - 1]?.offset ?? this.position - 1;
        for (const m of messages) if (m.offset > tail) this.buffer.push(m);
      })
      .finally(() => {
        this.prefetching = undefined;
      });
    return this.prefetching;
  }
}
