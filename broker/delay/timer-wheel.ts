// A hashed timer wheel (Varghese and Lauck; QMQ keeps delayed messages in one), as pure
// state: time is passed in, nothing here sets timers or does I/O.
//
// Entries hang in the slot of the tick their due time falls in. A tick is processed only
// once it has wholly passed, so an entry never fires early and at most one tick late (plus
// the caller's timer jitter). An entry more than one rotation ahead stays in its slot across
// rotations until its own tick passes, so any horizon works; the broker only loads the near
// future, which keeps every slot short.

export interface WheelEntry<T> {
  /** Unique among the wheel's entries. */
  id: number;
  /** Milliseconds since the Unix epoch. */
  dueAt: number;
  value: T;
}

export class TimerWheel<T> {
  /** A slot's map exists only while it holds entries: a broker has a wheel per partition, most empty. */
  private readonly slots: (Map<number, WheelEntry<T>> | undefined)[];
  private readonly slotOf = new Map<number, number>();
  /** The last tick processed: every entry of an earlier tick has fired. */
  private processed: number;

  constructor(
    private readonly tickMs: number,
    slotCount: number,
    now: number,
  ) {
    if (!(tickMs > 0) || !Number.isInteger(slotCount) || slotCount < 1) {
      throw new Error(`a timer wheel needs tickMs > 0 and slotCount >= 1, got ${tickMs}, ${slotCount}`);
    }
    this.slots = new Array<Map<number, WheelEntry<T>> | undefined>(slotCount);
    this.processed = this.tickOf(now) - 1;
  }

  get size(): number {
    return this.slotOf.size;
  }

  has(id: number): boolean {
    return this.slotOf.has(id);
  }

  /**
   * Adds an entry (replacing one with the same id). An entry due in a tick already processed
   * fires once the current tick has passed.
   */
  add(entry: WheelEntry<T>): void {
    this.cancel(entry.id);
    const tick = Math.max(this.tickOf(entry.dueAt), this.processed + 1);
    const slot = tick % this.slots.length;
    (this.slots[slot] ??= new Map()).set(entry.id, entry);
    this.slotOf.set(entry.id, slot);
  }

  /** Removes an entry; false when it is not in the wheel (fired or never added). */
  cancel(id: number): boolean {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return false;
    this.removeFrom(slot, id);
    return true;
  }

  /**
   * Processes every tick that has wholly passed by `now` and returns the entries that fell
   * due, ordered by (dueAt, id).
   */
  advance(now: number): WheelEntry<T>[] {
    const last = this.tickOf(now) - 1;
    if (last <= this.processed) return [];
    // An empty wheel (most partitions, most ticks: 160 partitions ticked 10 times a second)
    // only moves its bound, without visiting a slot, allocating or sorting.
    if (this.slotOf.size === 0) {
      this.processed = last;
      return [];
    }
    const fired: WheelEntry<T>[] = [];
    // Past one rotation every slot is visited once, with the last tick as the bound.
    const ticks = Math.min(last - this.processed, this.slots.length);
    for (let i = 1; i <= ticks; i++) {
      const tick = ticks === this.slots.length ? last - this.slots.length + i : this.processed + i;
      const index = tick % this.slots.length;
      for (const entry of this.slots[index]?.values() ?? []) {
        if (this.tickOf(entry.dueAt) <= last) {
          fired.push(entry);
          this.removeFrom(index, entry.id);
        }
      }
    }
    this.processed = last;
    return fired.sort((a, b) => a.dueAt - b.dueAt || a.id - b.id);
  }

  /** Removes every entry. */
  clear(): void {
    this.slots.fill(undefined);
    this.slotOf.clear();
  }

  private removeFrom(index: number, id: number): void {
    const slot = this.slots[index];
    if (slot?.delete(id) && slot.size === 0) this.slots[index] = undefined;
    this.slotOf.delete(id);
  }

  private tickOf(at: number): number {
    return Math.floor(at / this.tickMs);
  }
}
