// Assembles a broker: its stores (openStorage; each topic writes to the message store of its
// storage kind), owned partitions (log + writer each), publish and delivery
// paths, the gRPC server with health and reflection, and the metrics endpoint; and takes it
// apart again in the order that loses nothing.
import { loadProtos } from '../proto/load';
import { HeraldError } from '../common/errors';
import { Delivery } from './delivery/delivery';
import { CacheBudget, PartitionLog } from './delivery/partition-log';
import type { Logger } from '../common/logger';
import { BrokerMetrics } from './metrics';
import type { LagSample } from './metrics';
import { resolveOptions } from '../common/broker-options';
import type { BrokerOptions, BrokerOptionsInput, MetaOptions, TopicOptions } from '../common/broker-options';
import { StandaloneOwnership } from './ownership';
import type { Ownership } from './ownership';
import { GroupCommitter } from './publish/group-committer';
import { OffsetCommitter } from './delivery/offset-committer';
import { PartitionWriter } from './publish/partition-writer';
import { Publisher } from './publish/publisher';
import { messageSize } from '../common/message-size';
import { Delays } from './delay/delays';
import { Maintenance } from './maintenance';
import type { DelayedMessage } from '../storage/delay-store';
import { adminHandlers } from './server/admin-service';
import { BROKER_IN_BAND_REFUSALS, brokerHandlers } from './server/broker-service';
import { brokerServiceDefinition } from './server/delivery-encoding';
import { startGrpcServer } from '../common/grpc/server';
import { rpcMetrics } from '../common/grpc/rpc-metrics';
import { securityMetrics, metricsTlsOf, startServerSecurity } from '../common/security/server-security';
import type { ServerSecurity } from '../common/security/server-security';
import { BROKER_ACCESS_BY_PATH } from './security/access-table';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { startMetricsServer } from '../common/metrics-http';
import { httpGateway } from './server/http-gateway';
import { startHttpServer } from '../common/http/server';
import { StorageHealth } from './storage-health';
import { openStorage } from '../storage/index';
import type { MessageStore, Storage, StorageConfig } from '../storage/index';
import { CommandPoller } from './commands/command-poller';
import { LogExpiry } from './trace/log-expiry';
import { TraceWriter } from './trace/trace-writer';
import { NO_TRACE } from './trace/tracer';
import { refusalEvents } from './trace/refusal-events';
import { dispatchedEvent } from './trace/publish-events';
import { StaticGroupPolicies } from '../common/group-policy';
import { Topics, partitionKey } from './topics';
import { MetaConnection } from '../common/meta-client';
import { MetaConsumerLeaseGuard, NO_CONSUMER_LEASES } from './lease/consumer-leases';
import { LeaseOwnership } from './lease/lease-ownership';
import { RouteTable } from './lease/route-table';
import { Forwarder, LOCAL_ONLY } from './server/forwarding';
import type { PartitionRef } from '../storage/storage';
import { Pushes } from './push/pushes';
import type { PushReport__Input } from '../proto/gen/herald/v1/PushReport';

export interface Broker {
  options: BrokerOptions;
  /** host:port of the gRPC server. */
  address: string;
  /** host:port of the /metrics endpoint. */
  metricsAddress: string;
  /** host:port of the REST gateway. */
  httpAddress: string;
  /** Stops accepting calls, answers every pending publish, stores offsets, closes. */
  shutdown(): Promise<void>;
}

/**
 * Starts a broker. With `meta` in the options it runs in lease mode (partitions leased by the
 * meta-server, topics from it, calls forwarded to owners); otherwise standalone, owning every
 * partition of the configured topics, or what `ownership` says (tests).
 */
export async function startBroker(
  input: BrokerOptionsInput,
  logger: Logger,
  ownership: Ownership = new StandaloneOwnership(),
  /** Tests: stores opened by the caller (a memory store with fewer capabilities); closed at shutdown. */
  opened?: Storage,
): Promise<Broker> {
  const options = resolveOptions(input);
  const security = await startServerSecurity(
    options.security,
    BROKER_ACCESS_BY_PATH,
    logger.namespace('security'),
  );
  try {
    const storage = opened ?? (await openStorage(storageConfig(options), logger.namespace('storage')));
    try {
      return await assemble(options, storage, security, ownership, logger);
    } catch (err) {
      await storage.close();
      throw err;
    }
  } catch (err) {
    await security.stop();
    throw err;
  }
}

function storageConfig(options: BrokerOptions): StorageConfig {
  if (options.storage === 'memory') return { memory: {} };
  const { url, poolSize, connectTimeoutMs, queryTimeoutMs } = options.mysql;
  return {
    mysql: { url, poolSize, connectTimeoutMs, queryTimeoutMs },
    ...(options.kafka
      ? { kafka: { ...options.kafka, clientId: `herald-${options.meta?.brokerId ?? 'broker'}` } }
      : {}),
  };
}

async function assemble(
  options: BrokerOptions,
  storage: Storage,
  security: ServerSecurity,
  ownership: Ownership,
  logger: Logger,
): Promise<Broker> {
  const cluster = options.meta
    ? leaseMode(
        options.meta,
        options.advertisedAddress,
        (t) => topics.define(t),
        security.peerCredentials,
        () => pushes.reports(),
        logger,
      )
    : undefined;
  const topics = new Topics(options.topics, cluster?.ownership ?? ownership);
  /** The message store of a topic: the one of its storage kind. */
  const storeOf = (topic: string): MessageStore => storage.messages(topics.topic(topic).storage);
  // Traces name the recording broker: its id in lease mode, else its address once bound.
  let brokerId = options.meta?.brokerId ?? options.advertisedAddress;
  const identity = () => brokerId;
  const health = new StorageHealth(storage, options.mysql.pingIntervalMs, logger.namespace('storage'));
  const logs = new Map<string, PartitionLog>();
  const tailBudget = new CacheBudget(options.delivery.tailCacheTotalBytes);
  const writers = new Map<string, PartitionWriter>();
  // Collected only on scrapes, after `delivery` exists.
  const metrics: BrokerMetrics = new BrokerMetrics((): LagSample[] => delivery.lagSamples());
  securityMetrics(security, metrics.registry);
  const traceWriter = options.trace.enabled
    ? new TraceWriter(
        storage.traces,
        {
          broker: identity,
          flushIntervalMs: options.trace.flushIntervalMs,
          maxBatchEvents: options.trace.maxBatchEvents,
          maxBufferedEvents: options.trace.maxBufferedEvents,
          logIntervalMs: 10_000,
        },
        metrics,
        logger.namespace('trace'),
      )
    : undefined;
  const tracer = traceWriter ?? NO_TRACE;
  security.onRefusal((refusal) => refusalEvents(refusal).forEach((e) => tracer.record(e)));
  // Acked offsets: they ride on the group commits (when the store can), else are written apart.
  const offsets = new OffsetCommitter(
    storeOf,
    options.delivery.commitIntervalMs,
    logger.namespace('delivery'),
    metrics.offsetWrite,
  );
  // Group commit: one committer per message store, each writing that store's partitions.
  const committers = new Map<MessageStore, GroupCommitter>();
  const committerOf = (topic: string): GroupCommitter => {
    const store = storeOf(topic);
    let committer = committers.get(store);
    if (!committer) {
      committer = new GroupCommitter(
        store,
        {
          maxRows: options.publish.maxBatchRows,
          maxBytes: options.publish.maxBatchBytes,
          lingerMs: options.publish.lingerMs,
          maxCommitBytes: options.publish.maxCommitBytes,
          maxConcurrentCommits: options.publish.maxConcurrentCommits,
          slowCommitMs: options.publish.slowCommitMs,
        },
        metrics,
        logger.namespace('publish'),
        (err) => health.failed(err),
        { trace: traceWriter, offsets },
      );
      committers.set(store, committer);
    }
    return committer;
  };
  /** Appends delayed messages that fell due through the group commit (owner-allocated offsets). */
  const dispatch = async (ref: PartitionRef, due: DelayedMessage[]): Promise<void> => {
    const writer = writers.get(partitionKey(ref));
    if (!writer) throw new HeraldError('NOT_PARTITION_OWNER', `${partitionKey(ref)} is not loaded`);
    const messages = due.map((d) => ({ ...d.message, scheduled: { id: d.id, deliverAt: d.deliverAt } }));
    const bytes = messages.reduce((n, m) => n + messageSize(m), 0);
    const firstOffset = await committerOf(ref.topic).publish(writer, messages, bytes);
    const now = Date.now();
    due.forEach((d, i) => tracer.record(dispatchedEvent(ref, firstOffset + i, d)));
    metrics.delayedDispatched.inc({ topic: ref.topic }, due.length);
    for (const d of due) metrics.delayedLateness.observe((now - d.deliverAt) / 1000);
  };
  const delays = new Delays(
    storage.delays,
    options.delay,
    options.publish.maxBatchRows,
    dispatch,
    metrics,
    logger.namespace('delay'),
  );
  const maintenance = new Maintenance(
    topics,
    logs,
    storeOf,
    options.retention,
    metrics,
    logger.namespace('maintenance'),
  );
  /** Stops following a partition (stores that allocate offsets feed its log by following it). */
  const unfollow = new Map<string, () => void>();
  /**
   * Loads a partition to serve: its end offset, a log and writer starting there, its delays, and
   * (for a store that allocates offsets) a follower feeding the log from there.
   */
  const load = async (ref: PartitionRef): Promise<number> => {
    const store = storeOf(ref.topic);
    const endOffset = await store.lastOffset(ref);
    const key = partitionKey(ref);
    let log = logs.get(key);
    const known = writers.get(key);
    if (log && known) {
      known.takeOver(endOffset);
    } else {
      log = new PartitionLog(ref, endOffset, {
        maxMessages: options.delivery.tailCacheMessages,
        maxBytes: options.delivery.tailCacheBytes,
        budget: tailBudget,
      });
      const writer = new PartitionWriter(store, log, metrics, logger.namespace('publish'), () =>
        topics.ownedPartition(ref.topic, ref.partition),
      );
      logs.set(key, log);
      writers.set(key, writer);
      committerOf(ref.topic).add(writer);
    }
    await maintenance.maintain(ref);
    if (store.follow) {
      const fed = log;
      unfollow.get(key)?.();
      unfollow.set(
        key,
        store.follow(ref, endOffset, {
          appended: (messages) => fed.appended(messages),
          truncated: (end) => fed.reset(end),
        }),
      );
    }
    if (store.capabilities.delayedMessages) delays.acquired(ref);
    return endOffset;
  };
  const unload = (ref: PartitionRef) => {
    unfollow.get(partitionKey(ref))?.();
    unfollow.delete(partitionKey(ref));
  };
  // Standalone: every configured topic, provisioned here. Lease mode: the operator provisions
  // tables, and partitions are loaded as their leases arrive.
  for (const t of topics.all()) {
    await storeOf(t.name).ensureTopic(t.name, t.partitions, options.retention.segmentMessages);
    for (const ref of topics.ownedPartitions(t.name)) await load(ref);
  }
  const delivery: Delivery = new Delivery(
    {
      topics,
      logs,
      stores: storeOf,
      retries: storage.retries,
      metrics,
      logger: logger.namespace('delivery'),
      leases: cluster?.consumerLeases ?? NO_CONSUMER_LEASES,
      policies: cluster?.consumerLeases ?? new StaticGroupPolicies(options.groups, options.defaultGroup),
      tracer,
      offsets,
    },
    options.delivery,
  );
  const pushes: Pushes = new Pushes(
    topics,
    {
      delivery,
      policies: cluster?.consumerLeases ?? new StaticGroupPolicies(options.groups, options.defaultGroup),
      tracer,
      metrics,
      logger: logger.namespace('push'),
      options: options.push,
    },
    options.push.reconcileIntervalMs,
  );
  const publisher = new Publisher(
    topics,
    writers,
    committerOf,
    health,
    options.publish,
    metrics,
    delays,
    options.delay,
    tracer,
  );
  const commands = new CommandPoller(
    storage.traces,
    delivery,
    (ref) => logs.has(partitionKey(ref)) && (cluster?.ownership ?? ownership).owner(ref).owned,
    { intervalMs: options.commands.pollIntervalMs, batch: 100 },
    logger.namespace('commands'),
  );
  await commands.start();
  const expiry = new LogExpiry(
    storage.traces,
    {
      intervalMs: options.trace.expireIntervalMs,
      traceRetentionMs: options.trace.retentionHours * 3_600_000,
      commandRetentionMs: options.commands.retentionMs,
    },
    logger.namespace('trace'),
  );
  // Admin calls for topics this broker has not met yet learn them from the meta-server.
  const topicOf = async (name: string) => {
    try {
      return topics.topic(name);
    } catch (err) {
      if (!cluster || !(err instanceof HeraldError) || err.reason !== 'TOPIC_NOT_FOUND') throw err;
      return (await cluster.routes.refresh(name)).topic;
    }
  };
  const loaded = loadProtos();
  const protos = loaded.grpc.herald.v1;
  const handlers = brokerHandlers(
    publisher,
    delivery,
    cluster?.router ?? LOCAL_ONLY,
    logger.namespace('server'),
    metrics,
  );
  const grpcServer = await startGrpcServer({
    listen: options.listen,
    services: [
      {
        name: 'herald.v1.Broker',
        definition: brokerServiceDefinition(),
        handlers,
      },
      {
        name: 'herald.v1.Admin',
        definition: protos.Admin.service,
        handlers: adminHandlers(
          delivery,
          {
            messages: (t) => storage.messages(t.storage),
            traces: storage.traces,
            retries: storage.retries,
            topic: topicOf,
            broker: identity,
            tracer,
          },
          logger.namespace('server'),
        ),
      },
    ],
    reflection: loaded.reflection,
    // Metrics first: refused calls are counted by RPC too.
    interceptors: [rpcMetrics(metrics.registry), ...security.interceptors],
    inBandRefusals: BROKER_IN_BAND_REFUSALS,
    credentials: security.credentials,
  });
  if (!options.meta && options.advertisedAddress === options.listen) brokerId = grpcServer.address;
  const metricsServer = await startMetricsServer(
    options.metricsListen,
    metrics.registry,
    logger.namespace('metrics'),
    () => serving,
    metricsTlsOf(options.security),
  );
  // The same handlers and security interceptors as gRPC; HTTP requests are counted by the
  // gateway (herald_http_server_*), not as gRPC calls.
  const httpServer = await startHttpServer({
    listen: options.httpListen,
    tls: options.security.tls,
    handler: httpGateway(
      handlers,
      security.interceptors,
      { namespace: options.meta?.namespace ?? 'default', maxRequestBytes: options.publish.maxRequestBytes },
      metrics,
      logger.namespace('http'),
    ),
  });
  let stopping = false;
  /** What grpc.health.v1 answers for the whole server, and /readyz too. */
  let serving = false;
  const serve = (on: boolean) => {
    serving = on;
    grpcServer.setServing(on);
  };
  metrics.storageUp.set(1);
  health.onChange((available) => {
    metrics.storageUp.set(available ? 1 : 0);
    serve(available && !stopping);
  });
  health.start();
  maintenance.start();
  traceWriter?.start();
  expiry.start();
  serve(true);
  pushes.start();
  cluster?.ownership.start({
    acquired: async (ref) => {
      const endOffset = await load(ref);
      delivery.forget(ref);
      return endOffset;
    },
    lost: (ref) => {
      unload(ref);
      delays.lost(ref);
      delivery.forget(ref);
    },
  });
  logger.info('broker started', {
    address: grpcServer.address,
    metricsAddress: metricsServer.address,
    httpAddress: httpServer.address,
    topics: options.topics.map((t) => t.name),
    ...(options.meta ? { brokerId: options.meta.brokerId, meta: options.meta.addresses } : {}),
  });

  let shutdown: Promise<void> | undefined;
  const stop = async () => {
    stopping = true;
    serve(false);
    const closed = new Promise<void>((resolve) => grpcServer.server.tryShutdown(() => resolve()));
    // New HTTP connections are refused; requests on open ones are answered (SHUTTING_DOWN).
    const httpClosed = httpServer.close(options.shutdownTimeoutMs);
    // Delayed publishes are answered and due messages stop entering the write queues first.
    await delays.stop();
    await Promise.all([...committers.values()].map((c) => c.drain()));
    await maintenance.stop();
    await commands.stop();
    await expiry.stop();
    // Requests in flight end (answer or timeout) and are settled before delivery stops.
    await pushes.stop();
    await delivery.stop();
    // Nothing is written any more: hand the partitions over now rather than at expiry.
    await cluster?.ownership.stop({ release: true });
    cluster?.close();
    const timeout = new Promise<'timeout'>((resolve) =>
      setTimeout(resolve, options.shutdownTimeoutMs, 'timeout').unref(),
    );
    if ((await Promise.race([closed, timeout])) === 'timeout') {
      logger.warn('calls still running at shutdown timeout; cancelling them');
      grpcServer.server.forceShutdown();
    }
    await httpClosed;
    health.stop();
    // After the last call: every event recorded is written (or dropped, if the store is down).
    await traceWriter?.stop();
    await metricsServer.close();
    for (const stop of unfollow.values()) stop();
    await storage.close();
    await security.stop();
    logger.info('broker stopped');
  };
  return {
    options,
    address: grpcServer.address,
    metricsAddress: metricsServer.address,
    httpAddress: httpServer.address,
    shutdown: () => (shutdown ??= stop()),
  };
}

/** The lease-mode parts: ownership by lease, routes and forwarding, consumer-lease checks. */
function leaseMode(
  meta: MetaOptions,
  advertisedAddress: string,
  defineTopic: (t: TopicOptions) => void,
  credentials: () => ChannelCredentials,
  pushReports: () => PushReport__Input[],
  logger: Logger,
) {
  const metaCredentials = meta.plaintext ? () => grpcCredentials.createInsecure() : credentials;
  const conn = new MetaConnection(meta.addresses, metaCredentials);
  const routes = new RouteTable(conn, meta.namespace, meta.routeTtlMs, defineTopic);
  const router = new Forwarder(
    routes,
    { id: meta.brokerId, address: advertisedAddress },
    logger.namespace('forward'),
    credentials,
  );
  return {
    ownership: new LeaseOwnership(
      meta,
      advertisedAddress,
      routes,
      logger.namespace('leases'),
      metaCredentials,
      pushReports,
    ),
    routes,
    router,
    consumerLeases: new MetaConsumerLeaseGuard(conn, meta.namespace, {
      safetyMarginMs: meta.safetyMarginMs,
      maxAgeMs: meta.consumerLeaseCacheMs,
    }),
    close: () => {
      router.close();
      conn.close();
    },
  };
}
