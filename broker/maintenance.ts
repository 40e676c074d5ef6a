// Periodic upkeep of the partitions this broker owns: time retention by whole segments
// (SegmentRetention.maintainSegments, for topics whose message store offers it; MySQL: table
// partitions), which also keeps empty segments ahead of the end offset. Runs for each partition
// as the broker loads it (before serving it), then over every owned partition each
// retention.intervalMs; a failure on one partition is logged and the next one is still maintained.
import type { Logger } from '../common/logger';
import type { PartitionLog } from './delivery/partition-log';
import type { BrokerMetrics } from './metrics';
import type { BrokerOptions } from '../common/broker-options';
import type { MessageStore, PartitionRef } from '../storage/storage';
import { partitionKey } from './topics';
import type { Topics } from './topics';

const HOUR_MS = 3_600_000;

export class Maintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Partitions being maintained now (a load and a periodic pass never run DDL on one at once). */
  private readonly busy = new Set<string>();

  constructor(
    private readonly topics: Topics,
    private readonly logs: Map<string, PartitionLog>,
    /** The message store of a topic. */
    private readonly stores: (topic: string) => MessageStore,
    private readonly options: BrokerOptions['retention'],
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const loop = () => {
      this.running = this.runOnce().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.timer = setTimeout(loop, this.options.intervalMs);
      });
    };
    // Each partition had its first pass when it was loaded.
    this.timer = setTimeout(loop, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every owned partition. */
  async runOnce(now = Date.now()): Promise<void> {
    for (const topic of this.topics.all()) {
      for (const ref of this.topics.ownedPartitions(topic.name)) {
        if (this.stopped) return;
        await this.maintain(ref, now);
      }
    }
  }

  /**
   * Maintains one partition: drops its expired segments and keeps empty ones ahead of its end
   * offset. The broker also runs it when it loads a partition, before serving it, so that the
   * DDL that lays out a fresh table's first segments never waits for (nor holds up) commits
   * that write to it.
   */
  async maintain(ref: PartitionRef, now = Date.now()): Promise<void> {
    const key = partitionKey(ref);
    const log = this.logs.get(key);
    // A store without segment retention keeps (or expires) messages by its own means.
    const retention = this.stores(ref.topic).segments;
    if (!log || !retention || this.busy.has(key)) return;
    this.busy.add(key);
    try {
      const expireBefore = now - this.topics.topic(ref.topic).retentionHours * HOUR_MS;
      const dropped = await retention.maintainSegments(
        ref,
        log.endOffset,
        this.options.segmentMessages,
        expireBefore,
      );
      if (dropped.length > 0) {
        log.droppedBelow(Math.max(...dropped.map((d) => d.to)) + 1);
        this.metrics.retentionDroppedSegments.inc({ topic: ref.topic }, dropped.length);
        this.logger.info('dropped expired segments', { ...ref, segments: dropped, expireBefore });
      }
    } catch (err) {
      this.logger.warn('segment maintenance failed', { ...ref, err });
    } finally {
      this.busy.delete(key);
    }
  }
}
