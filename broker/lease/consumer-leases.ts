// Consumer leases on the delivery path: when a group's partition is lease-managed (some
// consumer holds its consumer lease), only that consumer, naming its lease epoch, may pull,
// ack or nack it; anyone else gets LEASE_EXPIRED, so a zombie consumer cannot ack. A partition
// nobody holds a lease on accepts calls without a consumer id (clients that do not join).
//
// The broker learns leases from the meta-server (GetConsumerLeases) and caches the answer per
// group. A matching lease is trusted until its end by the broker's clock, counted from when the
// request was SENT minus the safety margin (the holder's own rule, so the meta-server cannot
// have given it away yet). Anything else (a mismatch, or no consumer id) is decided only by an
// answer younger than `maxAgeMs`; otherwise the broker asks again.
import type * as grpc from '@grpc/grpc-js';
import type { MetaConnection } from '../../common/meta-client';
import type { GetConsumerLeasesResponse } from '../../proto/gen/herald/v1/GetConsumerLeasesResponse';
import { HeraldError } from '../../common/errors';
import type { PartitionRef } from '../../storage/storage';
import { fromServiceError } from '../../common/errors';
import { policyFromProto } from '../../common/group-policy';
import type { GroupPolicies, GroupPolicy } from '../../common/group-policy';

/** Who makes a delivery call: empty id for clients that hold no lease. */
export interface ConsumerClaim {
  id: string;
  epoch: number;
}

export interface ConsumerLeaseGuard {
  /** Resolves when the claim may act on the group's partition; LEASE_EXPIRED otherwise. */
  check(group: string, ref: PartitionRef, claim: ConsumerClaim): Promise<void>;
  /** Whether what is cached already allows the claim (no call, no error); false: ask `check`. */
  allowed(group: string, ref: PartitionRef, claim: ConsumerClaim): boolean;
}

export const DEFAULT_POLICY_MAX_AGE_MS = 5_000;

/** Standalone mode: no consumer leases. */
export const NO_CONSUMER_LEASES: ConsumerLeaseGuard = { check: () => Promise.resolve(), allowed: () => true };

export interface LeaseSnapshot {
  /** Local clock, when the request was sent. */
  sentAt: number;
  leases: { partition: number; consumerId: string; epoch: number; remainingMs: number }[];
}

/** A GetConsumerLeases answer: the leases, and the group's policy (its ConsumerGroup spec). */
type GroupSnapshot = LeaseSnapshot & { policy: GroupPolicy };

export type Verdict = 'allowed' | 'expired' | 'ask';

/** The decision for a claim on a partition from a snapshot. Pure. */
export function leaseVerdict(
  snapshot: LeaseSnapshot,
  partition: number,
  claim: ConsumerClaim,
  now: number,
  options: { safetyMarginMs: number; maxAgeMs: number },
): Verdict {
  const onPartition = snapshot.leases.filter((l) => l.partition === partition);
  if (claim.id !== '') {
    const mine = onPartition.find((l) => l.consumerId === claim.id && l.epoch === claim.epoch);
    if (mine && now < snapshot.sentAt + mine.remainingMs - options.safetyMarginMs) return 'allowed';
  }
  if (now - snapshot.sentAt >= options.maxAgeMs) return 'ask';
  if (claim.id !== '') return 'expired';
  // No claim: allowed only while nobody may hold the partition's lease.
  return onPartition.some((l) => now < snapshot.sentAt + l.remainingMs) ? 'expired' : 'allowed';
}

/**
 * Also the lease-mode source of group policies: every GetConsumerLeases answer carries the
 * group's policy, and a policy older than `policyMaxAgeMs` is asked for again, so a changed
 * ConsumerGroup reaches the broker within that time.
 */
export class MetaConsumerLeaseGuard implements ConsumerLeaseGuard, GroupPolicies {
  private readonly snapshots = new Map<string, GroupSnapshot>();
  private readonly fetching = new Map<string, Promise<GroupSnapshot>>();

  constructor(
    private readonly meta: Pick<MetaConnection, 'call'>,
    private readonly namespace: string,
    private readonly options: { safetyMarginMs: number; maxAgeMs: number; policyMaxAgeMs?: number },
    private readonly now: () => number = Date.now,
  ) {}

  async policy(group: string): Promise<GroupPolicy> {
    return this.cachedPolicy(group) ?? (await this.refresh(group)).policy;
  }

  cachedPolicy(group: string): GroupPolicy | undefined {
    const snapshot = this.snapshots.get(group);
    const maxAge = this.options.policyMaxAgeMs ?? DEFAULT_POLICY_MAX_AGE_MS;
    return snapshot && this.now() - snapshot.sentAt < maxAge ? snapshot.policy : undefined;
  }

  allowed(group: string, ref: PartitionRef, claim: ConsumerClaim): boolean {
    const snapshot = this.snapshots.get(group);
    return (
      snapshot !== undefined &&
      leaseVerdict(snapshot, ref.partition, claim, this.now(), this.options) === 'allowed'
    );
  }

  async check(group: string, ref: PartitionRef, claim: ConsumerClaim): Promise<void> {
    let snapshot = this.snapshots.get(group);
    let verdict = snapshot ? leaseVerdict(snapshot, ref.partition, claim, this.now(), this.options) : 'ask';
    if (verdict === 'ask') {
      snapshot = await this.refresh(group);
      verdict = leaseVerdict(snapshot, ref.partition, claim, this.now(), {
        ...this.options,
        maxAgeMs: Infinity,
      });
    }
    if (verdict === 'expired') {
      throw new HeraldError(
        'LEASE_EXPIRED',
        claim.id === ''
          ? `${group} on ${ref.topic}/${ref.partition} is leased to a consumer; name consumer_id and lease_epoch`
          : `consumer ${claim.id} holds no current lease (epoch ${claim.epoch}) on ${ref.topic}/${ref.partition} for ${group}`,
        { topic: ref.topic, partition: String(ref.partition), epoch: String(claim.epoch), group },
      );
    }
  }

  private refresh(group: string): Promise<GroupSnapshot> {
    let running = this.fetching.get(group);
    if (!running) {
      running = this.fetch(group).finally(() => this.fetching.delete(group));
      this.fetching.set(group, running);
    }
    return running;
  }

  private async fetch(group: string): Promise<GroupSnapshot> {
    const sentAt = this.now();
    let res: GetConsumerLeasesResponse;
    try {
      res = await this.meta.call<GetConsumerLeasesResponse>((c, cb) =>
        c.getConsumerLeases({ namespace: this.namespace, group }, cb),
      );
    } catch (err) {
      throw (
        fromServiceError(err as grpc.ServiceError) ??
        new HeraldError('STORAGE_UNAVAILABLE', 'the meta-server is unreachable; consumer leases unknown', {
          cause: 'meta-server',
        })
      );
    }
    const snapshot: GroupSnapshot = {
      sentAt,
      leases: res.leases.map((l) => ({
        partition: l.partition,
        consumerId: l.consumerId,
        epoch: Number(l.epoch),
        remainingMs: Number(l.remainingMs),
      })),
      policy: policyFromProto(res.policy, res.mode),
    };
    this.snapshots.set(group, snapshot);
    return snapshot;
  }
}
