// The owner's view of one partition's committed messages: the end offset, and a bounded
// cache of the newest messages, filled by the writer right after each commit. Consumers at
// the tail read the cache and are woken through it, so a waiting Pull never polls MySQL.
import type { PartitionRef, StoredMessage } from '../../storage/storage';

export interface LogCacheLimits {
  maxMessages: number;
  maxBytes: number;
}

export class PartitionLog {
  /** The highest committed offset (0: empty). */
  endOffset: number;
  /** Every committed message with offset >= coveredFrom is in the cache. */
  private coveredFrom: number;
  private cache: StoredMessage[] = [];
  private head = 0;
  private bytes = 0;
  private listeners = new Set<() => void>();

  constructor(
    readonly ref: PartitionRef,
    endOffset: number,
    private readonly limits: LogCacheLimits,
  ) {
    this.endOffset = endOffset;
    this.coveredFrom = endOffset + 1;
  }

  /** Called by the writer after a commit, in offset order. */
  appended(messages: StoredMessage[]): void {
    for (const m of messages) {
      this.cache.push(m);
      this.bytes += m.body.length;
    }
    this.endOffset = messages[messages.length - 1]?.offset ?? this.endOffset;
    while (this.size() > this.limits.maxMessages || (this.bytes > this.limits.maxBytes && this.size() > 1)) {
      this.bytes -= this.cache[this.head].body.length;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.cache.length) {
      this.cache = this.cache.slice(this.head);
      this.head = 0;
    }
    this.coveredFrom = this.cache[this.head]?.offset ?? this.endOffset + 1;
    this.notify();
  }

  /** After the writer re-read the end offset (unknown outcome of a failed write). */
  reset(endOffset: number): void {
    this.cache = [];
    this.head = 0;
    this.bytes = 0;
    this.endOffset = endOffset;
    this.coveredFrom = endOffset + 1;
    this.notify();
  }

  /** Retention dropped every offset below `offset`: the cache stops serving them too. */
  droppedBelow(offset: number): void {
    while (this.head < this.cache.length && this.cache[this.head].offset < offset) {
      this.bytes -= this.cache[this.head].body.length;
      this.head++;
    }
    this.coveredFrom = this.cache[this.head]?.offset ?? this.endOffset + 1;
  }

  /** Up to `max` cached messages from offset `from` on; undefined when the cache does not cover `from`. */
  readCached(from: number, max: number): StoredMessage[] | undefined {
    if (from < this.coveredFrom) return undefined;
    let lo = this.head;
    let hi = this.cache.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cache[mid].offset < from) lo = mid + 1;
      else hi = mid;
    }
    return this.cache.slice(lo, lo + max);
  }

  /** A cached message by offset, for redeliveries. */
  cached(offset: number): StoredMessage | undefined {
    const found = this.readCached(offset, 1)?.[0];
    return found?.offset === offset ? found : undefined;
  }

  /** Calls `listener` after every append or reset; returns the unsubscribe function. */
  listen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private size(): number {
    return this.cache.length - this.head;
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }
}
