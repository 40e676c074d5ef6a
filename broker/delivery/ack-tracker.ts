// What one consumer group has outstanding on one partition, as pure state: which delivered
// offsets are in flight (with their ack deadline), waiting for a Nack delay, ready for
// redelivery, or acked; and the committed offset, the highest offset up to which every
// delivered offset is acked. Time is passed in; nothing here does I/O or sets timers.
import { MinHeap } from './min-heap';

type Entry =
  | { state: 'in-flight'; due: number; attempts: number }
  | { state: 'delayed'; due: number; attempts: number }
  | { state: 'ready'; attempts: number }
  | { state: 'acked'; attempts: number };

export type AckOutcome = 'acked' | 'already-acked' | 'not-delivered';

export class AckTracker {
  /** Delivered offsets above `committed`, in offset order (Map keeps insertion order). */
  private entries = new Map<number, Entry>();
  private due = new MinHeap<number>();
  private ready: number[] = [];
  private acked = 0;
  /** The highest offset ever delivered (new messages are delivered in offset order). */
  lastDelivered: number;

  constructor(
    /** Every offset up to this one is acknowledged. */
    public committed: number,
  ) {
    this.lastDelivered = committed;
  }

  /** Delivered messages not yet acked (what maxInFlight bounds). */
  get outstanding(): number {
    return this.entries.size - this.acked;
  }

  /** Records the first delivery of a new offset (greater than any delivered before). */
  deliverNew(offset: number, now: number, ackTimeoutMs: number): void {
    if (offset <= this.lastDelivered) throw new Error(`offset ${offset} is not after ${this.lastDelivered}`);
    this.lastDelivered = offset;
    this.entries.set(offset, { state: 'in-flight', due: now + ackTimeoutMs, attempts: 1 });
    this.due.push(now + ackTimeoutMs, offset);
  }

  /** Moves expired in-flight and due delayed offsets to ready; returns how many moved. */
  expire(now: number): number {
    let moved = 0;
    for (let top = this.due.peek(); top && top.at <= now; top = this.due.peek()) {
      this.due.pop();
      const e = this.entries.get(top.value);
      // Stale heap items (acked, re-delivered since) are skipped.
      if (e && (e.state === 'in-flight' || e.state === 'delayed') && e.due === top.at) {
        this.entries.set(top.value, { state: 'ready', attempts: e.attempts });
        this.insertReady(top.value);
        moved++;
      }
    }
    return moved;
  }

  /** Takes up to `max` ready offsets (lowest first) for redelivery; returns [offset, attempt]. */
  takeReady(max: number, now: number, ackTimeoutMs: number): [number, number][] {
    const taken = this.ready.splice(0, max);
    return taken.map((offset) => {
      const attempts = this.entries.get(offset)!.attempts + 1;
      this.entries.set(offset, { state: 'in-flight', due: now + ackTimeoutMs, attempts });
      this.due.push(now + ackTimeoutMs, offset);
      return [offset, attempts];
    });
  }

  /** Whether ack/nack would accept this offset, without changing anything. */
  check(offset: number): AckOutcome {
    if (offset <= this.committed || this.entries.get(offset)?.state === 'acked') return 'already-acked';
    return this.entries.has(offset) ? 'acked' : 'not-delivered';
  }

  ack(offset: number): AckOutcome {
    const outcome = this.check(offset);
    if (outcome !== 'acked') return outcome;
    const e = this.entries.get(offset)!;
    if (e.state === 'ready') this.ready.splice(this.ready.indexOf(offset), 1);
    this.entries.set(offset, { state: 'acked', attempts: e.attempts });
    this.acked++;
    for (const [first, entry] of this.entries) {
      if (entry.state !== 'acked') break;
      this.entries.delete(first);
      this.acked--;
      this.committed = first;
    }
    if (this.entries.size === 0) this.committed = this.lastDelivered;
    return 'acked';
  }

  /** Gives a delivered offset back: ready at once (delayMs 0) or after delayMs. */
  nack(offset: number, now: number, delayMs: number): AckOutcome {
    const outcome = this.check(offset);
    if (outcome !== 'acked') return outcome;
    const e = this.entries.get(offset)!;
    if (e.state === 'ready') return 'acked';
    this.entries.set(offset, { state: 'delayed', due: now + delayMs, attempts: e.attempts });
    this.due.push(now + delayMs, offset);
    if (delayMs <= 0) this.expire(now);
    return 'acked';
  }

  /** The earliest time something becomes ready, for the caller's timer. */
  nextDue(): number | undefined {
    return this.due.peek()?.at;
  }

  readyCount(): number {
    return this.ready.length;
  }

  private insertReady(offset: number): void {
    let lo = 0;
    let hi = this.ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ready[mid] < offset) lo = mid + 1;
      else hi = mid;
    }
    this.ready.splice(lo, 0, offset);
  }
}
