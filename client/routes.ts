// Which broker owns each partition, from the meta-server's GetRoutes, cached per topic. A
// NOT_PARTITION_OWNER answer names the new owner (setOwner); a broker that cannot be reached
// makes the whole topic stale (invalidate), and the next lookup asks the meta-server again.
import { callError } from '../common/errors';
import type { MetaConnection } from '../common/meta-client';
import { TtlCache } from '../common/ttl-cache';
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
}

export class RouteCache {
  private readonly cache: TtlCache<TopicRoutes>;

  constructor(
    private readonly meta: MetaConnection,
    private readonly namespace: string,
    ttlMs: number,
    now: () => number = Date.now,
  ) {
    this.cache = new TtlCache((topic) => this.fetch(topic), ttlMs, now);
  }

  /** The topic's routes, from the cache while fresh; TOPIC_NOT_FOUND for an undeclared topic. */
  get(topic: string): Promise<TopicRoutes> {
    return this.cache.get(topic);
  }

  /** The topic's routes while fresh, without waiting; undefined when they must be fetched. */
  fresh(topic: string): TopicRoutes | undefined {
    return this.cache.fresh(topic);
  }

  /** Asks the meta-server now; concurrent callers share one request. */
  refresh(topic: string): Promise<TopicRoutes> {
    return this.cache.refresh(topic);
  }

  /** A broker said who owns the partition now. */
  setOwner(topic: string, partition: number, address: string): void {
    const r = this.cache.peek(topic);
    if (r && partition < r.partitions) r.owners[partition] = address;
  }

  invalidate(topic: string): void {
    this.cache.delete(topic);
  }

  private async fetch(topic: string): Promise<TopicRoutes> {
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
    return {
      topic,
      partitions: res.routes.length,
      owners,
      maxMessageBytes: res.maxMessageBytes,
      priority: res.priority,
      delay: res.delay,
    };
  }
}
