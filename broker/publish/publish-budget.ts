// The broker-wide budget of publish bytes accepted but not yet answered (queued for a group
// commit, in one, or being scheduled): publish.maxPendingBytes. It is what bounds the publish
// path's memory whatever the number of producers and streams. A unary Publish that does not fit
// is refused (RATE_LIMITED, nothing stored, retriable); a PublishStream request is read only
// while the budget has room, so a full budget stops the stream from reading and HTTP/2 flow
// control pushes back on its producer. A request already read is always taken: the budget can
// be exceeded by at most what the streams read before they saw it full. Pure.

export class PublishBudget {
  private pending = 0;
  private waiters: (() => void)[] = [];

  constructor(
    /** publish.maxPendingBytes. */
    readonly limit: number,
    /** Told the bytes pending after every change (the herald_publish_pending_bytes gauge). */
    private readonly changed: (pendingBytes: number) => void = () => undefined,
  ) {}

  get pendingBytes(): number {
    return this.pending;
  }

  /** No room: streams stop reading, unary publishes are refused. */
  get full(): boolean {
    return this.pending >= this.limit;
  }

  /** Takes `bytes` if they fit under the limit (a unary publish); false when they do not. */
  tryTake(bytes: number): boolean {
    if (this.pending + bytes > this.limit) return false;
    this.take(bytes);
    return true;
  }

  /** Takes `bytes` whether they fit or not (a stream request already read). */
  take(bytes: number): void {
    this.pending += bytes;
    this.changed(this.pending);
  }

  /** The bytes of an answered publish (committed or failed) are free again. */
  release(bytes: number): void {
    this.pending -= bytes;
    this.changed(this.pending);
    if (this.full || this.waiters.length === 0) return;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  /** Calls `cb` once the budget has room: at once when it has. */
  whenRoom(cb: () => void): void {
    if (this.full) this.waiters.push(cb);
    else cb();
  }
}
