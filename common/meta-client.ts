// The holder side of herald.v1.Meta leases, for brokers (and for tests that play brokers and
// consumers). It follows the leader (NOT_LEADER carries its address), renews on schedule, and
// judges validity by its own clock from the moment it sent each request, minus the safety
// margin, so it stops using a lease before the meta-server can give it to anyone else.
import * as grpc from '@grpc/grpc-js';
import type { PushReport__Input } from '../proto/gen/herald/v1/PushReport';
import type { Logger } from './logger';
import { HeraldError, readErrorInfo } from './errors';
import type { AcquireBrokerLeasesResponse } from '../proto/gen/herald/v1/AcquireBrokerLeasesResponse';
import type { GroupHeartbeatResponse } from '../proto/gen/herald/v1/GroupHeartbeatResponse';
import type { JoinGroupResponse } from '../proto/gen/herald/v1/JoinGroupResponse';
import type { MetaClient } from '../proto/gen/herald/v1/Meta';
import { holderValidUntil } from './lease-math';
import { loadMetaProto } from '../proto/load';
import { Channels } from './grpc/channels';

export interface LeaseClientOptions {
  /** Meta-server addresses to try (every operator replica; followers redirect). */
  metaAddresses: string[];
  /** TLS and token for the meta-server; plaintext when unset. */
  credentials?: () => grpc.ChannelCredentials;
  safetyMarginMs: number;
  logger: Logger;
  now?: () => number;
}

/** Refusals that trying again cannot change: a missing or bad credential, or no rule. */
const REFUSALS = new Set([
  'CREDENTIALS_MISSING',
  'CREDENTIALS_EXPIRED',
  'CREDENTIALS_INVALID',
  'PERMISSION_DENIED',
]);

/** Whether the meta-server (or a broker) refused the caller for good (UNAUTHENTICATED, PERMISSION_DENIED). */
export function isRefusal(err: unknown): boolean {
  const reason = err instanceof HeraldError ? err.reason : readErrorInfo(err as grpc.ServiceError)?.reason;
  return reason !== undefined && REFUSALS.has(reason);
}

export interface HeldLease {
  epoch: number;
  /** Holder clock. */
  validUntil: number;
}

/** Calls a Meta method on the current leader, following NOT_LEADER redirects. */
export class MetaConnection {
  private readonly channels: Channels;
  private current: string;

  /** `credentials`: TLS and a token, or a server's certificate (mTLS); plaintext when unset. */
  constructor(
    private readonly addresses: string[],
    credentials?: () => grpc.ChannelCredentials,
  ) {
    this.channels = new Channels({ credentials });
    if (addresses.length === 0) throw new RangeError('metaAddresses must name at least one address');
    this.current = addresses[0] ?? '';
  }

  /** Runs `invoke` against the leader; e.g. call((c, cb) => c.getRoutes(req, cb)). */
  async call<Res>(
    invoke: (client: MetaClient, callback: (err: grpc.ServiceError | null, res?: Res) => void) => void,
  ): Promise<Res> {
    let lastErr: unknown;
    const tried = new Set<string>();
    for (let attempt = 0; attempt < this.addresses.length + 2; attempt++) {
      const client = this.client(this.current);
      try {
        return await new Promise<Res>((resolve, reject) =>
          invoke(client, (err, res) =>
            err || res === undefined ? reject(err ?? new Error('empty response')) : resolve(res),
          ),
        );
      } catch (err) {
        lastErr = err;
        tried.add(this.current);
        const info = readErrorInfo(err as grpc.ServiceError);
        const leader = info?.reason === 'NOT_LEADER' ? info.metadata.leader : undefined;
        if (leader && !tried.has(leader)) this.current = leader;
        else if (
          (err as grpc.ServiceError).code === grpc.status.UNAVAILABLE ||
          info?.reason === 'NOT_LEADER'
        ) {
          this.current = this.addresses.find((a) => !tried.has(a)) ?? this.current;
        } else {
          throw err;
        }
      }
    }
    throw lastErr;
  }

  close(): void {
    this.channels.close();
  }

  private client(address: string): MetaClient {
    return this.channels.client(loadMetaProto().grpc.herald.v1.Meta, address);
  }
}

/** A broker's leases on its pool's partitions. */
export class BrokerLeaseClient {
  private readonly held = new Map<string, HeldLease & { topic: string; partition: number }>();
  private readonly conn: MetaConnection;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly options: LeaseClientOptions & {
      namespace: string;
      pool: string;
      broker: { id: string; address: string; zone: string; weight: number };
      /** Sent with every acquire round: how the broker's push partitions are doing. */
      pushReports?: () => PushReport__Input[];
    },
  ) {
    this.conn = new MetaConnection(options.metaAddresses, options.credentials);
    this.now = options.now ?? Date.now;
  }

  /** Whether this broker may serve the partition now (holder clock, safety margin applied). */
  owns(topic: string, partition: number): HeldLease | undefined {
    const lease = this.held.get(`${topic}#${partition}`);
    return lease && this.now() < lease.validUntil ? lease : undefined;
  }

  /** Partitions it may serve now, as "topic#partition". */
  owned(): string[] {
    return [...this.held.keys()].filter((k) => {
      const l = this.held.get(k);
      return l !== undefined && this.now() < l.validUntil;
    });
  }

  start(): void {
    const loop = () => {
      this.running = this.sync()
        .catch((err: unknown) => this.options.logger.warn('lease sync failed', { err }))
        .then((interval) => {
          if (!this.stopped) this.timer = setTimeout(loop, interval ?? 500);
        });
    };
    loop();
  }

  /** One acquire round: renews what it holds, takes what is granted, releases what is revoked. */
  async sync(): Promise<number> {
    const { namespace, pool, broker, safetyMarginMs } = this.options;
    const sentAt = this.now();
    const res = await this.conn.call<AcquireBrokerLeasesResponse>((c, cb) =>
      c.acquireBrokerLeases({ namespace, pool, broker, pushReports: this.options.pushReports?.() ?? [] }, cb),
    );
    const granted = new Set<string>();
    for (const l of res.leases) {
      const k = `${l.topic}#${l.partition}`;
      granted.add(k);
      const validUntil = holderValidUntil(sentAt, { durationMs: l.durationMs, safetyMarginMs });
      this.held.set(k, { topic: l.topic, partition: l.partition, epoch: l.epoch, validUntil });
    }
    // Anything not granted again is no longer ours: revoked ones are given back at once.
    for (const k of [...this.held.keys()]) if (!granted.has(k)) this.held.delete(k);
    if (res.revoked.length > 0) {
      await this.conn.call((c, cb) =>
        c.releaseBrokerLeases(
          {
            namespace,
            pool,
            brokerId: broker.id,
            leases: res.revoked,
          },
          cb,
        ),
      );
    }
    return res.renewIntervalMs > 0 ? res.renewIntervalMs : 1000;
  }

  /** Stops renewing. With `release`, gives every lease back and leaves the pool (graceful). */
  async stop({ release }: { release: boolean }): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (release) {
      const { namespace, pool, broker } = this.options;
      const leases = [...this.held.values()].map((l) => ({
        topic: l.topic,
        partition: l.partition,
        epoch: l.epoch,
      }));
      this.held.clear();
      await this.conn.call((c, cb) =>
        c.releaseBrokerLeases(
          {
            namespace,
            pool,
            brokerId: broker.id,
            leases,
            leaving: true,
          },
          cb,
        ),
      );
    }
    this.conn.close();
  }
}

/** A consumer's membership in a group. */
export class ConsumerLeaseClient {
  private held = new Map<number, HeldLease>();
  private readonly conn: MetaConnection;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private joined = false;
  private assignedTopic = '';

  constructor(
    private readonly options: LeaseClientOptions & {
      namespace: string;
      group: string;
      consumerId: string;
      zone: string;
      /**
       * The meta-server refused a heartbeat for good (the consumer's rule or credential went
       * away): the client stops and says so here instead of retrying for ever.
       */
      onRefused?: (err: unknown) => void;
    },
  ) {
    this.conn = new MetaConnection(options.metaAddresses, options.credentials);
    this.now = options.now ?? Date.now;
  }

  /** Partitions it may fetch now. */
  partitions(): number[] {
    const now = this.now();
    return [...this.held]
      .filter(([, l]) => now < l.validUntil)
      .map(([p]) => p)
      .sort((a, b) => a - b);
  }

  /** The lease on a partition while it is valid (holder clock, safety margin applied). */
  lease(partition: number): HeldLease | undefined {
    const l = this.held.get(partition);
    return l && this.now() < l.validUntil ? l : undefined;
  }

  /** The group's topic, known after the first successful sync(). */
  topic(): string {
    return this.assignedTopic;
  }

  start(): void {
    const loop = () => {
      this.running = this.sync()
        .catch((err: unknown) => {
          if (!isRefusal(err) || !this.options.onRefused) {
            this.options.logger.warn('group heartbeat failed', { err });
            return undefined;
          }
          this.stopped = true;
          this.held.clear();
          this.options.onRefused(err);
          return undefined;
        })
        .then((interval) => {
          if (!this.stopped) this.timer = setTimeout(loop, interval ?? 500);
        });
    };
    loop();
  }

  async sync(): Promise<number> {
    const { namespace, group, consumerId, zone, safetyMarginMs } = this.options;
    const sentAt = this.now();
    const leases = [...this.held].map(([partition, l]) => ({ partition, epoch: l.epoch }));
    const assignment = this.joined
      ? (
          await this.conn.call<GroupHeartbeatResponse>((c, cb) =>
            c.groupHeartbeat({ namespace, group, consumerId, leases }, cb),
          )
        ).assignment
      : (
          await this.conn.call<JoinGroupResponse>((c, cb) =>
            c.joinGroup({ namespace, group, consumerId, zone }, cb),
          )
        ).assignment;
    this.joined = true;
    this.assignedTopic = assignment?.topic ?? this.assignedTopic;
    const next = new Map<number, HeldLease>();
    for (const l of assignment?.leases ?? []) {
      next.set(l.partition, {
        epoch: l.epoch,
        validUntil: holderValidUntil(sentAt, { durationMs: l.durationMs, safetyMarginMs }),
      });
    }
    this.held = next;
    return assignment?.heartbeatIntervalMs || 1000;
  }

  async stop({ leave }: { leave: boolean }): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (leave) {
      const { namespace, group, consumerId } = this.options;
      this.held.clear();
      await this.conn.call((c, cb) => c.leaveGroup({ namespace, group, consumerId }, cb));
    }
    this.conn.close();
  }
}
