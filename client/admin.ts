// Operations for tools and the herald CLI: lag, traces, dead letters, offset resets and the
// topic list. Admin calls go to any broker (they read the shared store), except GetLag, which
// each broker answers for the partitions it owns: lag() asks every owner and merges.
import { channelCredentials } from '../common/grpc/credentials';
import type { CallOptions } from '@grpc/grpc-js';
import { BrokerConnections, unary } from './connections';
import type { BrokerStubs, Callback } from './connections';
import { callError, HeraldError } from '../common/errors';
import { MetaConnection } from '../common/meta-client';
import { connectionOptions } from './options';
import type { ConnectionOptions, Input } from './options';
import { RouteCache } from './routes';
import type { DeadLetter } from '../proto/gen/herald/v1/DeadLetter';
import type { DeadLetterFilter__Input } from '../proto/gen/herald/v1/DeadLetterFilter';
import type { GetLagResponse } from '../proto/gen/herald/v1/GetLagResponse';
import type { ListDeadLettersResponse } from '../proto/gen/herald/v1/ListDeadLettersResponse';
import type { ListTopicsResponse } from '../proto/gen/herald/v1/ListTopicsResponse';
import type { PartitionLag } from '../proto/gen/herald/v1/PartitionLag';
import type { PartitionReset } from '../proto/gen/herald/v1/PartitionReset';
import type { PeekRequest__Input } from '../proto/gen/herald/v1/PeekRequest';
import type { PeekResponse } from '../proto/gen/herald/v1/PeekResponse';
import type { PurgeDeadLettersResponse } from '../proto/gen/herald/v1/PurgeDeadLettersResponse';
import type { ReplayDeadLettersResponse } from '../proto/gen/herald/v1/ReplayDeadLettersResponse';
import type { ResetOffsetsRequest__Input } from '../proto/gen/herald/v1/ResetOffsetsRequest';
import type { ResetOffsetsResponse } from '../proto/gen/herald/v1/ResetOffsetsResponse';
import type { TopicSummary } from '../proto/gen/herald/v1/TopicSummary';
import type { TraceEvent } from '../proto/gen/herald/v1/TraceEvent';
import type { TraceResponse } from '../proto/gen/herald/v1/TraceResponse';

export type { DeadLetter, PartitionLag, PartitionReset, PeekResponse, TopicSummary, TraceEvent };

export interface DeadLetterQuery {
  topic: string;
  group: string;
  /** A broadcast group's consumer (required there): each has its own dead letters. */
  consumer?: string;
  sinceMs?: number;
  untilMs?: number;
  ids?: number[];
}

export type TraceQuery = { messageId: string } | { refKey: string; topic: string };

/** Where a reset moves the group: as ResetOffsetsRequest's `target`. */
export type ResetTarget =
  { earliest: true } | { latest: true } | { timestampMs: number } | { offset: number };

export class Admin {
  readonly options: ConnectionOptions;
  private readonly conns: BrokerConnections;
  private readonly meta: MetaConnection | undefined;
  private readonly routes: RouteCache | undefined;

  constructor(input: Input<ConnectionOptions>) {
    this.options = connectionOptions(input);
    const credentials = () => channelCredentials(this.options.security);
    this.conns = new BrokerConnections(credentials);
    if (this.options.meta.length > 0) {
      this.meta = new MetaConnection(this.options.meta, credentials);
      this.routes = new RouteCache(this.meta, this.options.namespace, this.options.routeTtlMs);
    }
  }

  /**
   * The group's lag on every partition of the topic, from each partition's owner; in a broadcast
   * group a row per consumer and partition.
   */
  async lag(group: string, topic: string): Promise<PartitionLag[]> {
    const addresses = this.routes
      ? [...new Set((await this.routes.get(topic)).owners.filter((a): a is string => a !== undefined))]
      : [this.options.broker ?? ''];
    const byPartition = new Map<string, PartitionLag>();
    for (const address of addresses) {
      const res = await this.call<GetLagResponse>(address, (s, o, cb) =>
        s.admin.GetLag({ group, topic }, o, cb),
      );
      for (const p of res.partitions) byPartition.set(`${p.consumer}\u0000${p.partition}`, p);
    }
    return [...byPartition.values()].sort((a, b) =>
      a.consumer < b.consumer ? -1 : a.consumer > b.consumer ? 1 : a.partition - b.partition,
    );
  }

  /** The recorded events of one message, or of every message with a ref key, oldest first. */
  async trace(query: TraceQuery, limit = 0): Promise<TraceEvent[]> {
    const topic = 'messageId' in query ? query.messageId.split('/')[0] : query.topic;
    const res = await this.call<TraceResponse>(await this.anyBroker(topic), (s, o, cb) =>
      s.admin.Trace({ ...query, limit }, o, cb),
    );
    return res.events;
  }

  /** Every dead letter the filter matches, newest first, a page at a time. */
  async *deadLetters(query: DeadLetterQuery, pageSize = 100): AsyncGenerator<DeadLetter> {
    const address = await this.anyBroker(query.topic);
    let pageToken = '';
    do {
      const res = await this.call<ListDeadLettersResponse>(address, (s, o, cb) =>
        s.admin.ListDeadLetters({ filter: filter(query), pageSize, pageToken }, o, cb),
      );
      yield* res.deadLetters;
      pageToken = res.nextPageToken;
    } while (pageToken !== '');
  }

  /** Sends matching dead letters back to their group; returns how many. */
  async replayDeadLetters(query: DeadLetterQuery): Promise<number> {
    const res = await this.call<ReplayDeadLettersResponse>(await this.anyBroker(query.topic), (s, o, cb) =>
      s.admin.ReplayDeadLetters({ filter: filter(query) }, o, cb),
    );
    return res.replayed;
  }

  /** Deletes matching dead letters; returns how many. */
  async purgeDeadLetters(query: DeadLetterQuery): Promise<number> {
    const res = await this.call<PurgeDeadLettersResponse>(await this.anyBroker(query.topic), (s, o, cb) =>
      s.admin.PurgeDeadLetters({ filter: filter(query) }, o, cb),
    );
    return res.purged;
  }

  /**
   * Moves the group's committed offsets (all partitions, or the listed ones); in a broadcast
   * group, `consumer`'s.
   */
  async resetOffsets(
    group: string,
    topic: string,
    target: ResetTarget,
    partitions: number[] = [],
    consumer = '',
  ): Promise<PartitionReset[]> {
    const request: ResetOffsetsRequest__Input = { group, topic, partitions, consumer, ...target };
    const res = await this.call<ResetOffsetsResponse>(await this.anyBroker(topic), (s, o, cb) =>
      s.admin.ResetOffsets(request, o, cb),
    );
    return res.partitions;
  }

  /**
   * A page of a partition's messages without a group (Admin Peek): from an offset (0: the
   * oldest retained) or a time; at most `limit` (1..100, 0: 20).
   */
  async peek(
    topic: string,
    partition: number,
    from: { offset: number } | { timestampMs: number },
    limit = 0,
  ): Promise<PeekResponse> {
    const request: PeekRequest__Input = { topic, partition, limit, ...from };
    return this.call<PeekResponse>(await this.anyBroker(topic), (s, o, cb) => s.admin.Peek(request, o, cb));
  }

  /** The namespace's topics (needs a meta-server). */
  async topics(): Promise<TopicSummary[]> {
    if (!this.meta) {
      throw new HeraldError('INVALID_REQUEST', 'listing topics needs a meta-server address', {
        field: 'meta',
      });
    }
    const namespace = this.options.namespace;
    try {
      const res = await this.meta.call<ListTopicsResponse>((c, cb) => c.listTopics({ namespace }, cb));
      return res.topics;
    } catch (err) {
      throw callError(err, 'meta-server');
    }
  }

  close(): void {
    this.conns.close();
    this.meta?.close();
  }

  /** A broker to send a call about the topic to: the direct broker, else one of its owners. */
  private async anyBroker(topic: string): Promise<string> {
    if (this.options.broker) return this.options.broker;
    const owners = (await this.routes!.get(topic)).owners.filter((a): a is string => a !== undefined);
    if (owners.length === 0) {
      throw new HeraldError('NOT_PARTITION_OWNER', `no broker holds a partition of ${topic} yet`, { topic });
    }
    return owners[0];
  }

  private call<Res>(
    address: string,
    invoke: (stubs: BrokerStubs, options: CallOptions, callback: Callback<Res>) => unknown,
  ): Promise<Res> {
    return unary<Res>(address, this.options.callTimeoutMs, (o, cb) => invoke(this.conns.get(address), o, cb));
  }
}

function filter(q: DeadLetterQuery): DeadLetterFilter__Input {
  return {
    topic: q.topic,
    group: q.group,
    consumer: q.consumer ?? '',
    sinceMs: q.sinceMs ?? 0,
    untilMs: q.untilMs ?? 0,
    ids: q.ids ?? [],
  };
}
