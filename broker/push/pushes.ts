// The push groups' pushers on this broker: one per (push group, owned partition of its topic),
// started when the partition becomes this broker's or the group appears, stopped when either
// goes. What the pushers see is reported to the meta-server with the lease requests.
import type { PushPolicy } from '../../common/group-policy';
import type { PushReport__Input } from '../../proto/gen/herald/v1/PushReport';
import type { Topics } from '../topics';
import { partitionKey } from '../topics';
import { PartitionPusher, endpointOf } from './partition-pusher';
import type { PushContext } from './partition-pusher';

export class Pushes {
  private readonly pushers = new Map<string, PartitionPusher>();
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly topics: Topics,
    private readonly ctx: Omit<PushContext, 'partitions'>,
    private readonly reconcileIntervalMs: number,
  ) {}

  start(): void {
    const tick = () => {
      this.reconciling ??= this.reconcile()
        .catch((err: unknown) => this.ctx.logger.warn('could not start push deliveries', { err }))
        .finally(() => (this.reconciling = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.reconcileIntervalMs);
    this.timer.unref();
  }

  /** Every push partition this broker delivers, for AcquireBrokerLeases. */
  reports(): PushReport__Input[] {
    return [...this.pushers.values()].map((p) => {
      const r = p.report();
      return {
        group: p.group,
        topic: p.ref.topic,
        partition: p.ref.partition,
        rate: r.rate,
        state: r.state,
        healthy: r.healthy,
        inFlight: r.inFlight,
        recentFailures: p.failures.map((f) => ({
          atMs: f.at,
          offset: f.offset,
          attempt: f.attempt,
          status: f.status,
          error: f.error,
        })),
      };
    });
  }

  /** Stops every pusher and waits for their requests to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.reconciling;
    await Promise.all([...this.pushers.values()].map((p) => p.stop()));
    this.pushers.clear();
  }

  private async reconcile(): Promise<void> {
    const wanted = new Map<string, { group: string; ref: { topic: string; partition: number } }>();
    for (const t of this.topics.all()) {
      for (const group of t.pushGroups ?? []) {
        for (const ref of this.topics.ownedPartitions(t.name))
          wanted.set(`${group}\u0000${partitionKey(ref)}`, { group, ref });
      }
    }
    for (const [k, p] of [...this.pushers]) {
      if (wanted.has(k) && !p.stopped) continue;
      this.pushers.delete(k);
      void p.stop();
    }
    for (const [k, { group, ref }] of wanted) {
      if (this.pushers.has(k) || this.stopped) continue;
      const policy = await this.ctx.policies.policy(group);
      const push: PushPolicy | undefined = policy.push;
      if (!push || this.stopped) continue;
      const context = { ...this.ctx, partitions: (topic: string) => this.topics.topic(topic).partitions };
      this.pushers.set(k, new PartitionPusher(group, ref, { ...policy, push }, context));
      this.ctx.logger.info('pushing partition', { ...ref, group, endpoint: endpointOf(push.url) });
    }
  }
}
