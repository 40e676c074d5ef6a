// Delayed and scheduled messages on a broker (docs/delayed-messages.md): stores them in the
// delay tables with batched inserts (requests arriving while a partition's insert runs share
// the next one), answers after the commit, and keeps one PartitionDelays per owned partition,
// all ticked by one timer.
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { BrokerMetrics } from '../metrics';
import type { BrokerOptions } from '../../common/broker-options';
import type { DelayStore, DelayedMessage } from '../../storage/delay-store';
import type { NewMessage, PartitionRef } from '../../storage/storage';
import { partitionKey } from '../topics';
import { PartitionDelays } from './partition-delays';
import type { Dispatch } from './partition-delays';

export interface DelayRequest {
  deliverAt: number;
  message: NewMessage;
}

interface Queued {
  items: DelayRequest[];
  resolve: (stored: DelayedMessage[]) => void;
  reject: (err: unknown) => void;
}

interface Inserts {
  ref: PartitionRef;
  queue: Queued[];
  running: boolean;
}

export class Delays {
  private readonly partitions = new Map<string, PartitionDelays>();
  private readonly inserts = new Map<string, Inserts>();
  private readonly timer: NodeJS.Timeout;
  private inFlight = 0;
  private stopping = false;
  private idle: (() => void) | undefined;

  constructor(
    private readonly store: DelayStore,
    private readonly options: BrokerOptions['delay'],
    /** Rows per delay-table INSERT and per dispatched append. */
    private readonly maxRows: number,
    private readonly dispatch: Dispatch,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const p of this.partitions.values()) p.tick(now);
    }, options.tickMs);
  }

  /** Stores delayed messages of one partition; resolves with their ids after the commit. */
  schedule(ref: PartitionRef, items: DelayRequest[]): Promise<DelayedMessage[]> {
    if (this.stopping) return Promise.reject(new HeraldError('SHUTTING_DOWN', 'the broker is shutting down'));
    const key = partitionKey(ref);
    let inserts = this.inserts.get(key);
    if (!inserts) this.inserts.set(key, (inserts = { ref, queue: [], running: false }));
    const target = inserts;
    this.inFlight++;
    return new Promise<DelayedMessage[]>((resolve, reject) => {
      target.queue.push({ items, resolve, reject });
      if (!target.running) void this.insert(target);
    }).finally(() => {
      if (--this.inFlight === 0) this.idle?.();
    });
  }

  /** A partition taken (again): its delay table is loaded from the lowest due row. */
  acquired(ref: PartitionRef): void {
    this.lost(ref);
    const p = new PartitionDelays(
      ref,
      this.store,
      this.options,
      this.maxRows,
      this.dispatch,
      this.logger,
      Date.now(),
    );
    this.partitions.set(partitionKey(ref), p);
    p.tick(Date.now());
  }

  /** A partition lost: its wheel is dropped (the new owner loads the table). */
  lost(ref: PartitionRef): void {
    const key = partitionKey(ref);
    this.partitions.get(key)?.stop();
    this.partitions.delete(key);
  }

  /** Stops dispatching; resolves once every accepted delayed publish has been answered. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    for (const p of this.partitions.values()) p.stop();
    this.partitions.clear();
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
  }

  private async insert(inserts: Inserts): Promise<void> {
    inserts.running = true;
    while (inserts.queue.length > 0) {
      // Whole requests while they fit maxRows, and always at least one.
      let rows = 0;
      let n = 0;
      while (n < inserts.queue.length && (n === 0 || rows + inserts.queue[n].items.length <= this.maxRows)) {
        rows += inserts.queue[n].items.length;
        n++;
      }
      const taken = inserts.queue.splice(0, n);
      const items = taken.flatMap((q) => q.items);
      try {
        const ids = await this.store.scheduleDelayed(inserts.ref, items);
        const stored = items.map((it, i) => ({ id: ids[i], deliverAt: it.deliverAt, message: it.message }));
        this.metrics.delayedScheduled.inc({ topic: inserts.ref.topic }, stored.length);
        this.partitions.get(partitionKey(inserts.ref))?.stored(stored);
        let offset = 0;
        for (const q of taken) {
          q.resolve(stored.slice(offset, offset + q.items.length));
          offset += q.items.length;
        }
      } catch (err) {
        for (const q of taken) q.reject(err);
      }
    }
    inserts.running = false;
  }
}
