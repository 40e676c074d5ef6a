// The DeliveryContext of a Delivery alone, as unit tests and bench/delivery-wakes.ts drive it:
// one topic on a memory store, served here without leases, with the default group policy and
// a silent logger.
import { silentLogger } from '../../../common/logger';
import type { DeliveryContext } from '../../../broker/delivery/delivery';
import type { PartitionLog } from '../../../broker/delivery/partition-log';
import { OffsetCommitter } from '../../../broker/delivery/offset-committer';
import { DEFAULTS } from '../../../common/broker-options';
import { StaticGroupPolicies, resolveGroupPolicy } from '../../../common/group-policy';
import { NO_CONSUMER_LEASES } from '../../../broker/lease/consumer-leases';
import { BrokerMetrics } from '../../../broker/metrics';
import { StandaloneOwnership } from '../../../broker/ownership';
import type { MemoryStores } from '../../../storage/memory/memory-store';
import type { Tracer } from '../../../broker/trace/tracer';
import { Topics } from '../../../broker/topics';

export function standaloneDeliveryContext(
  topic: { name: string; partitions: number; maxMessageBytes: number },
  logs: Map<string, PartitionLog>,
  store: MemoryStores,
  {
    tracer = { record: () => undefined },
    commitIntervalMs = DEFAULTS.delivery.commitIntervalMs,
  }: { tracer?: Tracer; commitIntervalMs?: number } = {},
): DeliveryContext {
  return {
    topics: new Topics(
      [{ ...topic, storage: 'memory', priority: false, delay: false, retentionHours: 168 }],
      new StandaloneOwnership(),
    ),
    logs,
    stores: () => store,
    retries: store,
    metrics: new BrokerMetrics(() => []),
    logger: silentLogger,
    leases: NO_CONSUMER_LEASES,
    policies: new StaticGroupPolicies({}, resolveGroupPolicy()),
    tracer,
    offsets: new OffsetCommitter(() => store, commitIntervalMs, silentLogger),
  };
}
