// Writes the meta-server's assignment to Kubernetes objects when, and only when, it changes:
// a Topic's status.assignment (partition -> broker, epoch) and a ConsumerGroup's
// status.assignment and consumers. Renewals never write. A new leader restores from these.
import type { Logger } from '../../common/logger';
import type { MetaCore, Unit } from './meta-core';

export interface CheckpointSink {
  writeTopic(namespace: string, name: string, status: object): Promise<void>;
  writeGroup(namespace: string, name: string, status: object): Promise<void>;
}

export class Checkpointer {
  private readonly inflight = new Map<Unit, Promise<void>>();
  /** Checkpoint writes made, for the write-rate measurement. */
  writes = 0;

  constructor(
    private readonly core: MetaCore,
    private readonly sink: CheckpointSink,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Writes every dirty unit and waits for writes already under way, so that a grant is never
   * answered before the checkpoint that records it is stored. Throws when a write failed (the
   * unit stays dirty and is written again by the next flush).
   */
  async flush(): Promise<void> {
    const units = this.core.takeDirty();
    for (const unit of units) this.write(unit);
    await Promise.all([...this.inflight.values()]);
  }

  private write(unit: Unit): void {
    const previous = this.inflight.get(unit) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => this.writeNow(unit))
      .catch((err: unknown) => {
        this.core.markDirty(unit);
        this.logger.warn('checkpoint write failed', { unit, err });
        throw err;
      })
      .finally(() => {
        if (this.inflight.get(unit) === next) this.inflight.delete(unit);
      });
    this.inflight.set(unit, next);
  }

  private async writeNow(unit: Unit): Promise<void> {
    const [kind, rest] = [unit.slice(0, unit.indexOf(':')), unit.slice(unit.indexOf(':') + 1)];
    const [namespace, name] = [rest.slice(0, rest.indexOf('/')), rest.slice(rest.indexOf('/') + 1)];
    this.writes++;
    if (kind === 'topic') {
      const assignment = this.core
        .topicCheckpoint(namespace, name)
        .map((e) => ({ partition: e.partition, broker: e.holder, address: e.address, epoch: e.epoch }));
      await this.sink.writeTopic(namespace, name, { assignment });
    } else {
      const cp = this.core.groupCheckpoint(namespace, name, this.now());
      await this.sink.writeGroup(namespace, name, {
        assignment: cp.assignment.map((e) => ({
          partition: e.partition,
          consumer: e.holder,
          epoch: e.epoch,
        })),
        consumers: cp.consumers,
        activeConsumers: cp.consumers.length,
      });
    }
  }
}
