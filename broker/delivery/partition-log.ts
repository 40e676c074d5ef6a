// The owner's view of one partition's committed messages: the end offset, and a bounded
// cache of the newest messages, filled by the writer right after each commit. Consumers at
// the tail read the cache and are woken through it, so a waiting Pull never polls MySQL.
import type { PartitionRef, StoredMessage } from '../../storage/storage';

export interface LogCacheLimits {
  maxMessages: number;
  maxBytes: number;
  /** Shared by every partition of the broker (delivery.tailCacheTotalBytes). */
  budget?: CacheBudget;
}

/**
 * The bytes of bodies all tail caches of a broker may hold together: a broker with many
 * partitions would otherwise hold partitions × tailCacheBytes. Over the budget, the largest
 * caches give up their oldest messages first (a consumer far enough behind reads the store).
 */
export class CacheBudget {
  private total = 0;
  private readonly logs = new Set<PartitionLog>();

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.total;
  }

  add(log: PartitionLog): void {
    this.logs.add(log);
  }

  charge(bytes: number): void {
    this.total += bytes;
  }

  /** Called after an append: trims the largest caches until the total fits. */
  enforce(): void {
    while (this.total > this.maxBytes) {
      let largest: PartitionLog | undefined;
      for (const l of this.logs) if (!largest || l.cachedBytes > largest.cachedBytes) largest = l;
      if (!largest || largest.cachedBytes === 0) return;
      // Down to the budget's fair share, by at least one message.
      const share = this.maxBytes / this.logs.size;
      largest.evict(Math.max(1, Math.min(this.total - this.maxBytes, largest.cachedBytes - share)));
    }
  }
}

/** Appends whose commit time is kept (for the delivery wake-up metric). */
const APPEND_TIMES = 32;

export class PartitionLog {
  /** The highest committed offset (0: empty). */
  endOffset: number;
  /** Every committed message with offset >= coveredFrom is in the cache. */
  private coveredFrom: number;
  private cache: StoredMessage[] = [];
  private head = 0;
  private bytes = 0;
  private listeners = new Set<() => void>();
  /** The newest appends: first offset and when it was committed (performance.now()). */
  private appends: { first: number; at: number }[] = [];

  constructor(
    readonly ref: PartitionRef,
    endOffset: number,
    private readonly limits: LogCacheLimits,
  ) {
    limits.budget?.add(this);
    this.endOffset = endOffset;
    this.coveredFrom = endOffset + 1;
  }

  get cachedBytes(): number {
    return this.bytes;
  }

  /** Called by the writer after a commit, in offset order. */
  appended(messages: StoredMessage[]): void {
    if (messages.length > 0) {
      this.appends.push({ first: messages[0].offset, at: performance.now() });
      if (this.appends.length > APPEND_TIMES) this.appends.shift();
    }
    const before = this.bytes;
    for (const m of messages) {
      this.cache.push(m);
      this.bytes += m.body.length;
    }
    this.endOffset = messages[messages.length - 1]?.offset ?? this.endOffset;
    while (this.size() > this.limits.maxMessages || (this.bytes > this.limits.maxBytes && this.size() > 1)) {
      this.dropOldest();
    }
    this.limits.budget?.charge(this.bytes - before);
    this.limits.budget?.enforce();
    this.compact();
    this.coveredFrom = this.cache[this.head]?.offset ?? this.endOffset + 1;
    this.notify();
  }

  /** Gives up the oldest cached messages, at least `bytes` of bodies (the budget asks). */
  evict(bytes: number): void {
    const before = this.bytes;
    while (this.size() > 0 && before - this.bytes < bytes) this.dropOldest();
    this.limits.budget?.charge(this.bytes - before);
    this.compact();
    this.coveredFrom = this.cache[this.head]?.offset ?? this.endOffset + 1;
  }

  private dropOldest(): void {
    this.bytes -= this.cache[this.head].body.length;
    this.head++;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.cache.length) {
      this.cache = this.cache.slice(this.head);
      this.head = 0;
    } else if (this.head === this.cache.length) {
      this.cache = [];
      this.head = 0;
    }
  }

  /** After the writer re-read the end offset (unknown outcome of a failed write). */
  reset(endOffset: number): void {
    this.limits.budget?.charge(-this.bytes);
    this.cache = [];
    this.appends = [];
    this.head = 0;
    this.bytes = 0;
    this.endOffset = endOffset;
    this.coveredFrom = endOffset + 1;
    this.notify();
  }

  /** Retention dropped every offset below `offset`: the cache stops serving them too. */
  droppedBelow(offset: number): void {
    const before = this.bytes;
    while (this.head < this.cache.length && this.cache[this.head].offset < offset) this.dropOldest();
    this.limits.budget?.charge(this.bytes - before);
    this.compact();
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

  /** When the message at `offset` was committed (performance.now()), if it was one of the newest appends. */
  committedAt(offset: number): number | undefined {
    if (offset > this.endOffset) return undefined;
    for (let i = this.appends.length - 1; i >= 0; i--)
      if (this.appends[i].first <= offset) return this.appends[i].at;
    return undefined;
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
