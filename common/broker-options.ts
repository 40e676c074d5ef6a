// Broker options: defaults spread first, then every field checked, with errors that name
// the field ("publish.maxBatchRows must be an integer >= 1"). Pure; unit-tested.
import { GroupPolicyError, resolveGroupPolicy } from './group-policy';
import type { GroupPolicy, GroupPolicyInput } from './group-policy';
import { nameProblem } from './names';

export interface TopicOptions {
  name: string;
  partitions: number;
  /** Largest accepted message body plus key, ref key, tags and properties, in bytes. */
  maxMessageBytes: number;
  /** The Topic's spec.priority: messages may be published to the partition's priority lane. */
  priority: boolean;
  /** spec.delay: accepts delayed and scheduled messages. */
  delay: boolean;
  /** spec.retention.hours: whole segments older than this are dropped (fractions allowed). */
  retentionHours: number;
}

/** Lease mode: the broker serves what the meta-server leases it (DESIGN.md, "Leases"). */
export interface MetaOptions {
  /** Meta-server addresses (host:port; any operator replica, followers redirect). */
  addresses: string[];
  /** The namespace and BrokerPool this broker belongs to. */
  namespace: string;
  pool: string;
  /** Unique in the pool: the pod name (HERALD_POD_NAME) in a cluster. */
  brokerId: string;
  /** topology.kubernetes.io/zone of the node; empty when unknown. */
  zone: string;
  /** Relative capacity for assignment. */
  weight: number;
  /** How much earlier than the meta-server's expiry this broker stops using a lease. */
  safetyMarginMs: number;
  /** How long cached routes (GetRoutes) are trusted before forwarding asks again. */
  routeTtlMs: number;
  /** How long a cached answer of GetConsumerLeases decides an ack without a matching lease. */
  consumerLeaseCacheMs: number;
}

export interface BrokerOptions {
  /** host:port for gRPC; port 0 picks a free port. */
  listen: string;
  /** The address other brokers and clients use for this broker (NOT_PARTITION_OWNER metadata). */
  advertisedAddress: string;
  /** host:port for the Prometheus /metrics endpoint; port 0 picks a free port. */
  metricsListen: string;
  mysql: {
    url: string;
    poolSize: number;
    connectTimeoutMs: number;
    queryTimeoutMs: number;
    /** How often the store is pinged to report readiness and notice recovery. */
    pingIntervalMs: number;
  };
  topics: TopicOptions[];
  publish: {
    /** Group commit: rows per INSERT. */
    maxBatchRows: number;
    /** Group commit: bytes per INSERT. */
    maxBatchBytes: number;
    /** Group commit: how long the first queued request waits for company while other commits run (with none running, a commit starts at the end of the turn). */
    lingerMs: number;
    /** Group commit: bytes in one transaction over all partitions. */
    maxCommitBytes: number;
    /** Group commit: transactions running at once (on disjoint partitions). */
    maxConcurrentCommits: number;
    /** Largest Publish request, in messages. */
    maxRequestMessages: number;
    /** Largest Publish request, in bytes. */
    maxRequestBytes: number;
  };
  delivery: {
    defaultAckTimeoutMs: number;
    /** How often acked offsets are stored (all groups and partitions in one write). */
    commitIntervalMs: number;
    maxInFlight: number;
    maxPullMessages: number;
    maxPullWaitMs: number;
    prefetchMessages: number;
    /** The per-partition cache of the newest committed messages. */
    tailCacheMessages: number;
    tailCacheBytes: number;
    /** Bytes of bodies all partitions' tail caches hold together (the largest give way first). */
    tailCacheTotalBytes: number;
    /** An idle cursor re-reads its resend schedule's head at most this often (a lost wake-up's bound). */
    resendPollMs: number;
    /**
     * An idle subscription re-checks ownership and the consumer's lease at least this often, so
     * a stream whose lease ended stops within this time even when no message arrives.
     */
    subscribeRecheckMs: number;
    /** Due resends read per query. */
    resendBatch: number;
    /** After a failed write of a retry, the failure is tried again this much later. */
    retryWriteBackoffMs: number;
  };
  /** Delayed and scheduled messages (docs/delayed-messages.md). */
  delay: {
    /** The furthest a message may be scheduled ahead (default 366 days). */
    maxHorizonMs: number;
    /** The timer wheel's tick: a due message is dispatched at most about one tick late. */
    tickMs: number;
    /** How far ahead an owner keeps the delay table in memory; reloaded every half window. */
    windowMs: number;
    /** At most this many delayed messages of one partition in memory at once. */
    maxLoaded: number;
  };
  /** Retention by table partitions (docs/delayed-messages.md, "Retention"). */
  retention: {
    /** Offsets per table partition (segment). */
    segmentMessages: number;
    /** How often the owner maintains the segments of its partitions. */
    intervalMs: number;
  };
  /** Message tracing (docs/tracing.md). */
  trace: {
    /** Off: no events are recorded (Admin Trace still answers from what is stored). */
    enabled: boolean;
    /** Events are written at least this often... */
    flushIntervalMs: number;
    /** ...and as soon as this many are waiting, in one INSERT. */
    maxBatchEvents: number;
    /** Events held while the store is slow; beyond it events are dropped (and counted). */
    maxBufferedEvents: number;
    /** Events older than this are deleted. */
    retentionHours: number;
    /** How often old trace events and commands are deleted. */
    expireIntervalMs: number;
  };
  /** The command log (offset resets, replays) that Admin calls leave for partition owners. */
  commands: {
    /** How often each broker reads new commands. */
    pollIntervalMs: number;
    /** Commands older than this are deleted. */
    retentionMs: number;
  };
  /**
   * Standalone mode: the declared consumer groups' policies (a ConsumerGroup's fields, in
   * milliseconds). Lease mode takes them from the ConsumerGroups through the meta-server.
   */
  groups: Record<string, GroupPolicy>;
  /** The policy of groups not in `groups` (standalone mode). */
  defaultGroup: GroupPolicy;
  /** How long shutdown waits for calls to finish before cancelling them. */
  shutdownTimeoutMs: number;
  /** Set: lease mode (topics and partitions from the meta-server). Unset: standalone mode. */
  meta: MetaOptions | undefined;
}

/**
 * The `meta` section as the BrokerPool's ConfigMap writes it (operator/controllers/
 * broker-pool-objects.ts): `address` may list several comma-separated addresses, `leases` is
 * the pool's spec.leases (seconds). brokerId, zone and weight come from the pod's environment
 * (broker/main.ts) or the file.
 */
export interface MetaOptionsInput {
  address: string;
  namespace: string;
  pool: string;
  leases?: { safetyMarginSeconds?: number };
  brokerId?: string;
  zone?: string;
  weight?: number;
  routeTtlMs?: number;
  consumerLeaseCacheMs?: number;
}

export type BrokerOptionsInput = Partial<
  Omit<
    BrokerOptions,
    | 'mysql'
    | 'publish'
    | 'delivery'
    | 'topics'
    | 'meta'
    | 'delay'
    | 'retention'
    | 'trace'
    | 'commands'
    | 'groups'
    | 'defaultGroup'
  >
> & {
  delay?: Partial<BrokerOptions['delay']>;
  retention?: Partial<BrokerOptions['retention']>;
  trace?: Partial<BrokerOptions['trace']>;
  commands?: Partial<BrokerOptions['commands']>;
  groups?: Record<string, GroupPolicyInput>;
  defaultGroup?: GroupPolicyInput;
  meta?: MetaOptionsInput;
  mysql: Partial<BrokerOptions['mysql']> & { url: string };
  publish?: Partial<BrokerOptions['publish']>;
  delivery?: Partial<BrokerOptions['delivery']>;
  topics: (Partial<TopicOptions> & { name: string; partitions: number })[];
};

export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** The Topic CRD's default spec.retention.hours (7 days). */
export const DEFAULT_RETENTION_HOURS = 168;

export const DEFAULTS = {
  listen: '127.0.0.1:7600',
  metricsListen: '127.0.0.1:9600',
  mysql: { poolSize: 16, connectTimeoutMs: 2000, queryTimeoutMs: 10_000, pingIntervalMs: 1000 },
  publish: {
    maxBatchRows: 500,
    maxBatchBytes: 1024 * 1024,
    lingerMs: 1,
    maxCommitBytes: 2 * 1024 * 1024,
    maxConcurrentCommits: 4,
    maxRequestMessages: 1000,
    maxRequestBytes: 8 * 1024 * 1024,
  },
  delivery: {
    defaultAckTimeoutMs: 30_000,
    commitIntervalMs: 100,
    maxInFlight: 10_000,
    maxPullMessages: 1000,
    maxPullWaitMs: 30_000,
    prefetchMessages: 500,
    tailCacheMessages: 500,
    tailCacheBytes: 512 * 1024,
    tailCacheTotalBytes: 32 * 1024 * 1024,
    resendPollMs: 3_000,
    subscribeRecheckMs: 2_000,
    resendBatch: 200,
    retryWriteBackoffMs: 1_000,
  },
  delay: { maxHorizonMs: 366 * 86_400_000, tickMs: 100, windowMs: 60_000, maxLoaded: 100_000 },
  retention: { segmentMessages: 1_000_000, intervalMs: 60_000 },
  trace: {
    enabled: true,
    flushIntervalMs: 200,
    maxBatchEvents: 1000,
    maxBufferedEvents: 100_000,
    retentionHours: 72,
    expireIntervalMs: 60_000,
  },
  commands: { pollIntervalMs: 1000, retentionMs: 3_600_000 },
  shutdownTimeoutMs: 10_000,
  meta: { weight: 1, safetyMarginSeconds: 2, routeTtlMs: 5_000, consumerLeaseCacheMs: 1_000 },
};

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field} ${problem}`);
  }
}

export function resolveOptions(input: BrokerOptionsInput): BrokerOptions {
  const listen = input.listen ?? DEFAULTS.listen;
  const o: BrokerOptions = {
    listen,
    advertisedAddress: input.advertisedAddress ?? listen,
    metricsListen: input.metricsListen ?? DEFAULTS.metricsListen,
    mysql: { ...DEFAULTS.mysql, ...input.mysql },
    topics: (input.topics ?? []).map((t) => ({
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      priority: false,
      delay: false,
      retentionHours: DEFAULT_RETENTION_HOURS,
      ...t,
    })),
    publish: { ...DEFAULTS.publish, ...input.publish },
    delivery: { ...DEFAULTS.delivery, ...input.delivery },
    delay: { ...DEFAULTS.delay, ...input.delay },
    retention: { ...DEFAULTS.retention, ...input.retention },
    trace: { ...DEFAULTS.trace, ...input.trace },
    commands: { ...DEFAULTS.commands, ...input.commands },
    groups: {},
    defaultGroup: resolveGroupPolicy(),
    shutdownTimeoutMs: input.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs,
    meta: input.meta === undefined ? undefined : metaOptions(input.meta),
  };
  hostPort('listen', o.listen);
  hostPort('advertisedAddress', o.advertisedAddress);
  hostPort('metricsListen', o.metricsListen);
  if (typeof o.mysql.url !== 'string' || !/^mysql:\/\/[^/]+\/[A-Za-z0-9_]+$/.test(o.mysql.url)) {
    throw new OptionsError('mysql.url', 'must look like mysql://user:password@host:port/database');
  }
  int('mysql.poolSize', o.mysql.poolSize, 1);
  int('mysql.connectTimeoutMs', o.mysql.connectTimeoutMs, 1);
  int('mysql.queryTimeoutMs', o.mysql.queryTimeoutMs, 1);
  int('mysql.pingIntervalMs', o.mysql.pingIntervalMs, 1);
  int('publish.maxBatchRows', o.publish.maxBatchRows, 1);
  int('publish.maxBatchBytes', o.publish.maxBatchBytes, 1);
  int('publish.lingerMs', o.publish.lingerMs, 0);
  int('publish.maxCommitBytes', o.publish.maxCommitBytes, 1);
  int('publish.maxConcurrentCommits', o.publish.maxConcurrentCommits, 1);
  int('publish.maxRequestMessages', o.publish.maxRequestMessages, 1);
  int('publish.maxRequestBytes', o.publish.maxRequestBytes, 1);
  int('delivery.defaultAckTimeoutMs', o.delivery.defaultAckTimeoutMs, 1);
  int('delivery.commitIntervalMs', o.delivery.commitIntervalMs, 1);
  int('delivery.maxInFlight', o.delivery.maxInFlight, 1);
  int('delivery.maxPullMessages', o.delivery.maxPullMessages, 1);
  int('delivery.maxPullWaitMs', o.delivery.maxPullWaitMs, 0);
  int('delivery.prefetchMessages', o.delivery.prefetchMessages, 1);
  int('delivery.tailCacheMessages', o.delivery.tailCacheMessages, 1);
  int('delivery.tailCacheBytes', o.delivery.tailCacheBytes, 1);
  int('delivery.tailCacheTotalBytes', o.delivery.tailCacheTotalBytes, 1);
  int('delay.maxHorizonMs', o.delay.maxHorizonMs, 1);
  int('delay.tickMs', o.delay.tickMs, 1, 1000);
  int('delay.windowMs', o.delay.windowMs, o.delay.tickMs);
  int('delay.maxLoaded', o.delay.maxLoaded, 1);
  int('retention.segmentMessages', o.retention.segmentMessages, 1);
  int('retention.intervalMs', o.retention.intervalMs, 1);
  if (typeof o.trace.enabled !== 'boolean') {
    throw new OptionsError('trace.enabled', `must be true or false, got ${JSON.stringify(o.trace.enabled)}`);
  }
  int('trace.flushIntervalMs', o.trace.flushIntervalMs, 1);
  int('trace.maxBatchEvents', o.trace.maxBatchEvents, 1, 10_000);
  int('trace.maxBufferedEvents', o.trace.maxBufferedEvents, o.trace.maxBatchEvents);
  int('trace.retentionHours', o.trace.retentionHours, 1);
  int('trace.expireIntervalMs', o.trace.expireIntervalMs, 1);
  int('commands.pollIntervalMs', o.commands.pollIntervalMs, 1);
  int('commands.retentionMs', o.commands.retentionMs, 1);
  int('delivery.resendPollMs', o.delivery.resendPollMs, 1);
  int('delivery.subscribeRecheckMs', o.delivery.subscribeRecheckMs, 1);
  int('delivery.resendBatch', o.delivery.resendBatch, 1, 10_000);
  int('delivery.retryWriteBackoffMs', o.delivery.retryWriteBackoffMs, 1);
  // Undeclared groups keep the broker-wide delivery settings unless defaultGroup names others.
  o.defaultGroup = groupPolicy('defaultGroup', {
    ackTimeoutMs: o.delivery.defaultAckTimeoutMs,
    maxInFlight: Math.min(o.delivery.maxInFlight, 100_000),
    ...input.defaultGroup,
  });
  for (const [name, policy] of Object.entries(input.groups ?? {})) {
    const problem = nameProblem(name);
    if (problem) throw new OptionsError(`groups.${name}`, `is not a valid group name: it ${problem}`);
    o.groups[name] = groupPolicy(`groups.${name}`, policy);
  }
  int('shutdownTimeoutMs', o.shutdownTimeoutMs, 0);
  const seen = new Set<string>();
  o.topics.forEach((t, i) => {
    const field = `topics[${i}]`;
    const problem = typeof t.name === 'string' ? nameProblem(t.name) : 'must be a string';
    if (problem) throw new OptionsError(`${field}.name`, problem);
    if (seen.has(t.name)) throw new OptionsError(`${field}.name`, `repeats topic ${t.name}`);
    seen.add(t.name);
    int(`${field}.partitions`, t.partitions, 1, 1024);
    int(`${field}.maxMessageBytes`, t.maxMessageBytes, 1, o.publish.maxRequestBytes);
    if (typeof t.priority !== 'boolean') throw new OptionsError(`${field}.priority`, 'must be a boolean');
    if (typeof t.delay !== 'boolean') throw new OptionsError(`${field}.delay`, 'must be true or false');
    const hours = t.retentionHours;
    if (typeof hours !== 'number' || !Number.isFinite(hours) || hours <= 0 || hours > 87_600) {
      throw new OptionsError(
        `${field}.retentionHours`,
        `must be a number in (0, 87600], got ${JSON.stringify(hours)}`,
      );
    }
  });
  return o;
}

/**
 * The config file with the pod's environment applied, as the operator's StatefulSet sets it:
 * HERALD_MYSQL_URL (from a Secret), HERALD_ADVERTISED_ADDRESS (the pod's stable DNS name) and,
 * in lease mode, HERALD_POD_NAME (broker id), HERALD_ZONE and HERALD_META_ADDRESS. Pure.
 */
export function withEnvironment(
  config: BrokerOptionsInput,
  env: Record<string, string | undefined>,
): BrokerOptionsInput {
  const out: BrokerOptionsInput = { ...config };
  if (env.HERALD_MYSQL_URL) out.mysql = { ...out.mysql, url: env.HERALD_MYSQL_URL };
  if (env.HERALD_ADVERTISED_ADDRESS) out.advertisedAddress = env.HERALD_ADVERTISED_ADDRESS;
  if (out.meta) {
    out.meta = {
      ...out.meta,
      ...(env.HERALD_POD_NAME ? { brokerId: env.HERALD_POD_NAME } : {}),
      ...(env.HERALD_ZONE ? { zone: env.HERALD_ZONE } : {}),
      ...(env.HERALD_META_ADDRESS ? { address: env.HERALD_META_ADDRESS } : {}),
    };
  }
  return out;
}

function metaOptions(m: MetaOptionsInput): MetaOptions {
  const margin = m.leases?.safetyMarginSeconds ?? DEFAULTS.meta.safetyMarginSeconds;
  if (typeof margin !== 'number' || !Number.isFinite(margin) || margin < 0) {
    throw new OptionsError(
      'meta.leases.safetyMarginSeconds',
      `must be a number >= 0, got ${JSON.stringify(margin)}`,
    );
  }
  const o: MetaOptions = {
    addresses: String(m.address ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== ''),
    namespace: m.namespace,
    pool: m.pool,
    brokerId: m.brokerId ?? '',
    zone: m.zone ?? '',
    weight: m.weight ?? DEFAULTS.meta.weight,
    safetyMarginMs: Math.round(margin * 1000),
    routeTtlMs: m.routeTtlMs ?? DEFAULTS.meta.routeTtlMs,
    consumerLeaseCacheMs: m.consumerLeaseCacheMs ?? DEFAULTS.meta.consumerLeaseCacheMs,
  };
  if (o.addresses.length === 0) throw new OptionsError('meta.address', 'must name at least one host:port');
  o.addresses.forEach((a) => hostPort('meta.address', a));
  for (const field of ['namespace', 'pool', 'brokerId'] as const) {
    if (typeof o[field] !== 'string' || o[field] === '') {
      const hint = field === 'brokerId' ? ' (or set HERALD_POD_NAME)' : '';
      throw new OptionsError(`meta.${field}`, `must be a non-empty string${hint}`);
    }
  }
  int('meta.weight', o.weight, 1, 1000);
  int('meta.routeTtlMs', o.routeTtlMs, 1);
  int('meta.consumerLeaseCacheMs', o.consumerLeaseCacheMs, 0);
  return o;
}

/** A group's policy with the CRD's defaults, its errors naming the option's field. */
function groupPolicy(field: string, input: GroupPolicyInput): GroupPolicy {
  try {
    return resolveGroupPolicy(input);
  } catch (err) {
    if (err instanceof GroupPolicyError)
      throw new OptionsError(`${field}.${err.field}`, err.message.slice(err.field.length + 1));
    throw err;
  }
}

function int(field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new OptionsError(field, `must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
}

function hostPort(field: string, value: unknown): void {
  if (typeof value !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(value)) {
    throw new OptionsError(field, `must be host:port, got ${JSON.stringify(value)}`);
  }
}
