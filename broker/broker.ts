// Assembles a broker: store, owned partitions (log + writer each), publish and delivery
// paths, the gRPC server with health and reflection, and the metrics endpoint; and takes it
// apart again in the order that loses nothing.
import { loadProtos } from '../proto/load';
import { Delivery } from './delivery/delivery';
import { PartitionLog } from './delivery/partition-log';
import type { Logger } from '../client/logger';
import { BrokerMetrics } from './metrics';
import type { LagSample } from './metrics';
import { resolveOptions } from './options';
import type { BrokerOptions, BrokerOptionsInput, MetaOptions, TopicOptions } from './options';
import { StandaloneOwnership } from './ownership';
import type { Ownership } from './ownership';
import { GroupCommitter } from './publish/group-committer';
import { PartitionWriter } from './publish/partition-writer';
import { Publisher } from './publish/publisher';
import { adminHandlers } from './server/admin-service';
import { brokerHandlers } from './server/broker-service';
import { startGrpcServer } from './server/grpc-server';
import { startMetricsServer } from './server/metrics-http';
import { StorageHealth } from './storage/health';
import { createMysqlStore } from './storage/mysql/mysql-store';
import type { MysqlStores } from './storage/mysql/mysql-store';
import { StaticGroupPolicies } from './delivery/group-policy';
import type { Tracer } from './trace/tracer';
import { Topics, partitionKey } from './topics';
import { MetaConnection } from '../client/meta/lease-client';
import { MetaConsumerLeaseGuard, NO_CONSUMER_LEASES } from './lease/consumer-leases';
import { LeaseOwnership } from './lease/lease-ownership';
import { RouteTable } from './lease/route-table';
import { Forwarder, LOCAL_ONLY } from './server/forwarding';
import type { PartitionRef } from './storage/storage';

export interface Broker {
  options: BrokerOptions;
  /** host:port of the gRPC server. */
  address: string;
  /** host:port of the /metrics endpoint. */
  metricsAddress: string;
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
): Promise<Broker> {
  const options = resolveOptions(input);
  const store: MysqlStores = await createMysqlStore({
    ...options.mysql,
    logger: logger.namespace('storage'),
  });
  try {
    return await assemble(options, store, ownership, logger);
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function assemble(
  options: BrokerOptions,
  store: MysqlStores,
  ownership: Ownership,
  logger: Logger,
): Promise<Broker> {
  const cluster = options.meta
    ? leaseMode(options.meta, options.advertisedAddress, (t) => topics.define(t), logger)
    : undefined;
  const topics = new Topics(options.topics, cluster?.ownership ?? ownership);
  const health = new StorageHealth(store, options.mysql.pingIntervalMs, logger.namespace('storage'));
  const logs = new Map<string, PartitionLog>();
  const writers = new Map<string, PartitionWriter>();
  // Collected only on scrapes, after `delivery` exists.
  const metrics: BrokerMetrics = new BrokerMetrics((): LagSample[] => delivery.lagSamples());
  const committer = new GroupCommitter(
    store,
    {
      maxRows: options.publish.maxBatchRows,
      maxBytes: options.publish.maxBatchBytes,
      lingerMs: options.publish.lingerMs,
      maxCommitBytes: options.publish.maxCommitBytes,
      maxConcurrentCommits: options.publish.maxConcurrentCommits,
    },
    metrics,
    logger.namespace('publish'),
    (err) => health.failed(err),
  );
  /** Loads a partition to serve: its end offset, and a log and writer starting there. */
  const load = async (ref: PartitionRef): Promise<number> => {
    const endOffset = await store.lastOffset(ref);
    const known = writers.get(partitionKey(ref));
    if (known) {
      known.takeOver(endOffset);
      return endOffset;
    }
    const log = new PartitionLog(ref, endOffset, {
      maxMessages: options.delivery.tailCacheMessages,
      maxBytes: options.delivery.tailCacheBytes,
    });
    const writer = new PartitionWriter(store, log, metrics, logger.namespace('publish'));
    logs.set(partitionKey(ref), log);
    writers.set(partitionKey(ref), writer);
    committer.add(writer);
    return endOffset;
  };
  // Standalone: every configured topic, provisioned here. Lease mode: the operator provisions
  // tables, and partitions are loaded as their leases arrive.
  for (const t of topics.all()) {
    await store.ensureTopic(t.name, t.partitions);
    for (const ref of topics.ownedPartitions(t.name)) await load(ref);
  }
  // MERGE POINT: the batching TraceWriter (broker/trace/trace-writer.ts, built on another
  // branch) replaces this tracer, which discards every event.
  const tracer: Tracer = { record: () => undefined };
  const delivery: Delivery = new Delivery(
    {
      topics,
      logs,
      store,
      retries: store,
      metrics,
      logger: logger.namespace('delivery'),
      leases: cluster?.consumerLeases ?? NO_CONSUMER_LEASES,
      policies: cluster?.consumerLeases ?? new StaticGroupPolicies(options.groups, options.defaultGroup),
      tracer,
    },
    options.delivery,
  );
  const publisher = new Publisher(topics, writers, committer, health, options.publish, metrics);
  const protos = loadProtos().grpc.herald.v1;
  const grpcServer = await startGrpcServer(options.listen, [
    {
      name: 'herald.v1.Broker',
      definition: protos.Broker.service,
      handlers: brokerHandlers(
        publisher,
        delivery,
        cluster?.router ?? LOCAL_ONLY,
        logger.namespace('server'),
      ),
    },
    {
      name: 'herald.v1.Admin',
      definition: protos.Admin.service,
      handlers: adminHandlers(delivery, store, tracer),
    },
  ]);
  const metricsServer = await startMetricsServer(
    options.metricsListen,
    metrics.registry,
    logger.namespace('metrics'),
  );
  let stopping = false;
  metrics.storageUp.set(1);
  health.onChange((available) => {
    metrics.storageUp.set(available ? 1 : 0);
    grpcServer.setServing(available && !stopping);
  });
  health.start();
  grpcServer.setServing(true);
  cluster?.ownership.start({
    acquired: async (ref) => {
      const endOffset = await load(ref);
      delivery.forget(ref);
      return endOffset;
    },
    lost: (ref) => delivery.forget(ref),
  });
  logger.info('broker started', {
    address: grpcServer.address,
    metricsAddress: metricsServer.address,
    topics: options.topics.map((t) => t.name),
    ...(options.meta ? { brokerId: options.meta.brokerId, meta: options.meta.addresses } : {}),
  });

  let shutdown: Promise<void> | undefined;
  const stop = async () => {
    stopping = true;
    grpcServer.setServing(false);
    const closed = new Promise<void>((resolve) => grpcServer.server.tryShutdown(() => resolve()));
    await committer.drain();
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
    health.stop();
    await metricsServer.close();
    await store.close();
    logger.info('broker stopped');
  };
  return {
    options,
    address: grpcServer.address,
    metricsAddress: metricsServer.address,
    shutdown: () => (shutdown ??= stop()),
  };
}

/** The lease-mode parts: ownership by lease, routes and forwarding, consumer-lease checks. */
function leaseMode(
  meta: MetaOptions,
  advertisedAddress: string,
  defineTopic: (t: TopicOptions) => void,
  logger: Logger,
) {
  const conn = new MetaConnection(meta.addresses);
  const routes = new RouteTable(conn, meta.namespace, meta.routeTtlMs, defineTopic);
  const router = new Forwarder(
    routes,
    { id: meta.brokerId, address: advertisedAddress },
    logger.namespace('forward'),
  );
  return {
    ownership: new LeaseOwnership(meta, advertisedAddress, routes, logger.namespace('leases')),
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
