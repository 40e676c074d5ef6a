// One owned partition's delayed messages in memory (QMQ's in-memory wheel): the owner loads
// the near future of the delay table (the next window, reloaded every half window) into a
// timer wheel, adds messages published into the loaded window after their insert commits,
// and dispatches what falls due through the normal write path, whose transaction deletes the
// rows. Nothing here is authoritative: the table is. A failed or fenced dispatch only drops
// the entries from memory; a reload finds every row still in the table, so a message is
// neither lost nor, because dispatch deletes its row in the append's transaction, duplicated.
import type { Logger } from '../../common/logger';
import type { BrokerOptions } from '../../common/broker-options';
import type { DelayStore, DelayedMessage } from '../../storage/delay-store';
import type { PartitionRef } from '../../storage/storage';
import { TimerWheel } from './timer-wheel';

/** Appends due messages to the partition (resolves after their commit). */
export type Dispatch = (ref: PartitionRef, due: DelayedMessage[]) => Promise<void>;

const PAGE_ROWS = 1000;
const RETRY_LOAD_MS = 1000;

export class PartitionDelays {
  private readonly wheel: TimerWheel<DelayedMessage>;
  /** Ids in the wheel or being dispatched. */
  private readonly known = new Set<number>();
  /** Every row due before this was in the table at the last load is in `known`. */
  private windowEnd = 0;
  /** The last load stopped at maxLoaded: load again once half of it has been dispatched. */
  private capped = false;
  private nextLoadAt = 0;
  private loading = false;
  /**
   * Ids dispatched while a load runs: its pages may have been read before their rows were
   * deleted, and taking them back would dispatch them twice (the append's DELETE would then
   * fence the whole chunk, and the chunk's other messages would arrive a reload late).
   */
  private dispatchedDuringLoad: Set<number> | undefined;
  private stopped = false;
  /** The time of the last tick (failures schedule their retry from it). */
  private now: number;

  constructor(
    readonly ref: PartitionRef,
    private readonly store: DelayStore,
    private readonly options: BrokerOptions['delay'],
    private readonly chunkRows: number,
    private readonly dispatch: Dispatch,
    private readonly logger: Logger,
    now: number,
  ) {
    this.now = now;
    const slots = Math.ceil(options.windowMs / options.tickMs) + 1;
    this.wheel = new TimerWheel(options.tickMs, slots, now);
  }

  /** How many delayed messages are held in memory. */
  get loaded(): number {
    return this.known.size;
  }

  /** Messages whose insert into the delay table has committed. */
  stored(messages: DelayedMessage[]): void {
    if (this.stopped) return;
    for (const m of messages) {
      if (m.deliverAt >= this.windowEnd || this.known.has(m.id)) continue;
      this.known.add(m.id);
      this.wheel.add({ id: m.id, dueAt: m.deliverAt, value: m });
    }
  }

  /** Called every tick: dispatches what fell due and reloads the window when it is time. */
  tick(now: number): void {
    if (this.stopped) return;
    this.now = now;
    const due = this.wheel.advance(now).map((e) => e.value);
    for (let i = 0; i < due.length; i += this.chunkRows) this.send(due.slice(i, i + this.chunkRows));
    const reload = now >= this.nextLoadAt || (this.capped && this.known.size < this.options.maxLoaded / 2);
    if (reload && !this.loading) void this.load(now);
  }

  stop(): void {
    this.stopped = true;
    this.wheel.clear();
    this.known.clear();
  }

  private send(chunk: DelayedMessage[]): void {
    this.dispatch(this.ref, chunk).then(
      () => {
        for (const m of chunk) {
          this.known.delete(m.id);
          this.dispatchedDuringLoad?.add(m.id);
        }
      },
      (err: unknown) => {
        if (this.stopped) return;
        for (const m of chunk) this.known.delete(m.id);
        this.nextLoadAt = Math.min(this.nextLoadAt, this.now + RETRY_LOAD_MS);
        this.logger.warn('dispatching delayed messages failed; reloading them', {
          ...this.ref,
          count: chunk.length,
          err,
        });
      },
    );
  }

  /** Loads the rows due before now + window that are not in memory yet, lowest first. */
  private async load(now: number): Promise<void> {
    this.loading = true;
    const dispatched = (this.dispatchedDuringLoad = new Set());
    const until = now + this.options.windowMs;
    // Publishes committing while the load runs go to the wheel at once (known dedupes).
    this.windowEnd = Math.max(this.windowEnd, until);
    let capped = false;
    try {
      let after: { deliverAt: number; id: number } | undefined;
      for (;;) {
        const page = await this.store.dueDelayed(this.ref, until, PAGE_ROWS, after);
        if (this.stopped) return;
        for (const m of page) {
          if (this.known.has(m.id) || dispatched.has(m.id)) continue;
          if (this.known.size >= this.options.maxLoaded) {
            capped = true;
            this.windowEnd = m.deliverAt;
            break;
          }
          this.known.add(m.id);
          this.wheel.add({ id: m.id, dueAt: m.deliverAt, value: m });
        }
        const last = page[page.length - 1];
        if (capped || page.length < PAGE_ROWS || !last) break;
        after = { deliverAt: last.deliverAt, id: last.id };
      }
      this.capped = capped;
      this.nextLoadAt = now + this.options.windowMs / 2;
    } catch (err) {
      this.nextLoadAt = now + RETRY_LOAD_MS;
      this.logger.warn('loading delayed messages failed', { ...this.ref, err });
    } finally {
      this.loading = false;
      this.dispatchedDuringLoad = undefined;
    }
  }
}
