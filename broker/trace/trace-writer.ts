// The Tracer of a broker: events go into a bounded in-memory buffer. Group commits of a store
// with traceInAppend take them along (TraceRider: the events ride in the message transaction,
// no log flush of their own); what no commit took within `flushIntervalMs` (checked every
// `flushIntervalMs`), or as soon as `maxBatchEvents` are waiting, is written to the TraceStore
// in one multi-row INSERT. One such write runs at a time. When the store is slow or down the buffer fills and
// new events are dropped; a failed write drops its batch. Drops are counted in a metric and
// logged at most once per `logIntervalMs`, so a store outage costs neither memory nor log
// volume, and record() never waits or throws.
import type { Logger } from '../../common/logger';
import type { TraceEvent, TraceStore } from '../../storage/trace-store';
import type { TraceInput, Tracer } from './tracer';
import type { TraceRider } from '../publish/group-committer';

export interface TraceWriterOptions {
  /** The recording broker's identity, stored with every event (known once it listens). */
  broker: () => string;
  flushIntervalMs: number;
  maxBatchEvents: number;
  /** Events held at most; beyond it new events are dropped. */
  maxBufferedEvents: number;
  /** At most one warning about drops or failed writes per interval. */
  logIntervalMs: number;
}

export interface TraceWriterMetrics {
  traceEventsWritten: { inc(n: number): void };
  traceEventsDropped: { inc(n: number): void };
  /** Seconds per trace INSERT (it shares the store with the group commits). */
  traceWrite: { observe(seconds: number): void };
}

export class TraceWriter implements Tracer, TraceRider {
  private buffer: TraceEvent[] = [];
  /** When the oldest buffered event was recorded (this.now()). */
  private oldestAt = 0;
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Dropped since the last warning, and why the last write failed. */
  private unreported = 0;
  private lastError: unknown;
  private lastLogAt = -Infinity;

  constructor(
    private readonly store: Pick<TraceStore, 'appendTrace'>,
    private readonly options: TraceWriterOptions,
    private readonly metrics: TraceWriterMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  record(input: TraceInput): void {
    try {
      if (this.buffer.length >= this.options.maxBufferedEvents) {
        this.drop(1);
        return;
      }
      if (this.buffer.length === 0) this.oldestAt = this.now();
      this.buffer.push({
        at: this.now(),
        refKey: '',
        group: '',
        consumerId: '',
        attempt: 0,
        detail: {},
        ...input,
        broker: this.options.broker(),
      });
      if (this.buffer.length >= this.options.maxBatchEvents) this.kick();
    } catch (err) {
      // A metric or clock failure must not reach the publish or delivery path.
      this.lastError = err;
    }
  }

  /** Events waiting to be written. */
  get buffered(): number {
    return this.buffer.length;
  }

  take(): TraceEvent[] {
    const taken = this.buffer.splice(0, this.options.maxBatchEvents);
    if (this.buffer.length > 0) this.oldestAt = this.now();
    return taken;
  }

  stored(events: TraceEvent[]): void {
    this.metrics.traceEventsWritten.inc(events.length);
  }

  /** Back to the front of the buffer, as far as it has room; the rest is dropped. */
  giveBack(events: TraceEvent[]): void {
    const room = Math.max(0, this.options.maxBufferedEvents - this.buffer.length);
    if (events.length > room) this.drop(events.length - room);
    if (this.buffer.length === 0) this.oldestAt = this.now();
    this.buffer.unshift(...events.slice(0, room));
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.now() - this.oldestAt >= this.options.flushIntervalMs) this.kick();
    }, this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Writes everything buffered now (shutdown, tests); a batch the store refuses is dropped. */
  async flush(): Promise<void> {
    for (;;) {
      const writing = this.writing;
      if (writing) await writing;
      else if (this.buffer.length > 0) this.kick();
      else return;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    this.report();
  }

  private kick(): void {
    if (this.writing || this.buffer.length === 0) return;
    this.writing = this.writeAll().finally(() => {
      this.writing = undefined;
    });
  }

  /** Writes batches until the buffer is empty or a write fails (the next tick tries again). */
  private async writeAll(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.take();
      try {
        const started = performance.now();
        await this.store.appendTrace(batch);
        this.metrics.traceWrite.observe((performance.now() - started) / 1000);
        this.metrics.traceEventsWritten.inc(batch.length);
      } catch (err) {
        this.lastError = err;
        this.drop(batch.length);
        break;
      }
    }
    this.report();
  }

  private drop(n: number): void {
    this.unreported += n;
    this.metrics.traceEventsDropped.inc(n);
  }

  private report(): void {
    if (this.unreported === 0) return;
    const now = this.now();
    if (now - this.lastLogAt < this.options.logIntervalMs) return;
    this.lastLogAt = now;
    this.logger.warn('trace events dropped: the trace store is slow or unavailable', {
      dropped: this.unreported,
      buffered: this.buffer.length,
      err: this.lastError,
    });
    this.unreported = 0;
  }
}
