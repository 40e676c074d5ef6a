// The broker-wide budget of publish bytes accepted but not yet answered (queued for a group
// commit, in one, or being scheduled): publish.maxPendingBytes. It is what bounds the publish
// path's memory whatever the number of producers and streams. A unary Publish that does not fit
// is refused (RATE_LIMITED, nothing stored, retriable); a PublishStream request is read only
// while the budget has room, so a full budget stops the stream from reading and HTTP/2 flow
// control pushes back on its producer. A request already read is always taken (`take`): the
// budget can be exceeded by at most what the streams read before they saw it full. Pure.
import { ByteBudget } from '../byte-budget';

export class PublishBudget extends ByteBudget {
  /** No room: streams stop reading, unary publishes are refused. */
  get full(): boolean {
    return this.bytes >= this.limit;
  }

  /** Takes `bytes` if they fit under the limit (a unary publish); false when they do not. */
  tryTake(bytes: number): boolean {
    if (this.bytes + bytes > this.limit) return false;
    this.take(bytes);
    return true;
  }

  /** Calls `cb` once the budget has room: at once when it has. */
  whenRoom(cb: () => void): void {
    if (this.full) this.afterRelease(() => !this.full, cb);
    else cb();
  }
}
