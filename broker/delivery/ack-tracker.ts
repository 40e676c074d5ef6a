// What one consumer group has outstanding on one partition's offset sequence, as pure state:
// which delivered offsets are in flight (with their ack deadline), failing (their retry being
// written), waiting for an in-order retry, ready for redelivery, or acked; and the committed
// offset. Time is passed in; nothing here does I/O or sets timers.
//
// The committed offset: every offset up to it is acked or needs no delivery. With two lanes
// (priority and normal) offsets are not delivered in order, so the cursor also says how far
// it has looked (`advanceSeen`): offsets up to `seen` that were never delivered are holes
// (offsets of the other lane not yet delivered are not: the cursor keeps `seen` below them),
// filtered messages, or nothing. committed = min(lowest unacked - 1, seen).
import { MinHeap } from './min-heap';

type Entry =
  // since: when this delivery was handed out (unset after a failed retry write put it back).
  | { state: 'in-flight'; due: number; attempts: number; since?: number }
  | { state: 'failing'; attempts: number }
  | { state: 'delayed'; due: number; attempts: number }
  | { state: 'ready'; attempts: number }
  | { state: 'acked'; attempts: number };

export type AckOutcome = 'acked' | 'already-acked' | 'not-delivered';

export class AckTracker {
  private entries = new Map<number, Entry>();
  /** Tracked offsets, ascending. */
  private order: number[] = [];
  private due = new MinHeap<number>();
  private ready: number[] = [];
  private acked = 0;
  /** Offsets that failed at least once and are not yet acked (ordered mode blocks on them). */
  private failed = new Set<number>();
  /** How far the cursor has looked in every lane. */
  private seen: number;
  /** The highest offset ever delivered. */
  lastDelivered: number;

  constructor(
    /** Every offset up to this one is acknowledged. */
    public committed: number,
  ) {
    this.lastDelivered = committed;
    this.seen = committed;
  }

  /** Delivered messages not yet acked (what maxInFlight bounds). */
  get outstanding(): number {
    return this.entries.size - this.acked;
  }

  /** Failed messages not yet acked or given up. */
  get troubled(): number {
    return this.failed.size;
  }

  /** Records the first delivery of an offset above the committed one, not delivered before. */
  deliverNew(offset: number, now: number, ackTimeoutMs: number): void {
    if (offset <= this.committed || this.entries.has(offset)) {
      throw new Error(`offset ${offset} was delivered before or is committed (${this.committed})`);
    }
    this.lastDelivered = Math.max(this.lastDelivered, offset);
    this.entries.set(offset, { state: 'in-flight', due: now + ackTimeoutMs, attempts: 1, since: now });
    this.insertOrder(offset);
    this.due.push(now + ackTimeoutMs, offset);
  }

  /** The cursor has looked at every lane up to `offset`. */
  advanceSeen(offset: number): void {
    if (offset <= this.seen) return;
    this.seen = offset;
    this.settle();
  }

  /**
   * Moves due delayed offsets to ready, and in-flight offsets past their ack deadline to
   * failing; returns the latter as [offset, attempts] for the caller's retry decision.
   */
  expire(now: number): [number, number][] {
    const timedOut: [number, number][] = [];
    for (let top = this.due.peek(); top && top.at <= now; top = this.due.peek()) {
      this.due.pop();
      const e = this.entries.get(top.value);
      // Stale heap items (acked, re-delivered since) are skipped.
      if (e?.state === 'delayed' && e.due === top.at) {
        this.entries.set(top.value, { state: 'ready', attempts: e.attempts });
        this.insertReady(top.value);
      } else if (e?.state === 'in-flight' && e.due === top.at) {
        this.entries.set(top.value, { state: 'failing', attempts: e.attempts });
        this.failed.add(top.value);
        timedOut.push([top.value, e.attempts]);
      }
    }
    return timedOut;
  }

  /** Marks a delivered (in-flight) offset as failing (a Nack); returns its attempts. */
  fail(offset: number): number | undefined {
    const e = this.entries.get(offset);
    if (e?.state !== 'in-flight') return undefined;
    this.entries.set(offset, { state: 'failing', attempts: e.attempts });
    this.failed.add(offset);
    return e.attempts;
  }

  /** A failing offset goes back into flight (its retry could not be written). */
  unfail(offset: number, due: number): void {
    const e = this.entries.get(offset);
    if (e?.state !== 'failing') return;
    this.entries.set(offset, { state: 'in-flight', due, attempts: e.attempts });
    this.due.push(due, offset);
  }

  /** Ordered mode: a failing offset is redelivered in place once `due` passes. */
  retryAt(offset: number, due: number): void {
    const e = this.entries.get(offset);
    if (e?.state !== 'failing') return;
    this.entries.set(offset, { state: 'delayed', due, attempts: e.attempts });
    this.due.push(due, offset);
  }

  /** Takes up to `max` ready offsets (lowest first) for redelivery; returns [offset, attempt]. */
  takeReady(max: number, now: number, ackTimeoutMs: number): [number, number][] {
    const taken = this.ready.splice(0, max);
    return taken.map((offset) => {
      const attempts = this.entries.get(offset)!.attempts + 1;
      this.entries.set(offset, { state: 'in-flight', due: now + ackTimeoutMs, attempts, since: now });
      this.due.push(now + ackTimeoutMs, offset);
      return [offset, attempts];
    });
  }

  /** Whether ack would accept this offset, without changing anything. */
  check(offset: number): AckOutcome {
    if (offset <= this.committed || this.entries.get(offset)?.state === 'acked') return 'already-acked';
    return this.entries.has(offset) ? 'acked' : 'not-delivered';
  }

  /** When an in-flight offset was delivered (for the handling-time histogram); else undefined. */
  deliveredAt(offset: number): number | undefined {
    const e = this.entries.get(offset);
    return e?.state === 'in-flight' ? e.since : undefined;
  }

  /** Whether the offset is delivered and awaiting its ack (a Nack may give it back). */
  inFlight(offset: number): boolean {
    return this.entries.get(offset)?.state === 'in-flight';
  }

  /** Acks an offset in any state (also a failing one whose retry or dead letter is stored). */
  ack(offset: number): AckOutcome {
    const outcome = this.mark(offset);
    if (outcome === 'acked') this.settle();
    return outcome;
  }

  /** Acks offsets as `ack` does each, moving the committed offset once for all of them. */
  ackAll(offsets: readonly number[]): void {
    let any = false;
    for (const offset of offsets) if (this.mark(offset) === 'acked') any = true;
    if (any) this.settle();
  }

  private mark(offset: number): AckOutcome {
    const outcome = this.check(offset);
    if (outcome !== 'acked') return outcome;
    const e = this.entries.get(offset)!;
    if (e.state === 'ready') this.ready.splice(this.ready.indexOf(offset), 1);
    this.entries.set(offset, ackedEntry(e.attempts));
    this.failed.delete(offset);
    this.acked++;
    return 'acked';
  }

  /** The earliest deadline or retry time, for the caller's timer. */
  nextDue(): number | undefined {
    return this.due.peek()?.at;
  }

  readyCount(): number {
    return this.ready.length;
  }

  /** Drops the acked prefix and moves the committed offset. */
  private settle(): void {
    let drop = 0;
    for (const offset of this.order) {
      if (offset > this.seen || this.entries.get(offset)!.state !== 'acked') break;
      this.entries.delete(offset);
      this.acked--;
      drop++;
    }
    this.order.splice(0, drop);
    const lowest = this.order[0];
    const next = lowest === undefined ? this.seen : Math.min(lowest - 1, this.seen);
    if (next > this.committed) this.committed = next;
    // Acked offsets leave their deadline in the heap until it passes (a drain would keep one
    // item per message of the last ack timeout): drop the stale ones once they are most of it.
    if (this.due.size > 2 * this.entries.size + DUE_SLACK)
      this.due.retain((at, offset) => this.isDue(at, offset));
  }

  /** Whether a heap item is an offset's current deadline or retry time (not stale). */
  private isDue(at: number, offset: number): boolean {
    const e = this.entries.get(offset);
    return (e?.state === 'in-flight' || e?.state === 'delayed') && e.due === at;
  }

  private insertOrder(offset: number): void {
    const last = this.order[this.order.length - 1];
    if (last === undefined || last < offset) this.order.push(offset);
    else this.order.splice(lowerBound(this.order, offset), 0, offset);
  }

  private insertReady(offset: number): void {
    this.ready.splice(lowerBound(this.ready, offset), 0, offset);
  }
}

/** Entries are replaced, never changed: an acked one is shared (one object less per ack). */
const ACKED: Entry[] = [];

function ackedEntry(attempts: number): Entry {
  if (attempts >= 16) return { state: 'acked', attempts };
  return (ACKED[attempts] ??= Object.freeze<Entry>({ state: 'acked', attempts }));
}

/** Stale heap items tolerated beyond twice the tracked offsets before the heap is rebuilt. */
const DUE_SLACK = 1024;

function lowerBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
