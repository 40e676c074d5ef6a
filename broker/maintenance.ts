// Periodic upkeep of the partitions this broker owns: time retention by whole segments
// (SegmentRetention.maintainSegments, for topics whose message store offers it; MySQL: table
// partitions), which also keeps empty segments ahead of the end offset. Runs once at start and then every retention.intervalMs; a failure on one
// partition is logged and the next one is still maintained.
import type { Logger } from '../common/logger';
import type { PartitionLog } from './delivery/partition-log';
import type { BrokerMetrics } from './metrics';
import type { BrokerOptions } from '../common/broker-options';
import type { MessageStore } from '../storage/storage';
import { partitionKey } from './topics';
import type { Topics } from './topics';

const HOUR_MS = 3_600_000;

export class Maintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

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
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every owned partition. */
  async runOnce(now = Date.now()): Promise<void> {
    for (const topic of this.topics.all()) {
      const expireBefore = now - topic.retentionHours * HOUR_MS;
      const retention = this.stores(topic.name).segments;
      // A store without segment retention keeps (or expires) messages by its own means.
      if (!retention) continue;
      for (const ref of this.topics.ownedPartitions(topic.name)) {
        const log = this.logs.get(partitionKey(ref));
        if (!log || this.stopped) continue;
        try {
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
        }
      }
    }
  }
}
