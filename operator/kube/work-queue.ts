// A per-key work queue, after client-go's: a key is queued at most once; a key being processed
// that is added again is processed again after `done`, never by two workers at once; retries
// wait for the rate limits in rate-limit.ts.
import { ItemBackoff, TokenBucket } from './rate-limit';

export interface WorkQueueOptions {
  backoff?: ItemBackoff;
  bucket?: TokenBucket;
  now?: () => number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added while being processed: queued again on done. */
  private readonly again = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly backoff: ItemBackoff;
  private readonly bucket: TokenBucket;
  private readonly now: () => number;
  private closed = false;

  constructor(options: WorkQueueOptions = {}) {
    this.now = options.now ?? Date.now;
    this.backoff = options.backoff ?? new ItemBackoff();
    this.bucket = options.bucket ?? new TokenBucket(10, 100, this.now());
  }

  add(key: string): void {
    if (this.closed) return;
    if (this.processing.has(key)) {
      this.again.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.queue.push(key);
  }

  /** Adds `key` after `delayMs`; an earlier pending add of the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.closed) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Retries `key` after its backoff (and the overall rate limit). */
  addRateLimited(key: string): number {
    const delay = Math.max(this.backoff.next(key), this.bucket.reserve(this.now()));
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the backoff of `key` (it succeeded). */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  /** The next key to process, or undefined once shut down. Call done(key) afterwards. */
  next(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.again.delete(key)) this.add(key);
  }

  shutdown(): void {
    this.closed = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  get length(): number {
    return this.queue.length;
  }
}
