// The write state of one owned partition: its queue of publish requests (arrival order),
// the next offset to allocate, and whether a commit holding it is running. The
// GroupCommitter decides when to write; this class hands out batches and answers requests.
//
// Offsets, with an owner-fencing store (MySQL): this writer allocates them. nextOffset is only
// trusted while every write succeeded; after any failed write (outcome unknown) or a fence, the
// partition re-reads its end offset before the next write. Its commits are everything the
// partition holds, so they feed the partition's log.
//
// Ownership is checked at arrival and again right before each write (requireOwned): a lease
// can end while requests wait (a broker paused past its lease resumes with its queue full), and
// the store's fence only refuses offsets the new owner has already written.
// Without owner fencing (Kafka) the store allocates offsets and says which; others may write
// too, so the log is fed by following the partition (MessageStore.follow), not from here.
import type { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { BrokerMetrics } from '../metrics';
import type { PartitionLog } from '../delivery/partition-log';
import type {
  AppendBatch,
  MessageStore,
  NewMessage,
  PartitionRef,
  StoredMessage,
} from '../../storage/storage';
import type { PartitionQueue } from './batching';

interface Queued {
  messages: NewMessage[];
  rows: number;
  bytes: number;
  at: number;
  resolve: (firstOffset: number) => void;
  reject: (err: HeraldError) => void;
}

/** Requests taken for one commit, with their offsets once allocated. */
export interface TakenBatch extends AppendBatch {
  writer: PartitionWriter;
  requests: Queued[];
}

export class PartitionWriter implements PartitionQueue {
  queue: Queued[] = [];
  flushing = false;
  /** undefined: re-read the end offset before the next write. */
  private nextOffset: number | undefined;
  /** The store takes offsets from this writer (and fences); otherwise it picks them. */
  private readonly allocates: boolean;

  constructor(
    private readonly store: MessageStore,
    private readonly log: PartitionLog,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    /** Throws NOT_PARTITION_OWNER unless this broker serves the partition now (by its clock). */
    readonly requireOwned: () => void,
  ) {
    this.nextOffset = log.endOffset + 1;
    this.allocates = store.capabilities.ownerFencing;
  }

  get ref(): PartitionRef {
    return this.log.ref;
  }

  get oldestAt(): number {
    return this.queue[0]?.at ?? 0;
  }

  /**
   * A new lease on the partition (another broker may have written since): serve from the end
   * offset just read, and re-read it again right before the next write.
   */
  takeOver(endOffset: number): void {
    this.log.reset(endOffset);
    this.nextOffset = undefined;
  }

  /** Queues a request synchronously (so arrival order is kept); resolves with its first offset. */
  enqueue(messages: NewMessage[], bytes: number): Promise<number> {
    this.metrics.pendingPublishes.inc();
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ messages, rows: messages.length, bytes, at: performance.now(), resolve, reject });
    }).finally(() => this.metrics.pendingPublishes.dec());
  }

  /** Takes the first `count` requests for a commit; the partition is flushing until settled. */
  take(count: number): TakenBatch {
    const requests = this.queue.splice(0, count);
    this.flushing = true;
    const messages = requests.length === 1 ? requests[0].messages : requests.flatMap((q) => q.messages);
    return { writer: this, ref: this.ref, firstOffset: 0, messages, requests };
  }

  /** Allocates the batch's offsets, re-reading the end offset first when it is not trusted. */
  async allocate(batch: TakenBatch): Promise<void> {
    if (!this.allocates) return;
    if (this.nextOffset === undefined) {
      const end = await this.store.lastOffset(this.ref);
      this.log.reset(end);
      this.nextOffset = end + 1;
      this.logger.info('re-read partition end offset', { ...this.ref, endOffset: end });
    }
    batch.firstOffset = this.nextOffset;
    this.nextOffset += batch.messages.length;
  }

  /** The batch is stored from `first` on (the offset the store reports). */
  committed(batch: TakenBatch, first: number, publishedAt: number, committedAt: number): void {
    this.flushing = false;
    const topic = this.ref.topic;
    this.metrics.insertRows.observe({ topic }, batch.messages.length);
    this.metrics.publishedMessages.inc({ topic }, batch.messages.length);
    // The write trace (HERALD_DEBUG=broker.publish): which broker stored which offsets.
    this.logger.debug('committed', { ...this.ref, firstOffset: first, count: batch.messages.length });
    if (this.allocates)
      this.log.appended(
        batch.messages.map((m, i): StoredMessage => ({ ...m, offset: first + i, publishedAt })),
      );
    let offset = first;
    for (const q of batch.requests) {
      this.metrics.publishLatency.observe({ topic }, (committedAt - q.at) / 1000);
      q.resolve(offset);
      offset += q.rows;
    }
  }

  failed(batch: TakenBatch, err: HeraldError): void {
    this.flushing = false;
    this.nextOffset = undefined;
    for (const q of batch.requests) q.reject(err);
  }
}
