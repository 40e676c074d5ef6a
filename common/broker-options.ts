// Broker options, one table per section: each option's default and rule written once, checked
// by common/options.ts (defaults spread first, then every field), with errors that name the
// field ("publish.maxBatchRows must be an integer >= 1, got 0"). Pure; unit-tested.
import { resolveGroupPolicy } from './group-policy';
import type { GroupPolicy, GroupPolicyInput } from './group-policy';
import { MAX_NAME_LENGTH, nameProblem } from './names';
import {
  OptionsError,
  bool,
  check,
  defaults,
  field,
  hostPort,
  int,
  matches,
  nonEmpty,
  num,
  oneOf,
  resolve,
} from './options';
import type { Rule, Table } from './options';
import { resolveSecurity } from './security/server-security';
import type { ServerSecurityInput, ServerSecurityOptions } from './security/server-security';

export { OptionsError };

/** Where a topic's messages live (Topic spec.storage). */
export const STORAGE_KINDS = ['mysql', 'kafka', 'memory'] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

export interface TopicOptions {
  name: string;
  /** The message store of its partitions (Topic spec.storage). */
  storage: StorageKind;
  partitions: number;
  /** Largest accepted message body plus key, ref key, tags and properties, in bytes. */
  maxMessageBytes: number;
  /** The Topic's spec.priority: messages may be published to the partition's priority lane. */
  priority: boolean;
  /** spec.delay: accepts delayed and scheduled messages. */
  delay: boolean;
  /** spec.retention.hours: whole segments older than this are dropped (fractions allowed). */
  retentionHours: number;
  /**
   * spec.rateLimit, in lease mode (from the meta-server): publishes per second for the whole
   * topic, of which this broker admits its share; burst 0 means messagesPerSecond.
   */
  rateLimit?: { messagesPerSecond: number; burst: number };
  /** The push groups reading the topic (lease mode: from the meta-server; standalone: groups with push). */
  pushGroups?: string[];
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
  /**
   * The meta-server listens without TLS (the operator says so in the pool's config): this
   * broker reaches it in plain text even with security.tls. Otherwise it uses its certificate.
   */
  plaintext: boolean;
}

export interface KafkaOptions {
  /** host:port of Kafka brokers to bootstrap from (BrokerPool spec.storage.kafka). */
  bootstrapServers: string[];
  /** A Kafka broker that does not accept a connection within this fails the call. */
  connectTimeoutMs: number;
  /** A Kafka request without an answer within this fails (a fetch may wait its maxWaitTime more). */
  requestTimeoutMs: number;
  /**
   * The longest a publish to Kafka may take, retries included, before it fails with
   * STORAGE_UNAVAILABLE (outcome unknown). Below the lease safety margin.
   */
  publishTimeoutMs: number;
  /**
   * The owner's long poll of its partitions waits this long for new records; a partition it
   * wrote to itself within twice this is left out of the polls (its own writes are not read back).
   */
  tailWaitMs: number;
  /** Bytes per partition in one fetch (a larger first record batch still comes whole). */
  fetchMaxBytes: number;
  /**
   * Bytes of messages that one-shot fetches brought beyond what their reads asked for, kept for
   * the partitions' next reads (all partitions together; the oldest give way first).
   */
  readAheadBytes: number;
  /** Committed offsets that did not move for this long are committed again (offset retention). */
  offsetKeepAliveMs: number;
}

export interface BrokerOptions {
  /** host:port for gRPC; port 0 picks a free port. */
  listen: string;
  /** The address other brokers and clients use for this broker (NOT_PARTITION_OWNER metadata). */
  advertisedAddress: string;
  /** host:port for the Prometheus /metrics endpoint; port 0 picks a free port. */
  metricsListen: string;
  /**
   * host:port for the REST gateway (docs/http.md); port 0 picks a free port. HTTPS with the
   * gRPC listener's certificate when security.tls is set.
   */
  httpListen: string;
  /**
   * The pool store: `mysql`, or `memory` (nothing durable: tests and SDK development). It is
   * also the default storage of the configured topics.
   */
  storage: 'mysql' | 'memory';
  mysql: {
    url: string;
    poolSize: number;
    connectTimeoutMs: number;
    queryTimeoutMs: number;
    /** How often the store is pinged to report readiness and notice recovery. */
    pingIntervalMs: number;
  };
  /**
   * The pool's Kafka, for `storage: kafka` topics (their retries, dead letters and traces stay
   * in the pool store); unset: the pool has none and such topics are refused.
   */
  kafka: KafkaOptions | undefined;
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
    /**
     * A commit that takes longer is logged at warn ("slow commit": its partitions, rows and
     * riders), at most once per 10 s with a count of the others; 0 turns it off.
     */
    slowCommitMs: number;
    /** Largest Publish request, in messages. */
    maxRequestMessages: number;
    /** Largest Publish request, in bytes. */
    maxRequestBytes: number;
    /**
     * Bytes of publishes accepted and not yet answered, all topics together: over it, unary
     * Publishes are refused (RATE_LIMITED, retriable) and PublishStreams stop reading (HTTP/2
     * flow control then holds their producers back). At least maxRequestBytes.
     */
    maxPendingBytes: number;
  };
  delivery: {
    defaultAckTimeoutMs: number;
    /** How often acked offsets are stored (all groups and partitions in one write). */
    commitIntervalMs: number;
    maxInFlight: number;
    maxPullMessages: number;
    maxPullWaitMs: number;
    prefetchMessages: number;
    /**
     * Bytes of deliveries written to Subscribe streams and not yet flushed by the transport, all
     * streams together: over it, streams wait for their writes to flush before taking more (a
     * stream with nothing unsent may always write one take).
     */
    maxUnsentBytes: number;
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
    /**
     * A broadcast consumer's cursor that no call used for this long is closed (its consumer
     * left, or reads elsewhere); a later call reopens it from storage.
     */
    idleCursorMs: number;
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
  /** Push groups' delivery to their endpoints (docs/push.md). */
  push: {
    /** How often the broker looks for push partitions to start or stop (ownership, new groups). */
    reconcileIntervalMs: number;
    /** How often each partition's adaptive rate is recomputed. */
    ratePeriodMs: number;
    /** While an endpoint is down: one request this often. */
    heartbeatIntervalMs: number;
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
  /** TLS, authentication and authorization (docs/security.md). */
  security: ServerSecurityOptions;
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
  plaintext?: boolean;
}

export type BrokerOptionsInput = Partial<
  Omit<
    BrokerOptions,
    | 'mysql'
    | 'kafka'
    | 'publish'
    | 'delivery'
    | 'topics'
    | 'meta'
    | 'delay'
    | 'retention'
    | 'trace'
    | 'commands'
    | 'push'
    | 'groups'
    | 'defaultGroup'
    | 'security'
  >
> & {
  security?: ServerSecurityInput;
  delay?: Partial<BrokerOptions['delay']>;
  retention?: Partial<BrokerOptions['retention']>;
  trace?: Partial<BrokerOptions['trace']>;
  commands?: Partial<BrokerOptions['commands']>;
  push?: Partial<BrokerOptions['push']>;
  groups?: Record<string, GroupPolicyInput>;
  defaultGroup?: GroupPolicyInput;
  meta?: MetaOptionsInput;
  /** Required with `storage: mysql` (the default). */
  mysql?: Partial<BrokerOptions['mysql']> & { url: string };
  kafka?: Partial<KafkaOptions> & { bootstrapServers: string[] };
  publish?: Partial<BrokerOptions['publish']>;
  delivery?: Partial<BrokerOptions['delivery']>;
  topics: (Partial<Omit<TopicOptions, 'rateLimit'>> & { name: string; partitions: number })[];
};

export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** The Topic CRD's default spec.retention.hours (7 days). */
export const DEFAULT_RETENTION_HOURS = 168;

type Server = Pick<
  BrokerOptions,
  'listen' | 'metricsListen' | 'httpListen' | 'storage' | 'shutdownTimeoutMs'
>;
const SERVER: Table<Server> = {
  listen: field('127.0.0.1:7600', hostPort),
  storage: field<BrokerOptions['storage']>('mysql', oneOf('mysql', 'memory')),
  metricsListen: field('127.0.0.1:9600', hostPort),
  httpListen: field('127.0.0.1:7680', hostPort),
  shutdownTimeoutMs: field(10_000, int(0)),
};

const MYSQL: Table<BrokerOptions['mysql']> = {
  url: field('', matches(/^mysql:\/\/[^/]+\/[A-Za-z0-9_]+$/, 'mysql://user:password@host:port/database')),
  poolSize: field(16, int(1)),
  connectTimeoutMs: field(2000, int(1)),
  queryTimeoutMs: field(10_000, int(1)),
  pingIntervalMs: field(1000, int(1)),
};

const servers: Rule = {
  describe: 'a non-empty list of host:port',
  ok: (v) => Array.isArray(v) && v.length > 0 && v.every((b) => hostPort.ok(b)),
};

/** kafka.publishTimeoutMs must also be below the lease safety margin (checked after the table). */
const KAFKA: Table<KafkaOptions> = {
  bootstrapServers: field<string[]>([], servers),
  connectTimeoutMs: field(1_000, int(1)),
  requestTimeoutMs: field(2_000, int(1)),
  publishTimeoutMs: field(1_500, int(1)),
  tailWaitMs: field(500, int(0)),
  fetchMaxBytes: field(1024 * 1024, int(1)),
  readAheadBytes: field(32 * 1024 * 1024, int(0)),
  offsetKeepAliveMs: field(24 * 3_600_000, int(1)),
};

/** publish.maxPendingBytes must also be at least publish.maxRequestBytes (checked after the table). */
const PUBLISH: Table<BrokerOptions['publish']> = {
  maxBatchRows: field(500, int(1)),
  maxBatchBytes: field(1024 * 1024, int(1)),
  lingerMs: field(1, int(0)),
  maxCommitBytes: field(2 * 1024 * 1024, int(1)),
  maxConcurrentCommits: field(4, int(1)),
  slowCommitMs: field(1_000, int(0)),
  maxRequestMessages: field(1000, int(1)),
  maxRequestBytes: field(8 * 1024 * 1024, int(1)),
  maxPendingBytes: field(32 * 1024 * 1024, int(1)),
};

const DELIVERY: Table<BrokerOptions['delivery']> = {
  defaultAckTimeoutMs: field(30_000, int(1)),
  commitIntervalMs: field(100, int(1)),
  maxInFlight: field(10_000, int(1)),
  maxPullMessages: field(1000, int(1)),
  maxPullWaitMs: field(30_000, int(0)),
  prefetchMessages: field(500, int(1)),
  maxUnsentBytes: field(8 * 1024 * 1024, int(1)),
  tailCacheMessages: field(500, int(1)),
  tailCacheBytes: field(512 * 1024, int(1)),
  tailCacheTotalBytes: field(32 * 1024 * 1024, int(1)),
  resendPollMs: field(3_000, int(1)),
  subscribeRecheckMs: field(2_000, int(1)),
  idleCursorMs: field(60_000, int(1)),
  resendBatch: field(200, int(1, 10_000)),
  retryWriteBackoffMs: field(1_000, int(1)),
};

/** delay.windowMs must also be at least delay.tickMs (checked after the table). */
const DELAY: Table<BrokerOptions['delay']> = {
  maxHorizonMs: field(366 * 86_400_000, int(1)),
  tickMs: field(100, int(1, 1000)),
  windowMs: field(60_000, int(1)),
  maxLoaded: field(100_000, int(1)),
};

const RETENTION: Table<BrokerOptions['retention']> = {
  segmentMessages: field(1_000_000, int(1)),
  intervalMs: field(60_000, int(1)),
};

/** trace.maxBufferedEvents must also be at least trace.maxBatchEvents (checked after the table). */
const TRACE: Table<BrokerOptions['trace']> = {
  enabled: field(true, bool),
  flushIntervalMs: field(200, int(1)),
  maxBatchEvents: field(1000, int(1, 10_000)),
  maxBufferedEvents: field(100_000, int(1)),
  retentionHours: field(72, int(1)),
  expireIntervalMs: field(60_000, int(1)),
};

const PUSH: Table<BrokerOptions['push']> = {
  reconcileIntervalMs: field(1000, int(1)),
  ratePeriodMs: field(1000, int(1)),
  heartbeatIntervalMs: field(5000, int(1)),
};

const COMMANDS: Table<BrokerOptions['commands']> = {
  pollIntervalMs: field(1000, int(1)),
  retentionMs: field(3_600_000, int(1)),
};

/** A topic's optional fields; topics[].maxMessageBytes must also fit publish.maxRequestBytes. */
const TOPIC: Table<Omit<TopicOptions, 'name' | 'partitions'>> = {
  storage: field<StorageKind>('mysql', oneOf(...STORAGE_KINDS)),
  maxMessageBytes: field(DEFAULT_MAX_MESSAGE_BYTES, int(1)),
  priority: field(false, bool),
  delay: field(false, bool),
  retentionHours: field(DEFAULT_RETENTION_HOURS, num({ above: 0, max: 87_600 })),
};
const PARTITIONS = int(1, 1024);

type MetaTabled = Pick<
  MetaOptions,
  'namespace' | 'pool' | 'brokerId' | 'zone' | 'weight' | 'routeTtlMs' | 'consumerLeaseCacheMs' | 'plaintext'
>;
const META: Table<MetaTabled> = {
  namespace: field('', nonEmpty),
  pool: field('', nonEmpty),
  brokerId: field('', { ...nonEmpty, describe: `${nonEmpty.describe} (or set HERALD_POD_NAME)` }),
  zone: field('', { describe: 'a string', ok: (v) => typeof v === 'string' }),
  weight: field(1, int(1, 1000)),
  routeTtlMs: field(5_000, int(1)),
  consumerLeaseCacheMs: field(1_000, int(0)),
  plaintext: field(false, bool),
};
/** The BrokerPool's spec.leases.safetyMarginSeconds default. */
const SAFETY_MARGIN: Table<{ safetyMarginSeconds: number }> = {
  safetyMarginSeconds: field(2, num({ min: 0 })),
};

/** Every default, for tests and tools. */
export const DEFAULTS = {
  ...defaults(SERVER),
  mysql: defaults(MYSQL),
  kafka: defaults(KAFKA),
  publish: defaults(PUBLISH),
  delivery: defaults(DELIVERY),
  delay: defaults(DELAY),
  retention: defaults(RETENTION),
  trace: defaults(TRACE),
  commands: defaults(COMMANDS),
  topic: defaults(TOPIC),
  meta: { ...defaults(META), ...defaults(SAFETY_MARGIN) },
};

const topicName: Rule = {
  describe: `a name of 1..${MAX_NAME_LENGTH} lower-case letters, digits and "-", starting and ending alphanumeric`,
  ok: (v) => typeof v === 'string' && nameProblem(v) === undefined,
};

export function resolveOptions(input: BrokerOptionsInput): BrokerOptions {
  const server = resolve('', SERVER, input);
  const o: BrokerOptions = {
    ...server,
    advertisedAddress: input.advertisedAddress ?? server.listen,
    // The pool's MySQL is needed (and checked) only when it is the pool store.
    mysql: server.storage === 'mysql' ? resolve('mysql', MYSQL, input.mysql) : defaults(MYSQL),
    kafka: input.kafka === undefined ? undefined : resolve('kafka', KAFKA, input.kafka),
    topics: [],
    publish: resolve('publish', PUBLISH, input.publish),
    delivery: resolve('delivery', DELIVERY, input.delivery),
    delay: resolve('delay', DELAY, input.delay),
    retention: resolve('retention', RETENTION, input.retention),
    trace: resolve('trace', TRACE, input.trace),
    commands: resolve('commands', COMMANDS, input.commands),
    push: resolve('push', PUSH, input.push),
    groups: {},
    defaultGroup: resolveGroupPolicy(),
    meta: input.meta === undefined ? undefined : metaOptions(input.meta),
    security: resolveSecurity('security', input.security),
  };
  check('advertisedAddress', o.advertisedAddress, hostPort);
  check('delay.windowMs', o.delay.windowMs, int(o.delay.tickMs));
  check('trace.maxBufferedEvents', o.trace.maxBufferedEvents, int(o.trace.maxBatchEvents));
  check('publish.maxPendingBytes', o.publish.maxPendingBytes, int(o.publish.maxRequestBytes));
  // A publish to Kafka ends before the lease it was started under can have run out.
  if (o.kafka && o.meta)
    check('kafka.publishTimeoutMs', o.kafka.publishTimeoutMs, int(1, o.meta.safetyMarginMs - 1));
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
  const seen = new Set<string>();
  (input.topics ?? []).forEach((t, i) => {
    const f = `topics[${i}]`;
    check(`${f}.name`, t.name, topicName);
    if (seen.has(t.name)) throw new OptionsError(`${f}.name`, `repeats topic ${t.name}`);
    seen.add(t.name);
    check(`${f}.partitions`, t.partitions, PARTITIONS);
    const topic: TopicOptions = {
      name: t.name,
      partitions: t.partitions,
      ...resolve(f, TOPIC, { ...t, storage: t.storage ?? o.storage }),
    };
    check(`${f}.maxMessageBytes`, topic.maxMessageBytes, int(1, o.publish.maxRequestBytes));
    o.topics.push(topic);
  });
  // Standalone push groups name their topic.
  for (const [name, policy] of Object.entries(input.groups ?? {})) {
    if (policy.push === undefined) continue;
    const topic = o.topics.find((t) => t.name === policy.topic);
    if (!topic)
      throw new OptionsError(`groups.${name}.topic`, 'must name a configured topic for a push group');
    topic.pushGroups = [...(topic.pushGroups ?? []), name];
  }
  return o;
}

/** The environment variables withEnvironment reads: each overrides the config file. */
export const POD_ENVIRONMENT = [
  'HERALD_MYSQL_URL',
  'HERALD_ADVERTISED_ADDRESS',
  'HERALD_POD_NAME',
  'HERALD_ZONE',
  'HERALD_META_ADDRESS',
] as const;

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
  const addresses = String(m.address ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (addresses.length === 0) throw new OptionsError('meta.address', 'must name at least one host:port');
  addresses.forEach((a) => check('meta.address', a, hostPort));
  const { safetyMarginSeconds } = resolve('meta.leases', SAFETY_MARGIN, m.leases);
  return { ...resolve('meta', META, m), addresses, safetyMarginMs: Math.round(safetyMarginSeconds * 1000) };
}

/** A group's policy with the CRD's defaults, its errors naming the option's field. */
function groupPolicy(prefix: string, input: GroupPolicyInput): GroupPolicy {
  try {
    return resolveGroupPolicy(input);
  } catch (err) {
    if (err instanceof OptionsError)
      throw new OptionsError(`${prefix}.${err.field}`, err.message.slice(err.field.length + 1));
    throw err;
  }
}
