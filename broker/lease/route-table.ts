// Routes of topics (Meta GetRoutes), cached: which broker holds each partition, and the
// topic's definition (partitions, storage, maxMessageBytes, rateLimit), which is how a broker in
// lease mode learns its topics. Forwarding reads routes from here and refreshes a topic's on NOT_PARTITION_OWNER.
import type * as grpc from '@grpc/grpc-js';
import type { MetaConnection } from '../../common/meta-client';
import type { GetRoutesResponse } from '../../proto/gen/herald/v1/GetRoutesResponse';
import { HeraldError } from '../../common/errors';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_RETENTION_HOURS,
  STORAGE_KINDS,
} from '../../common/broker-options';
import type { StorageKind, TopicOptions } from '../../common/broker-options';
import { fromServiceError } from '../../common/errors';
import { TtlCache } from '../../common/ttl-cache';

export interface PartitionRoute {
  partition: number;
  /** Empty while no broker holds the partition. */
  brokerId: string;
  address: string;
  epoch: number;
}

export interface TopicRoutes {
  topic: TopicOptions;
  routes: PartitionRoute[];
}

export class RouteTable {
  private readonly cache: TtlCache<TopicRoutes>;

  constructor(
    private readonly meta: Pick<MetaConnection, 'call'>,
    private readonly namespace: string,
    ttlMs: number,
    /** Called with every topic definition fetched, so the broker knows the topic. */
    private readonly onTopic: (topic: TopicOptions) => void,
    now: () => number = Date.now,
  ) {
    this.cache = new TtlCache((topic) => this.fetch(topic), ttlMs, now);
  }

  /** The cached route of a partition, however old (for the owner hint in errors). */
  cached(topic: string, partition: number): PartitionRoute | undefined {
    return this.cache.peek(topic)?.routes[partition];
  }

  /** The topic's routes, fetched when missing or older than the TTL. */
  get(topic: string): Promise<TopicRoutes> {
    return this.cache.get(topic);
  }

  /** Fetches the topic's routes now (one fetch per topic at a time). TOPIC_NOT_FOUND when undeclared. */
  refresh(topic: string): Promise<TopicRoutes> {
    return this.cache.refresh(topic);
  }

  private async fetch(name: string): Promise<TopicRoutes> {
    let res: GetRoutesResponse;
    try {
      res = await this.meta.call<GetRoutesResponse>((c, cb) =>
        c.getRoutes({ namespace: this.namespace, topic: name }, cb),
      );
    } catch (err) {
      throw (
        fromServiceError(err as grpc.ServiceError) ??
        new HeraldError('NOT_PARTITION_OWNER', `no route to topic ${name}: the meta-server is unreachable`, {
          topic: name,
        })
      );
    }
    const topic: TopicOptions = {
      name,
      storage: storageKind(name, res.storage),
      partitions: res.routes.length,
      maxMessageBytes: res.maxMessageBytes || DEFAULT_MAX_MESSAGE_BYTES,
      delay: res.delay,
      retentionHours: res.retentionHours || DEFAULT_RETENTION_HOURS,
      priority: res.priority,
      ...(res.rateLimit && res.rateLimit.messagesPerSecond > 0
        ? { rateLimit: { messagesPerSecond: res.rateLimit.messagesPerSecond, burst: res.rateLimit.burst } }
        : {}),
      ...(res.pushGroups.length > 0 ? { pushGroups: [...res.pushGroups] } : {}),
    };
    const routes = res.routes.map((r) => ({
      partition: r.partition,
      brokerId: r.brokerId,
      address: r.address,
      epoch: Number(r.epoch),
    }));
    routes.sort((a, b) => a.partition - b.partition);
    this.onTopic(topic);
    return { topic, routes };
  }
}

/** GetRoutesResponse.storage as a kind: '' (a meta-server before the field) means mysql. */
function storageKind(topic: string, storage: string): StorageKind {
  if (storage === '') return 'mysql';
  const kind = STORAGE_KINDS.find((k) => k === storage);
  if (kind === undefined) {
    throw new HeraldError(
      'INVALID_REQUEST',
      `topic ${topic} uses storage ${storage}, which this broker does not know`,
      {
        topic,
        storage,
      },
    );
  }
  return kind;
}
