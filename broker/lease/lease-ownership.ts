// Lease-mode ownership: the broker serves a partition only while it holds a valid broker lease
// for it (holder clock from the request's send time, minus the safety margin; the lease client
// judges that) AND it has loaded the partition's state for that lease. Each round renews and
// acquires (AcquireBrokerLeases), then loads every newly held partition (its end offset, fresh
// group cursors) before serving it, and drops the ones it no longer holds. Shutdown releases
// every lease so the next owners need not wait for expiry. Each round also refreshes the routes
// of the topics it holds (cached for routeTtlMs): that is how topic definitions reach the broker.
import { BrokerLeaseClient } from '../../common/meta-client';
import type { Logger } from '../../common/logger';
import type { ChannelCredentials } from '@grpc/grpc-js';
import type { MetaOptions } from '../../common/broker-options';
import type { Owner, Ownership } from '../ownership';
import type { PartitionRef } from '../../storage/storage';
import type { RouteTable } from './route-table';
import type { PushReport__Input } from '../../proto/gen/herald/v1/PushReport';

/** What the broker does when a partition becomes, or stops being, its own. */
export interface PartitionTakeover {
  /** Loads the partition's state before it is served; resolves with its end offset. */
  acquired(ref: PartitionRef, epoch: number): Promise<number>;
  lost(ref: PartitionRef): void;
}

const leaseKey = (ref: PartitionRef) => `${ref.topic}#${ref.partition}`;

function parseKey(k: string): PartitionRef {
  const at = k.lastIndexOf('#');
  return { topic: k.slice(0, at), partition: Number(k.slice(at + 1)) };
}

export class LeaseOwnership implements Ownership {
  private readonly client: BrokerLeaseClient;
  /** Partitions whose state is loaded, with the epoch it was loaded for. */
  private readonly ready = new Map<string, number>();
  private takeover: PartitionTakeover | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    meta: MetaOptions,
    private readonly advertisedAddress: string,
    private readonly routes: RouteTable,
    private readonly logger: Logger,
    credentials: () => ChannelCredentials,
    /** What the broker's push partitions report with each lease request. */
    pushReports: () => PushReport__Input[] = () => [],
  ) {
    this.client = new BrokerLeaseClient({
      metaAddresses: meta.addresses,
      credentials,
      safetyMarginMs: meta.safetyMarginMs,
      logger,
      namespace: meta.namespace,
      pool: meta.pool,
      broker: { id: meta.brokerId, address: advertisedAddress, zone: meta.zone, weight: meta.weight },
      pushReports,
    });
  }

  owner(ref: PartitionRef): Owner {
    const lease = this.client.owns(ref.topic, ref.partition);
    if (lease !== undefined && this.ready.get(leaseKey(ref)) === lease.epoch) return { owned: true };
    const address = this.routes.cached(ref.topic, ref.partition)?.address;
    return address && address !== this.advertisedAddress ? { owned: false, address } : { owned: false };
  }

  /** Starts the lease rounds; partitions are served as their state loads. */
  start(takeover: PartitionTakeover): void {
    this.takeover = takeover;
    const loop = () => {
      this.running = this.round()
        .catch((err: unknown) => {
          this.logger.warn('lease round failed', { err });
          return 500;
        })
        .then((interval) => {
          if (!this.stopped) this.timer = setTimeout(loop, interval);
        });
    };
    loop();
  }

  /** Stops renewing; with `release`, gives every lease back at once (graceful shutdown). */
  async stop({ release }: { release: boolean }): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    this.ready.clear();
    try {
      await this.client.stop({ release });
    } catch (err) {
      this.logger.warn('could not release leases; they expire on their own', { err });
    }
  }

  private async round(): Promise<number> {
    const interval = await this.client.sync();
    const held = new Set(this.client.owned());
    for (const k of [...this.ready.keys()]) {
      if (held.has(k)) continue;
      this.ready.delete(k);
      const ref = parseKey(k);
      this.takeover?.lost(ref);
      this.logger.info('stopped serving partition', { ...ref });
    }
    // Topic definitions (partitions, maxMessageBytes) come with the routes: keep them fresh.
    const topics = new Set([...held].map((k) => parseKey(k).topic));
    for (const r of await Promise.allSettled([...topics].map((t) => this.routes.get(t)))) {
      if (r.status === 'rejected') this.logger.warn('could not fetch routes', { err: r.reason });
    }
    for (const k of held) {
      const ref = parseKey(k);
      const lease = this.client.owns(ref.topic, ref.partition);
      if (lease === undefined || this.ready.get(k) === lease.epoch || this.stopped) continue;
      this.ready.delete(k);
      // Load first, serve after: the end offset read here is where this epoch starts writing.
      // A partition that fails to load (store down) is tried again next round; others go on.
      try {
        // A partition beyond what the broker knows: the topic grew.
        if (ref.partition >= (await this.routes.get(ref.topic)).topic.partitions)
          await this.routes.refresh(ref.topic);
        const endOffset = await this.takeover!.acquired(ref, lease.epoch);
        this.ready.set(k, lease.epoch);
        this.logger.info('serving partition', { ...ref, epoch: lease.epoch, endOffset });
      } catch (err) {
        this.logger.warn('could not load partition; not serving it yet', { ...ref, err });
      }
    }
    return interval;
  }
}
