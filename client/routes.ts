// Which broker owns each partition, from the meta-server's GetRoutes, cached per topic. A
// NOT_PARTITION_OWNER answer names the new owner (setOwner); a broker that cannot be reached
// makes the whole topic stale (invalidate), and the next lookup asks the meta-server again.
import { callError } from './errors';
import type { MetaConnection } from './meta/lease-client';
import type { GetRoutesResponse } from '../proto/gen/herald/v1/GetRoutesResponse';

export interface TopicRoutes {
  topic: string;
  partitions: number;
  /** The owner's address per partition; undefined while no broker holds it. */
  owners: (string | undefined)[];
  /** The Topic's spec.maxMessageBytes; 0 when unknown. */
  maxMessageBytes: number;
  priority: boolean;
  delay: boolean;
  fetchedAt: number;
}

export class RouteCache {
  private readonly cache = new Map<string, TopicRoutes>();
  private readonly pending = new Map<string, Promise<TopicRoutes>>();

  constructor(
    private readonly meta: MetaConnection,
    private readonly namespace: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The topic's routes, from the cache while fresh; TOPIC_NOT_FOUND for an undeclared topic. */
  async get(topic: string): Promise<TopicRoutes> {
    const cached = this.cache.get(topic);
    if (cached && this.now() - cached.fetchedAt < this.ttlMs) return cached;
    return this.refresh(topic);
  }

  /** Asks the meta-server now; concurrent callers share one request. */
  refresh(topic: string): Promise<TopicRoutes> {
    let p = this.pending.get(topic);
    if (!p) {
      p = this.fetch(topic).finally(() => this.pending.delete(topic));
      this.pending.set(topic, p);
    }
    return p;
  }

  /** A broker said who owns the partition now. */
  setOwner(topic: string, partition: number, address: string): void {
    const r = this.cache.get(topic);
    if (r && partition < r.partitions) r.owners[partition] = address;
  }

  invalidate(topic: string): void {
    this.cache.delete(topic);
  }

  private async fetch(topic: string): Promise<TopicRoutes> {
    const sentAt = this.now();
    let res: GetRoutesResponse;
    try {
      res = await this.meta.call<GetRoutesResponse>((c, cb) =>
        c.getRoutes({ namespace: this.namespace, topic }, cb),
      );
    } catch (err) {
      throw callError(err, 'meta-server');
    }
    const owners: (string | undefined)[] = [];
    for (const r of res.routes) owners[r.partition] = r.address || undefined;
    const routes: TopicRoutes = {
      topic,
      partitions: res.routes.length,
      owners,
      maxMessageBytes: res.maxMessageBytes,
      priority: res.priority,
      delay: res.delay,
      fetchedAt: sentAt,
    };
    this.cache.set(topic, routes);
    return routes;
  }
}
