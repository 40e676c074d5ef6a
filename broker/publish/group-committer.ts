// Group commit over the partitions this broker owns in one message store: whenever planCommit
// (batching.ts) says so, one append stores a batch for every waiting partition (one
// transaction of multi-row INSERTs on MySQL), and every request in it is answered after the
// commit. A store without atomicMultiPartitionAppend answers each partition's batch on its own. Several commits may run at once, on different
// partitions. A fence (another writer took offsets of one partition) aborts the transaction;
// its batches are then retried one partition at a time so only the fenced one fails. Right
// before a write, batches of partitions this broker no longer serves fail unstored.
// Riders: a store with traceInAppend also takes the trace events buffered so far into each
// commit, one with offsetsInAppend the consumers' committed offsets that are due (one log flush
// for all); when the commit fails they go back to their owner, which stores them later, and a
// commit that fails for another reason than a fence or an outage is tried once more without
// them, so a rider can never fail a publish.
import { HeraldError, asHeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { BrokerMetrics } from '../metrics';
import type { MessageStore, OffsetCommit, TraceEvent } from '../../storage/storage';
import { planCommit } from './batching';
import type { BatchLimits } from './batching';
import type { PartitionWriter, TakenBatch } from './partition-writer';

export interface CommitterLimits extends BatchLimits {
  /** Transactions running at once (on disjoint partitions). */
  maxConcurrentCommits: number;
  /** A longer commit is logged (at most once per SLOW_LOG_INTERVAL_MS); 0: never. */
  slowCommitMs: number;
}

/** Slow commits are logged at most this often; the ones in between are counted in the next line. */
const SLOW_LOG_INTERVAL_MS = 10_000;

/** The trace buffer as a commit sees it (TraceWriter). */
export interface TraceRider {
  /** Takes buffered events to store with a commit. */
  take(): TraceEvent[];
  /** They were stored with it. */
  stored(events: TraceEvent[]): void;
  /** The commit failed: they go back to the buffer. */
  giveBack(events: TraceEvent[]): void;
}

/** The moved committed offsets as a commit sees them (OffsetCommitter). */
export interface OffsetRider {
  /** Takes the offsets of this store's cursors that are due to be stored; [] when none. */
  take(store: object): OffsetCommit[];
  /** They were stored with the commit. */
  stored(commits: OffsetCommit[]): void;
  /** The commit failed: they are stored later. */
  giveBack(commits: OffsetCommit[]): void;
}

/** What a committer's commits carry besides messages, each used only when the store can. */
export interface CommitRiders {
  trace?: TraceRider;
  offsets?: OffsetRider;
}

export class GroupCommitter {
  private writers: PartitionWriter[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private endOfTurn: NodeJS.Immediate | undefined;
  private draining = false;
  private drained: (() => void) | undefined;
  /** When a slow commit was last logged, and how many were not logged since. */
  private slowLoggedAt = -Infinity;
  private slowUnlogged = 0;

  constructor(
    readonly store: MessageStore,
    private readonly limits: CommitterLimits,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    /** Told about storage failures, so the broker can fail fast and report not-ready. */
    private readonly onStorageError: (err: HeraldError) => void,
    private readonly riders: CommitRiders = {},
  ) {}

  add(writer: PartitionWriter): void {
    this.writers.push(writer);
  }

  /** Queues a publish on a writer; resolves with the first offset after the commit. */
  publish(
    writer: PartitionWriter,
    messages: Parameters<PartitionWriter['enqueue']>[0],
    bytes: number,
  ): Promise<number> {
    if (this.draining) return Promise.reject(new HeraldError('SHUTTING_DOWN', 'the broker is shutting down'));
    const done = writer.enqueue(messages, bytes);
    this.schedule();
    return done;
  }

  /** Stops taking requests; resolves once every queued request has been answered. */
  drain(): Promise<void> {
    this.draining = true;
    return new Promise((resolve) => {
      this.drained = resolve;
      this.schedule();
    });
  }

  private schedule(turnEnded = false): void {
    while (this.running < this.limits.maxConcurrentCommits) {
      const state = { draining: this.draining, idle: this.running === 0, turnEnded };
      const plan = planCommit(this.writers, performance.now(), this.limits, state);
      if (plan.kind === 'commit') {
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        const batches = plan.take.flatMap((n, i) => (n > 0 ? [this.writers[i].take(n)] : []));
        void this.commit(batches);
        continue;
      }
      if (plan.kind === 'wait' && plan.ms === 0) {
        this.endOfTurn ??= setImmediate(() => {
          this.endOfTurn = undefined;
          this.schedule(true);
        });
      } else if (plan.kind === 'wait' && !this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.schedule();
        }, plan.ms);
      }
      break;
    }
    if (this.draining && this.running === 0 && this.writers.every((w) => w.queue.length === 0))
      this.drained?.();
  }

  private async commit(batches: TakenBatch[]): Promise<void> {
    this.running++;
    let writing = batches;
    try {
      await Promise.all(batches.map((b) => b.writer.allocate(b)));
      writing = this.stillOwned(batches);
      // A store without atomic appends answers each batch on its own (Kafka: one produce
      // request per leader for all of them); an atomic one stores all or none.
      if (writing.length > 0) await this.append(writing);
    } catch (err) {
      const e = asHeraldError(err);
      if (e.reason === 'PARTITION_FENCED' && writing.length > 1) {
        await this.appendEach(writing);
      } else {
        this.fail(writing, e);
      }
    } finally {
      this.running--;
      this.schedule();
    }
  }

  /** The batches of partitions this broker still serves; the others fail, unstored. */
  private stillOwned(batches: TakenBatch[]): TakenBatch[] {
    return batches.filter((b) => {
      try {
        b.writer.requireOwned();
        return true;
      } catch (err) {
        this.fail([b], err);
        return false;
      }
    });
  }

  /** One append per partition, each answered (or failed) on its own. */
  private async appendEach(batches: TakenBatch[]): Promise<void> {
    await Promise.all(
      this.stillOwned(batches).map((b) => this.append([b]).catch((one: unknown) => this.fail([b], one))),
    );
  }

  private async append(batches: TakenBatch[]): Promise<void> {
    const publishedAt = Date.now();
    const started = performance.now();
    for (const b of batches)
      for (const q of b.requests) this.metrics.publishQueued.observe((started - q.at) / 1000);
    const { traceInAppend, offsetsInAppend } = this.store.capabilities;
    const traceRider = traceInAppend ? this.riders.trace : undefined;
    const offsetRider = offsetsInAppend ? this.riders.offsets : undefined;
    const trace = traceRider?.take() ?? [];
    const offsets = offsetRider?.take(this.store) ?? [];
    let outcomes;
    try {
      outcomes = await this.store.append(batches, publishedAt, { trace, offsets });
      if (trace.length > 0) traceRider?.stored(trace);
      if (offsets.length > 0) offsetRider?.stored(offsets);
    } catch (err) {
      if (trace.length === 0 && offsets.length === 0) throw err;
      if (trace.length > 0) traceRider?.giveBack(trace);
      if (offsets.length > 0) offsetRider?.giveBack(offsets);
      // Riders never fail a publish: a commit refused for anything but a fence or an outage
      // (nothing of it was stored) is tried again without them.
      const reason = asHeraldError(err).reason;
      if (reason === 'PARTITION_FENCED' || reason === 'STORAGE_UNAVAILABLE') throw err;
      outcomes = await this.store.append(batches, publishedAt);
    }
    const done = performance.now();
    this.noteSlow(done, done - started, batches, trace.length, offsets.length);
    this.metrics.commitLatency.observe((done - started) / 1000);
    this.metrics.commitPartitions.observe(batches.length);
    batches.forEach((b, i) => {
      const outcome = outcomes[i];
      // The offsets are the store's (Kafka allocates them; MySQL stores the owner's).
      if (outcome.ok) b.writer.committed(b, outcome.firstOffset, publishedAt, done);
      else this.fail([b], outcome.error);
    });
  }

  /** A stored commit that took longer than slowCommitMs: what it held, for whoever looks for the stall. */
  private noteSlow(now: number, ms: number, batches: TakenBatch[], trace: number, offsets: number): void {
    const { slowCommitMs } = this.limits;
    if (slowCommitMs === 0 || ms <= slowCommitMs) return;
    if (now - this.slowLoggedAt < SLOW_LOG_INTERVAL_MS) {
      this.slowUnlogged++;
      return;
    }
    this.logger.warn('slow commit', {
      ms: Math.round(ms),
      ...held(batches),
      traceEvents: trace,
      offsets,
      running: this.running,
      notLoggedSince: this.slowUnlogged,
    });
    this.slowLoggedAt = now;
    this.slowUnlogged = 0;
  }

  private fail(batches: TakenBatch[], err: unknown): void {
    const e = asHeraldError(err);
    this.logger.warn('write failed', {
      ...held(batches),
      reason: e.reason,
      err,
    });
    if (e.reason === 'STORAGE_UNAVAILABLE') this.onStorageError(e);
    for (const b of batches) b.writer.failed(b, e);
  }
}

/** What a commit's log lines say it held: its partitions (topic/partition) and rows. */
function held(batches: TakenBatch[]): { partitions: string[]; rows: number } {
  return {
    partitions: batches.map((b) => `${b.ref.topic}/${b.ref.partition}`),
    rows: batches.reduce((n, b) => n + b.messages.length, 0),
  };
}
