// The storage layer's one entry point: the interfaces the broker core and the operator program
// against, and the factory that opens a pool's stores. No connection, transaction or driver type
// crosses it. Adapters live in storage/<kind>/ and are reached only through openStorage (lint
// enforces it for broker/).
//
// A pool has one "pool store" (MySQL, or memory for tests and development) that holds, for every topic, the
// retry schedules, dead letters, delayed messages, traces and the command log, and one
// message store per storage kind its topics use (a Topic's spec.storage). Each message store
// declares its capabilities; the core refuses a feature a topic's storage lacks
// (requireCapability), never asking which adapter it is.
import { HeraldError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { StorageKind } from './capabilities';
import type { DelayStore } from './delay-store';
import type { KafkaOptions } from '../common/broker-options';
import { createKafkaStore } from './kafka/kafka-store';
import type { KafkaStore } from './kafka/kafka-store';
import { createMemoryStore } from './memory/memory-store';
import type { MemoryStoreOptions, MemoryStores } from './memory/memory-store';
import { createMysqlStore } from './mysql/mysql-store';
import type { MysqlStoreOptions } from './mysql/mysql-store';
import type { AdapterStores } from './adapter';
import type { RetryStore } from './retry-store';
import type { MessageStore } from './storage';
import type { TraceStore } from './trace-store';

export type { StorageCapabilities, StorageKind } from './capabilities';
export type { MemoryStoreOptions } from './memory/memory-store';
export type { KafkaStore, KafkaTopicSettings } from './kafka/kafka-store';
export { CAPABILITY_FEATURES, requireCapability } from './capabilities';
export { broadcastConsumerOf, groupOfKey, subscriptionKey } from './subscription';
export type * from './storage';
export type * from './retry-store';
export type * from './delay-store';
export type * from './trace-store';

/** Which store is the pool store; exactly one of the two. */
export type StorageConfig =
  | {
      /**
       * The pool's MySQL: the messages of `storage: mysql` topics, and the retries, dead
       * letters, delayed messages, traces and commands of every topic.
       */
      mysql: Omit<MysqlStoreOptions, 'logger'>;
      /** The pool's Kafka, for the messages of `storage: kafka` topics; unset: the pool has none. */
      kafka?: KafkaOptions & { clientId: string };
    }
  | {
      /** Everything in this process's memory, lost when it ends: `storage: memory` topics only. */
      memory: MemoryStoreOptions;
    };

/** A pool's stores, opened once per process. */
export interface Storage {
  /** The message store of topics with this storage kind; INVALID_REQUEST when the pool has none. */
  messages(kind: StorageKind): MessageStore;
  readonly retries: RetryStore;
  readonly delays: DelayStore;
  readonly traces: TraceStore;
  /** Resolves when every store answers; throws STORAGE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function openStorage(config: StorageConfig, logger: Logger): Promise<Storage> {
  const pool: AdapterStores =
    'memory' in config
      ? memoryStores(createMemoryStore(config.memory))
      : await createMysqlStore({ ...config.mysql, logger: logger.namespace('mysql') });
  let kafka: MessageStore | undefined;
  try {
    if ('mysql' in config && config.kafka)
      kafka = await createKafkaStore({ ...config.kafka, logger: logger.namespace('kafka') });
  } catch (err) {
    await pool.close();
    throw err;
  }
  return {
    messages(kind) {
      if (kind === pool.messages.kind) return pool.messages;
      if (kind === 'kafka' && kafka) return kafka;
      throw new HeraldError('INVALID_REQUEST', `this pool has no ${kind} storage configured`, {
        storage: kind,
      });
    },
    retries: pool.retries,
    delays: pool.delays,
    traces: pool.traces,
    ping: async () => {
      await Promise.all([pool.ping(), ...(kafka ? [kafka.ping()] : [])]);
    },
    close: async () => {
      await Promise.all([pool.close(), ...(kafka ? [kafka.close()] : [])]);
    },
  };
}

/** The memory store, one object, as the stores of a pool. */
function memoryStores(store: MemoryStores): AdapterStores {
  return {
    messages: store,
    retries: store,
    delays: store,
    traces: store,
    ping: () => store.ping(),
    close: () => store.close(),
  };
}

/**
 * A pool's Kafka on its own, without the pool store: the operator creates and configures Kafka
 * topics and reads and sets groups' Kafka offsets through it.
 */
export function openKafkaStore(
  config: KafkaOptions & { clientId: string },
  logger: Logger,
): Promise<KafkaStore> {
  return createKafkaStore({ ...config, logger });
}
