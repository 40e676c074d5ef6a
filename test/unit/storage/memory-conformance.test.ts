// The memory adapter against the shared conformance suite (no I/O, so it runs with the unit
// tests), with every capability and with the ones a test may take away.
import { createMemoryStore } from '../../../storage/memory/memory-store';
import type { MemoryStoreOptions } from '../../../storage/memory/memory-store';
import { describeStorageConformance } from '../../storage-conformance';

const memory =
  (options: MemoryStoreOptions = {}) =>
  () => {
    const store = createMemoryStore(options);
    return Promise.resolve({
      messages: store,
      retries: store,
      delays: store,
      traces: store,
      close: () => store.close(),
    });
  };

describeStorageConformance(
  'memory',
  {
    priorityLanes: true,
    delayedMessages: true,
    ownerFencing: true,
    atomicMultiPartitionAppend: true,
    segmentRetention: true,
    traceInAppend: true,
    offsetsInAppend: true,
  },
  memory(),
);

describeStorageConformance(
  'memory with reduced capabilities',
  {
    priorityLanes: false,
    delayedMessages: false,
    ownerFencing: true,
    atomicMultiPartitionAppend: false,
    segmentRetention: false,
    traceInAppend: false,
    offsetsInAppend: false,
  },
  memory({
    capabilities: {
      priorityLanes: false,
      delayedMessages: false,
      atomicMultiPartitionAppend: false,
      segmentRetention: false,
      traceInAppend: false,
      offsetsInAppend: false,
    },
  }),
);
