// The single writer of one owned partition: queues publish requests, merges them into one
// multi-row INSERT per flush (group commit; decisions in batching.ts), allocates offsets,
// answers each request only after its rows committed, and hands the committed rows to the
// PartitionLog so waiting consumers wake up.
//
// Offsets: nextOffset is only trusted while every write succeeded. After any failed write
// (outcome unknown) or a fence, the next flush re-reads the end offset from the store first.
import { HeraldError, asHeraldError } from '../errors';
import type { Logger } from '../logger';
import type { BrokerMetrics } from '../metrics';
import type { PartitionLog } from '../delivery/partition-log';
import type { MessageStore, NewMessage, StoredMessage } from '../storage/storage';
import { nextAction, takeForFlush } from './batching';
import type { BatchLimits } from './batching';

interface Queued {
  messages: NewMessage[];
  rows: number;
  bytes: number;
  at: number;
  resolve: (firstOffset: number) => void;
  reject: (err: HeraldError) => void;
}

export class PartitionWriter {
  private queue: Queued[] = [];
  private flushing = false;
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  /** undefined: re-read the end offset before the next write. */
  private nextOffset: number | undefined;
  private drained: (() => void) | undefined;

  constructor(
    private readonly store: MessageStore,
    private readonly log: PartitionLog,
    private readonly limits: BatchLimits,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    /** Told about storage failures, so the broker can fail fast and report not-ready. */
    private readonly onStorageError: (err: HeraldError) => void,
  ) {
    this.nextOffset = log.endOffset + 1;
  }

  /** Queues a request synchronously (so arrival order is kept); resolves with its first offset. */
  publish(messages: NewMessage[], bytes: number): Promise<number> {
    if (this.draining) {
      return Promise.reject(new HeraldError('SHUTTING_DOWN', 'the broker is shutting down'));
    }
    this.metrics.pendingPublishes.inc();
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ messages, rows: messages.length, bytes, at: performance.now(), resolve, reject });
      this.schedule();
    }).finally(() => this.metrics.pendingPublishes.dec());
  }

  /** Stops taking requests and resolves once every queued request has been answered. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.queue.length === 0 && !this.flushing) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
      this.schedule();
    });
  }

  private schedule(): void {
    const action = nextAction(
      {
        queue: this.queue,
        oldestAt: this.queue[0]?.at ?? 0,
        now: performance.now(),
        flushing: this.flushing,
        draining: this.draining,
      },
      this.limits,
    );
    if (action.kind === 'flush') {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    } else if (action.kind === 'wait' && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, action.ms);
    } else if (action.kind === 'idle' && this.draining && !this.flushing && this.queue.length === 0) {
      this.drained?.();
    }
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, takeForFlush(this.queue, this.limits));
    this.flushing = true;
    const ref = this.log.ref;
    try {
      if (this.nextOffset === undefined) {
        const end = await this.store.lastOffset(ref);
        this.log.reset(end);
        this.nextOffset = end + 1;
        this.logger.info('took over partition end offset', { ...ref, endOffset: end });
      }
      const first = this.nextOffset;
      const rows = batch.length === 1 ? batch[0].messages : batch.flatMap((q) => q.messages);
      const publishedAt = Date.now();
      const started = performance.now();
      await this.store.append(ref, first, rows, publishedAt);
      const done = performance.now();
      this.nextOffset = first + rows.length;
      this.metrics.insertRows.observe({ topic: ref.topic }, rows.length);
      this.metrics.insertLatency.observe({ topic: ref.topic }, (done - started) / 1000);
      this.metrics.publishedMessages.inc({ topic: ref.topic }, rows.length);
      this.log.appended(rows.map((m, i): StoredMessage => ({ ...m, offset: first + i, publishedAt })));
      let offset = first;
      for (const q of batch) {
        this.metrics.publishLatency.observe({ topic: ref.topic }, (done - q.at) / 1000);
        q.resolve(offset);
        offset += q.rows;
      }
    } catch (err) {
      const e = asHeraldError(err);
      this.nextOffset = undefined;
      this.logger.warn('write failed', {
        ...ref,
        rows: batch.reduce((n, q) => n + q.rows, 0),
        reason: e.reason,
        err,
      });
      if (e.reason === 'STORAGE_UNAVAILABLE') this.onStorageError(e);
      for (const q of batch) q.reject(e);
    } finally {
      this.flushing = false;
      this.schedule();
    }
  }
}
