// The meta-server's state and decisions, without I/O: which brokers and consumers are alive,
// the target assignment of every topic and group, and the leases. Time comes in as `now` on
// the meta-server's clock. The gRPC edge (meta/server.ts) calls it and persists checkpoints.
//
// Invariants:
// - A lease goes to a new holder only after the old one expired or was released (LeaseTable).
// - While `grantsBlockedUntil` (a new leader's first lease period) has not passed, leases are
//   renewed but nothing new is granted, so every grant of the previous leader has ended.
// - A unit (topic or group) is marked dirty exactly when a partition's holder changes, or a
//   group's membership does; only dirty units are checkpointed.
import type { PushReport } from '../../proto/gen/herald/v1/PushReport';
import { HeraldError } from '../../common/errors';
import { consumerIdProblem } from '../../common/names';
import { assign, limitMoves, loads } from '../assignment/assign';
import type { Member } from '../assignment/assign';
import { BROKER_LEASE, checkDurations, CONSUMER_LEASE, renewIntervalMs } from '../../common/lease-math';
import type { LeaseDurations } from '../../common/lease-math';
import { LeaseTable } from '../leases/lease-table';
import type { GroupPolicy__Input } from '../../proto/gen/herald/v1/GroupPolicy';
import type { Granted } from '../leases/lease-table';
import type { StorageKind } from '../../common/broker-options';

export interface PoolDurations {
  broker: LeaseDurations;
  consumer: LeaseDurations;
}

/** What the meta-server knows of a BrokerPool: its lease durations and the storage it serves. */
export interface PoolInfo extends PoolDurations {
  /**
   * The storage kinds the pool's brokers are configured with (BrokerPool spec.storage). A topic
   * of another kind gets no broker of the pool. Unset: every kind (a pool with no BrokerPool).
   */
  storages?: readonly StorageKind[];
}

export interface TopicInfo {
  namespace: string;
  name: string;
  pool: string;
  partitions: number;
  /** The Topic's spec.maxMessageBytes, passed to brokers through GetRoutes; unset: their default. */
  maxMessageBytes?: number;
  /** The Topic's spec.storage, spec.priority, spec.delay and spec.retention.hours (GetRoutes, ListTopics). */
  storage?: StorageKind;
  priority?: boolean;
  delay?: boolean;
  retentionHours?: number;
  /** The Topic's spec.rateLimit, passed to brokers through GetRoutes; unset or null: no limit. */
  rateLimit?: RateLimit | null;
  /** The Topic's spec.owner and spec.contact, shown by ListTopics (governance). */
  owner?: string;
  contact?: string;
}

/** A topic's publish rate limit (Topic spec.rateLimit; herald.v1.RateLimit). */
export interface RateLimit {
  messagesPerSecond: number;
  burst?: number;
}

/** A topic as Meta ListTopics describes it. */
export interface TopicSummary extends TopicAttributes {
  name: string;
  partitions: number;
  pool: string;
  /** Partitions held by a broker now. */
  assignedPartitions: number;
  /** The consumer groups reading the topic, by name. */
  groups: string[];
  /** '' when the Topic does not say. */
  owner: string;
  contact: string;
}

/** What GetRoutes and ListTopics both say of a topic: one TopicInfo, one set of defaults. */
export interface TopicAttributes {
  storage: string;
  priority: boolean;
  delay: boolean;
  retentionHours: number;
  /** 0: the broker's default. */
  maxMessageBytes: number;
}

export function topicAttributes(t: TopicInfo): TopicAttributes {
  return {
    storage: t.storage ?? 'mysql',
    priority: t.priority ?? false,
    delay: t.delay ?? false,
    retentionHours: t.retentionHours ?? 0,
    maxMessageBytes: t.maxMessageBytes ?? 0,
  };
}

/** A topic as Meta GetRoutes describes it. */
export interface TopicRoutes extends TopicAttributes {
  topic: string;
  routes: Route[];
  rateLimit: RateLimit | null;
  /** The push groups reading the topic, by name. */
  pushGroups: string[];
}

/** A push partition as its owner last reported it (AcquireBrokerLeases). */
export interface PushPartitionReport {
  broker: string;
  /** When the meta-server received the report. */
  at: number;
  report: PushReport;
}

export interface GroupInfo {
  namespace: string;
  name: string;
  topic: string;
  mode: 'clustering' | 'broadcast';
  /** The group's delivery policy, passed to brokers through GetConsumerLeases; unset: their default. */
  policy?: GroupPolicy__Input;
}

export interface BrokerInfo {
  id: string;
  address: string;
  zone: string;
  weight: number;
}

export interface LeaseGrant {
  partition: number;
  epoch: number;
  durationMs: number;
}

export interface BrokerLeaseGrant extends LeaseGrant {
  topic: string;
}

export interface BrokerLeaseRef {
  topic: string;
  partition: number;
  epoch: number;
}

export interface AcquireResult {
  leases: BrokerLeaseGrant[];
  revoked: BrokerLeaseGrant[];
  renewIntervalMs: number;
}

export interface RenewResult {
  renewed: BrokerLeaseGrant[];
  lost: (BrokerLeaseRef & { reason: 'LEASE_EXPIRED' | 'TOPIC_NOT_FOUND' })[];
  revoked: BrokerLeaseGrant[];
}

export interface GroupResult {
  topic: string;
  mode: GroupInfo['mode'];
  leases: LeaseGrant[];
  lost: LeaseGrant[];
  heartbeatIntervalMs: number;
}

export interface ConsumerLeaseHolder {
  partition: number;
  consumerId: string;
  epoch: number;
  /** Meta-server clock: how long the lease still lasts. */
  remainingMs: number;
}

export interface Route {
  partition: number;
  brokerId: string;
  address: string;
  epoch: number;
  zone: string;
}

/** A checkpoint entry: the last holder of a partition and its epoch. */
export interface CheckpointEntry {
  partition: number;
  holder: string;
  address: string;
  epoch: number;
}

export interface GroupCheckpoint {
  assignment: CheckpointEntry[];
  /** lastHeartbeat: when the meta-server last heard from the consumer (ISO 8601). */
  consumers: { id: string; zone: string; partitions: number[]; lastHeartbeat: string }[];
}

export type Unit = `topic:${string}` | `group:${string}`;

export interface MetaCoreOptions {
  /** Voluntary partition moves per rebalance step and unit kind (holders that died do not count). */
  maxMovesPerStep: number;
}

export const META_CORE_DEFAULTS: MetaCoreOptions = { maxMovesPerStep: 64 };

interface Alive<T> {
  info: T;
  lastSeen: number;
}

const DEFAULT_POOL: PoolInfo = { broker: BROKER_LEASE, consumer: CONSUMER_LEASE };

const key = (namespace: string, name: string) => `${namespace}/${name}`;
const partKey = (unit: string, partition: number) => `${unit}#${partition}`;

export class MetaCore {
  private readonly pools = new Map<string, PoolInfo>();
  private readonly topics = new Map<string, TopicInfo>();
  private readonly groups = new Map<string, GroupInfo>();
  /** The latest report of each push group's partitions, by group key and partition. */
  private readonly pushReports = new Map<string, Map<number, PushPartitionReport>>();
  private readonly brokers = new Map<string, Map<string, Alive<BrokerInfo>>>();
  private readonly consumers = new Map<string, Map<string, Alive<{ zone: string }>>>();
  private readonly brokerLeases = new LeaseTable();
  private readonly consumerLeases = new LeaseTable();
  /** Target holder per partition, by topic key and by group key. */
  private readonly topicTargets = new Map<string, Map<number, string>>();
  private readonly groupTargets = new Map<string, Map<number, string>>();
  private readonly dirty = new Set<Unit>();
  private readonly options: MetaCoreOptions;
  private grantsBlockedUntil = 0;

  constructor(options: Partial<MetaCoreOptions> = {}) {
    this.options = { ...META_CORE_DEFAULTS, ...options };
    if (!Number.isInteger(this.options.maxMovesPerStep) || this.options.maxMovesPerStep < 1) {
      throw new RangeError(`maxMovesPerStep must be a positive integer, got ${this.options.maxMovesPerStep}`);
    }
  }

  // ---- Declared objects (from the Topic, ConsumerGroup and BrokerPool informers) ----

  setPool(namespace: string, name: string, pool: PoolInfo): void {
    checkDurations(`pool ${namespace}/${name} broker lease`, pool.broker);
    checkDurations(`pool ${namespace}/${name} consumer lease`, pool.consumer);
    const old = this.pools.get(key(namespace, name));
    this.pools.set(key(namespace, name), pool);
    if (String(old?.storages) !== String(pool.storages)) this.rebalancePool(namespace, name);
  }

  /** Whether the topic's pool serves the topic's storage (so its brokers may hold its partitions). */
  servesStorage(topic: TopicInfo): boolean {
    const storages = this.pools.get(key(topic.namespace, topic.pool))?.storages;
    return storages === undefined || storages.includes(topic.storage ?? 'mysql');
  }

  removePool(namespace: string, name: string): void {
    this.pools.delete(key(namespace, name));
  }

  setTopic(topic: TopicInfo): void {
    const k = key(topic.namespace, topic.name);
    const old = this.topics.get(k);
    this.topics.set(k, topic);
    if (old?.partitions !== topic.partitions || old.pool !== topic.pool)
      this.rebalancePool(topic.namespace, topic.pool);
  }

  removeTopic(namespace: string, name: string): void {
    const k = key(namespace, name);
    this.topics.delete(k);
    this.topicTargets.delete(k);
    this.brokerLeases.forget((lk) => !lk.startsWith(`${k}#`));
    this.dirty.delete(`topic:${k}`);
  }

  setGroup(group: GroupInfo): void {
    const k = key(group.namespace, group.name);
    const old = this.groups.get(k);
    this.groups.set(k, group);
    if (old?.mode !== group.mode) this.rebalanceGroup(k);
  }

  removeGroup(namespace: string, name: string): void {
    const k = key(namespace, name);
    this.groups.delete(k);
    this.pushReports.delete(k);
    this.groupTargets.delete(k);
    this.consumers.delete(k);
    this.consumerLeases.forget((lk) => !lk.startsWith(`${k}#`) && !lk.startsWith(`${k}@`));
    this.dirty.delete(`group:${k}`);
  }

  /** Grants nothing new before `until` (a new leader's wait); renewals go on. */
  blockGrantsUntil(until: number): void {
    this.grantsBlockedUntil = Math.max(this.grantsBlockedUntil, until);
  }

  private grantsBlocked(now: number): boolean {
    return now < this.grantsBlockedUntil;
  }

  /** The longest lease of any known pool: how long a new leader waits. */
  longestLeaseMs(): number {
    const pools = this.pools.size > 0 ? [...this.pools.values()] : [DEFAULT_POOL];
    return Math.max(...pools.map((d) => Math.max(d.broker.durationMs, d.consumer.durationMs)));
  }

  // ---- Broker leases ----

  acquireBrokerLeases(namespace: string, pool: string, broker: BrokerInfo, now: number): AcquireResult {
    const d = this.durations(namespace, pool);
    this.touchBroker(namespace, pool, broker, now);
    const leases: BrokerLeaseGrant[] = [];
    const revoked: BrokerLeaseGrant[] = [];
    for (const topic of this.poolTopics(namespace, pool)) {
      const tk = key(namespace, topic.name);
      const target = this.topicTargets.get(tk) ?? new Map<number, string>();
      for (let p = 0; p < topic.partitions; p++) {
        const lk = partKey(tk, p);
        const held = this.brokerLeases.current(lk, now);
        if (target.get(p) !== broker.id) {
          if (held?.holder === broker.id)
            revoked.push({ topic: topic.name, partition: p, epoch: held.epoch, durationMs: 0 });
          continue;
        }
        const granted = this.grantOrRenew(this.brokerLeases, lk, broker.id, now, d.broker);
        if (granted === undefined) continue;
        if (granted.holderChanged) this.dirty.add(`topic:${tk}`);
        leases.push({
          topic: topic.name,
          partition: p,
          epoch: granted.epoch,
          durationMs: d.broker.durationMs,
        });
      }
    }
    return { leases, revoked, renewIntervalMs: renewIntervalMs(d.broker) };
  }

  renewBrokerLeases(
    namespace: string,
    pool: string,
    brokerId: string,
    refs: BrokerLeaseRef[],
    now: number,
  ): RenewResult {
    const d = this.durations(namespace, pool);
    const member = this.brokers.get(key(namespace, pool))?.get(brokerId);
    if (member) member.lastSeen = now;
    const result: RenewResult = { renewed: [], lost: [], revoked: [] };
    for (const ref of refs) {
      const tk = key(namespace, ref.topic);
      const topic = this.topics.get(tk);
      if (topic === undefined || topic.pool !== pool || ref.partition >= topic.partitions) {
        result.lost.push({ ...ref, reason: 'TOPIC_NOT_FOUND' });
        continue;
      }
      const lk = partKey(tk, ref.partition);
      if (this.topicTargets.get(tk)?.get(ref.partition) !== brokerId) {
        const held = this.brokerLeases.current(lk, now);
        if (held?.holder === brokerId && held.epoch === ref.epoch)
          result.revoked.push({ ...ref, durationMs: 0 });
        else result.lost.push({ ...ref, reason: 'LEASE_EXPIRED' });
        continue;
      }
      const renewed = this.brokerLeases.renew(lk, brokerId, ref.epoch, now, d.broker);
      if (renewed) result.renewed.push({ ...ref, durationMs: d.broker.durationMs });
      else result.lost.push({ ...ref, reason: 'LEASE_EXPIRED' });
    }
    return result;
  }

  releaseBrokerLeases(
    namespace: string,
    pool: string,
    brokerId: string,
    refs: BrokerLeaseRef[],
    leaving: boolean,
    now: number,
  ): void {
    for (const ref of refs)
      this.brokerLeases.release(partKey(key(namespace, ref.topic), ref.partition), brokerId, ref.epoch);
    if (!leaving) return;
    // A leaving broker has stopped serving everything: all its leases end now.
    for (const topic of this.poolTopics(namespace, pool)) {
      for (let p = 0; p < topic.partitions; p++) {
        const lk = partKey(key(namespace, topic.name), p);
        const lease = this.brokerLeases.current(lk, now);
        if (lease?.holder === brokerId) this.brokerLeases.release(lk, brokerId, lease.epoch);
      }
    }
    if (this.brokers.get(key(namespace, pool))?.delete(brokerId)) this.rebalancePool(namespace, pool);
  }

  routes(namespace: string, topicName: string, now: number): Route[] {
    const tk = key(namespace, topicName);
    const topic = this.topics.get(tk);
    if (topic === undefined)
      throw new HeraldError('TOPIC_NOT_FOUND', `topic ${tk} is not declared`, { topic: topicName });
    const members = this.brokers.get(key(namespace, topic.pool));
    const routes: Route[] = [];
    for (let p = 0; p < topic.partitions; p++) {
      const held = this.brokerLeases.current(partKey(tk, p), now);
      const info = held ? members?.get(held.holder)?.info : undefined;
      routes.push({
        partition: p,
        brokerId: held?.holder ?? '',
        address: info?.address ?? '',
        epoch: held?.epoch ?? 0,
        zone: info?.zone ?? '',
      });
    }
    return routes;
  }

  /** The declared topic, or undefined. */
  topic(namespace: string, name: string): TopicInfo | undefined {
    return this.topics.get(key(namespace, name));
  }

  /** Meta GetRoutes: the topic's routes and attributes, or TOPIC_NOT_FOUND. */
  getRoutes(namespace: string, name: string, now: number): TopicRoutes {
    const routes = this.routes(namespace, name, now);
    const t = this.topics.get(key(namespace, name))!;
    const pushGroups = [...this.groups.values()]
      .filter((g) => g.namespace === namespace && g.topic === name && g.policy?.push)
      .map((g) => g.name)
      .sort();
    return { topic: name, routes, ...topicAttributes(t), rateLimit: t.rateLimit ?? null, pushGroups };
  }

  // ---- Push groups ----

  /** What a broker's push partitions report with its lease request (kept for the status). */
  reportPush(namespace: string, brokerId: string, reports: PushReport[], now: number): void {
    for (const r of reports) {
      const gk = key(namespace, r.group);
      if (!this.groups.has(gk)) continue;
      let byPartition = this.pushReports.get(gk);
      if (!byPartition) this.pushReports.set(gk, (byPartition = new Map<number, PushPartitionReport>()));
      byPartition.set(r.partition, { broker: brokerId, at: now, report: r });
    }
  }

  /** The push group's reports younger than maxAgeMs, by partition. */
  pushStatus(namespace: string, group: string, now: number, maxAgeMs: number): PushPartitionReport[] {
    const byPartition = this.pushReports.get(key(namespace, group));
    if (!byPartition) return [];
    for (const [p, r] of [...byPartition]) if (now - r.at > maxAgeMs) byPartition.delete(p);
    return [...byPartition.entries()].sort(([a], [b]) => a - b).map(([, r]) => r);
  }

  /** The namespace's topics by name, with their assignment and the groups reading them. */
  listTopics(namespace: string, now: number): TopicSummary[] {
    const readers = new Map<string, string[]>();
    for (const g of this.groups.values()) {
      if (g.namespace !== namespace) continue;
      readers.set(g.topic, [...(readers.get(g.topic) ?? []), g.name]);
    }
    return [...this.topics.values()]
      .filter((t) => t.namespace === namespace)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((t) => ({
        name: t.name,
        partitions: t.partitions,
        pool: t.pool,
        ...topicAttributes(t),
        assignedPartitions: this.ownedPartitions(t, now),
        groups: (readers.get(t.name) ?? []).sort(),
        owner: t.owner ?? '',
        contact: t.contact ?? '',
      }));
  }

  /** Every declared topic with how many of its partitions a broker holds now (operator gauges). */
  ownership(
    now: number,
  ): { namespace: string; topic: string; pool: string; partitions: number; owned: number }[] {
    return [...this.topics.values()].map((t) => ({
      namespace: t.namespace,
      topic: t.name,
      pool: t.pool,
      partitions: t.partitions,
      owned: this.ownedPartitions(t, now),
    }));
  }

  /** Every declared group with its live consumers (operator gauges). */
  membership(): { namespace: string; group: string; topic: string; consumers: number }[] {
    return [...this.groups.entries()].map(([gk, g]) => ({
      namespace: g.namespace,
      group: g.name,
      topic: g.topic,
      consumers: this.consumers.get(gk)?.size ?? 0,
    }));
  }

  private ownedPartitions(t: TopicInfo, now: number): number {
    return this.routes(t.namespace, t.name, now).filter((r) => r.brokerId !== '').length;
  }

  // ---- Consumer groups ----

  /** Every valid consumer lease of a group (GROUP_NOT_FOUND when it is not declared). */
  consumerLeasesOf(
    namespace: string,
    group: string,
    now: number,
  ): {
    topic: string;
    mode: GroupInfo['mode'];
    leases: ConsumerLeaseHolder[];
    policy: GroupPolicy__Input | null;
  } {
    const gk = key(namespace, group);
    const info = this.groups.get(gk);
    if (info === undefined)
      throw new HeraldError('GROUP_NOT_FOUND', `consumer group ${gk} is not declared`, { group });
    const partitions = this.topics.get(key(namespace, info.topic))?.partitions ?? 0;
    const holders = info.mode === 'broadcast' ? [...(this.consumers.get(gk)?.keys() ?? [])] : [''];
    const leases: ConsumerLeaseHolder[] = [];
    for (let p = 0; p < partitions; p++) {
      for (const id of holders) {
        const lease = this.consumerLeases.current(id === '' ? partKey(gk, p) : `${gk}@${id}#${p}`, now);
        if (lease)
          leases.push({
            partition: p,
            consumerId: lease.holder,
            epoch: lease.epoch,
            remainingMs: lease.expiresAt - now,
          });
      }
    }
    return { topic: info.topic, mode: info.mode, leases, policy: info.policy ?? null };
  }

  joinGroup(namespace: string, group: string, consumerId: string, zone: string, now: number): GroupResult {
    return this.groupCall(namespace, group, consumerId, zone, undefined, now);
  }

  heartbeat(
    namespace: string,
    group: string,
    consumerId: string,
    held: LeaseGrant[],
    now: number,
  ): GroupResult {
    const zone = this.consumers.get(key(namespace, group))?.get(consumerId)?.info.zone ?? '';
    return this.groupCall(namespace, group, consumerId, zone, held, now);
  }

  leaveGroup(namespace: string, group: string, consumerId: string): void {
    const gk = key(namespace, group);
    const members = this.consumers.get(gk);
    if (!members?.delete(consumerId)) return;
    for (const lk of [...this.consumerLeases.keys()]) {
      const lease = this.consumerLeases.last(lk);
      if ((lk.startsWith(`${gk}#`) || lk.startsWith(`${gk}@`)) && lease?.holder === consumerId)
        this.consumerLeases.release(lk, consumerId, lease.epoch);
    }
    this.dirty.add(`group:${gk}`);
    this.rebalanceGroup(gk);
  }

  // ---- Time passing ----

  /**
   * Drops brokers and consumers that stopped calling for a lease duration, and takes the next
   * rate-limited rebalancing step everywhere. Call about once a second.
   */
  tick(now: number): void {
    for (const [pk, members] of this.brokers) {
      const d = this.durationsByKey(pk);
      for (const [id, m] of members) if (now - m.lastSeen > d.broker.durationMs) members.delete(id);
      const [namespace, pool] = splitKey(pk);
      this.rebalancePool(namespace, pool);
    }
    for (const [gk, members] of this.consumers) {
      const group = this.groups.get(gk);
      const d = group ? this.topicDurations(group) : DEFAULT_POOL;
      for (const [id, m] of members) {
        if (now - m.lastSeen > d.consumer.durationMs) {
          members.delete(id);
          this.dirty.add(`group:${gk}`);
        }
      }
      this.rebalanceGroup(gk);
    }
  }

  // ---- Checkpoints ----

  /** Units whose holders changed since they were last taken with takeDirty. */
  takeDirty(): Unit[] {
    const units = [...this.dirty];
    this.dirty.clear();
    return units;
  }

  /** Marks a unit dirty again (its checkpoint write failed). */
  markDirty(unit: Unit): void {
    this.dirty.add(unit);
  }

  topicCheckpoint(namespace: string, name: string): CheckpointEntry[] {
    const tk = key(namespace, name);
    const topic = this.topics.get(tk);
    if (topic === undefined) return [];
    const members = this.brokers.get(key(namespace, topic.pool));
    const entries: CheckpointEntry[] = [];
    for (let p = 0; p < topic.partitions; p++) {
      const lease = this.brokerLeases.last(partKey(tk, p));
      if (lease === undefined) continue;
      const address = members?.get(lease.holder)?.info.address ?? '';
      entries.push({ partition: p, holder: lease.holder, address, epoch: lease.epoch });
    }
    return entries;
  }

  groupCheckpoint(namespace: string, name: string, now: number): GroupCheckpoint {
    const gk = key(namespace, name);
    const group = this.groups.get(gk);
    const topic = group ? this.topics.get(key(namespace, group.topic)) : undefined;
    const assignment: CheckpointEntry[] = [];
    const byConsumer = new Map<string, number[]>();
    for (let p = 0; p < (topic?.partitions ?? 0); p++) {
      if (group?.mode === 'clustering') {
        const lease = this.consumerLeases.last(partKey(gk, p));
        if (lease) assignment.push({ partition: p, holder: lease.holder, address: '', epoch: lease.epoch });
      }
    }
    for (const [id] of this.consumers.get(gk) ?? [])
      byConsumer.set(id, this.heldPartitions(gk, id, topic?.partitions ?? 0, now));
    const consumers = [...(this.consumers.get(gk) ?? [])]
      .map(([id, m]) => ({
        id,
        zone: m.info.zone,
        partitions: byConsumer.get(id) ?? [],
        lastHeartbeat: new Date(m.lastSeen).toISOString(),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    return { assignment, consumers };
  }

  /**
   * Restores a topic's leases from its checkpoint as a new leader: each entry's holder keeps its
   * lease (and stays a pool member) for one lease period, during which it may renew it.
   */
  restoreTopic(topic: TopicInfo, entries: CheckpointEntry[], now: number): void {
    const tk = key(topic.namespace, topic.name);
    const pk = key(topic.namespace, topic.pool);
    const d = this.durations(topic.namespace, topic.pool);
    const members = this.brokers.get(pk) ?? new Map<string, Alive<BrokerInfo>>();
    this.brokers.set(pk, members);
    const target = new Map<number, string>();
    for (const e of entries) {
      if (e.partition >= topic.partitions) continue;
      this.brokerLeases.restore(partKey(tk, e.partition), e.holder, e.epoch, now + d.broker.durationMs);
      target.set(e.partition, e.holder);
      if (!members.has(e.holder)) {
        members.set(e.holder, {
          info: { id: e.holder, address: e.address, zone: '', weight: 1 },
          lastSeen: now,
        });
      }
    }
    this.topics.set(tk, topic);
    // Leases are restored either way (no one else may be granted them early), but a topic its
    // pool cannot serve keeps no targets: its holders are told to release it.
    this.topicTargets.set(tk, this.servesStorage(topic) ? target : new Map<number, string>());
  }

  restoreGroup(
    group: GroupInfo,
    entries: CheckpointEntry[],
    consumers: { id: string; zone: string }[],
    now: number,
  ): void {
    const gk = key(group.namespace, group.name);
    const d = this.topicDurations(group);
    const members = new Map<string, Alive<{ zone: string }>>();
    for (const c of consumers) members.set(c.id, { info: { zone: c.zone }, lastSeen: now });
    const target = new Map<number, string>();
    for (const e of entries) {
      this.consumerLeases.restore(partKey(gk, e.partition), e.holder, e.epoch, now + d.consumer.durationMs);
      target.set(e.partition, e.holder);
      if (!members.has(e.holder)) members.set(e.holder, { info: { zone: '' }, lastSeen: now });
    }
    this.groups.set(gk, group);
    this.consumers.set(gk, members);
    this.groupTargets.set(gk, target);
  }

  // ---- Internals ----

  private grantOrRenew(
    table: LeaseTable,
    lk: string,
    holder: string,
    now: number,
    d: LeaseDurations,
  ): Granted | undefined {
    const last = table.last(lk);
    if (last !== undefined && last.holder === holder && !last.released) {
      const renewed = table.renew(lk, holder, last.epoch, now, d);
      if (renewed) return renewed;
    }
    if (this.grantsBlocked(now)) return undefined;
    return table.grant(lk, holder, now, d);
  }

  private touchBroker(namespace: string, pool: string, broker: BrokerInfo, now: number): void {
    const pk = key(namespace, pool);
    const members = this.brokers.get(pk) ?? new Map<string, Alive<BrokerInfo>>();
    this.brokers.set(pk, members);
    const known = members.get(broker.id);
    members.set(broker.id, { info: broker, lastSeen: now });
    if (known === undefined || known.info.weight !== broker.weight) this.rebalancePool(namespace, pool);
  }

  private poolTopics(namespace: string, pool: string): TopicInfo[] {
    return [...this.topics.values()]
      .filter((t) => t.namespace === namespace && t.pool === pool)
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Recomputes the targets of every topic of a pool, one rate-limited step at a time. */
  private rebalancePool(namespace: string, pool: string): void {
    const members: Member[] = [...(this.brokers.get(key(namespace, pool))?.values() ?? [])].map((m) => ({
      id: m.info.id,
      zone: m.info.zone,
      weight: Math.max(1, m.info.weight),
    }));
    const live = new Set(members.map((m) => m.id));
    const load = new Map<string, number>();
    let budget = this.options.maxMovesPerStep;
    for (const topic of this.poolTopics(namespace, pool)) {
      const tk = key(namespace, topic.name);
      if (!this.servesStorage(topic)) {
        // No broker of the pool can open the topic's storage: no targets, so held leases are
        // revoked at the next call and nothing is granted (the Topic says PoolLacksStorage).
        this.topicTargets.set(tk, new Map());
        continue;
      }
      const previous = this.topicTargets.get(tk) ?? new Map<number, string>();
      const current = new Map([...previous].filter(([p, id]) => live.has(id) && p < topic.partitions));
      const target = assign({ partitions: topic.partitions, members, current, load });
      const next = limitMoves(current, target, live, budget);
      for (const [p, id] of next) if (current.has(p) && current.get(p) !== id) budget--;
      this.topicTargets.set(tk, next);
      for (const [id, n] of loads(next)) load.set(id, (load.get(id) ?? 0) + n);
    }
  }

  private groupCall(
    namespace: string,
    group: string,
    consumerId: string,
    zone: string,
    held: LeaseGrant[] | undefined,
    now: number,
  ): GroupResult {
    const gk = key(namespace, group);
    const info = this.groups.get(gk);
    if (info === undefined)
      throw new HeraldError('GROUP_NOT_FOUND', `consumer group ${gk} is not declared`, { group });
    if (info.policy?.push)
      throw new HeraldError(
        'INVALID_REQUEST',
        `consumer group ${gk} is a push group: its partitions' brokers deliver to its endpoint, consumers cannot join`,
        { group, field: 'group' },
      );
    const problem = info.mode === 'broadcast' ? consumerIdProblem(consumerId) : undefined;
    if (problem)
      throw new HeraldError(
        'INVALID_NAME',
        `consumer_id ${JSON.stringify(consumerId)} ${problem} (it keys the consumer's offsets in broadcast group ${group})`,
        { field: 'consumer_id', group },
      );
    const topic = this.topics.get(key(namespace, info.topic));
    const d = this.topicDurations(info);
    const members = this.consumers.get(gk) ?? new Map<string, Alive<{ zone: string }>>();
    this.consumers.set(gk, members);
    const known = members.get(consumerId);
    members.set(consumerId, { info: { zone }, lastSeen: now });
    if (known === undefined) {
      this.dirty.add(`group:${gk}`);
      this.rebalanceGroup(gk);
    }
    const partitions = topic?.partitions ?? 0;
    const target = this.groupTargets.get(gk);
    const leases: LeaseGrant[] = [];
    const lost: LeaseGrant[] = [];
    const heldNow = new Set((held ?? []).map((l) => l.partition));
    for (let p = 0; p < partitions; p++) {
      const lk = info.mode === 'broadcast' ? `${gk}@${consumerId}#${p}` : partKey(gk, p);
      if (info.mode === 'clustering' && target?.get(p) !== consumerId) {
        // Moving away: once the consumer no longer claims it, it has stopped; release it.
        const lease = this.consumerLeases.current(lk, now);
        if (lease?.holder === consumerId && held !== undefined && !heldNow.has(p)) {
          this.consumerLeases.release(lk, consumerId, lease.epoch);
        }
        continue;
      }
      const granted = this.grantOrRenew(this.consumerLeases, lk, consumerId, now, d.consumer);
      if (granted === undefined) continue;
      if (granted.holderChanged && info.mode === 'clustering') this.dirty.add(`group:${gk}`);
      leases.push({ partition: p, epoch: granted.epoch, durationMs: d.consumer.durationMs });
    }
    const granted = new Set(leases.map((l) => l.partition));
    for (const l of held ?? []) if (!granted.has(l.partition)) lost.push(l);
    return {
      topic: info.topic,
      mode: info.mode,
      leases,
      lost,
      heartbeatIntervalMs: renewIntervalMs(d.consumer),
    };
  }

  private rebalanceGroup(gk: string): void {
    const group = this.groups.get(gk);
    if (group === undefined || group.mode === 'broadcast') return;
    const topic = this.topics.get(key(group.namespace, group.topic));
    const partitions = topic?.partitions ?? 0;
    const members: Member[] = [...(this.consumers.get(gk) ?? [])].map(([id, m]) => ({
      id,
      zone: m.info.zone,
      weight: 1,
    }));
    const live = new Set(members.map((m) => m.id));
    const previous = this.groupTargets.get(gk) ?? new Map<number, string>();
    const current = new Map([...previous].filter(([p, id]) => live.has(id) && p < partitions));
    // Nearby rule: a consumer in the zone of the broker that serves the partition.
    const brokers = topic ? this.brokers.get(key(topic.namespace, topic.pool)) : undefined;
    const tk = key(group.namespace, group.topic);
    const preferredZone = (p: number) => {
      const holder = this.brokerLeases.last(partKey(tk, p))?.holder;
      return holder ? brokers?.get(holder)?.info.zone : undefined;
    };
    const target = assign({ partitions, members, current, preferredZone });
    const next = limitMoves(current, target, live, this.options.maxMovesPerStep);
    const changed = next.size !== previous.size || [...next].some(([p, id]) => previous.get(p) !== id);
    this.groupTargets.set(gk, next);
    if (changed) this.dirty.add(`group:${gk}`);
  }

  private heldPartitions(gk: string, consumerId: string, partitions: number, now: number): number[] {
    const group = this.groups.get(gk);
    const result: number[] = [];
    for (let p = 0; p < partitions; p++) {
      const lk = group?.mode === 'broadcast' ? `${gk}@${consumerId}#${p}` : partKey(gk, p);
      if (this.consumerLeases.current(lk, now)?.holder === consumerId) result.push(p);
    }
    return result;
  }

  private durations(namespace: string, pool: string): PoolDurations {
    return this.durationsByKey(key(namespace, pool));
  }

  private durationsByKey(pk: string): PoolInfo {
    return this.pools.get(pk) ?? DEFAULT_POOL;
  }

  private topicDurations(group: GroupInfo): PoolDurations {
    const topic = this.topics.get(key(group.namespace, group.topic));
    return topic ? this.durations(group.namespace, topic.pool) : DEFAULT_POOL;
  }
}

function splitKey(k: string): [string, string] {
  const i = k.indexOf('/');
  return [k.slice(0, i), k.slice(i + 1)];
}
