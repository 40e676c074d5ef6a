// What the Topic and ConsumerGroup controllers need from a pool's message store: create and
// drop a topic's tables, and read offsets for lag. All of it goes through the broker's own
// MessageStore, opened through the storage factory (storage/index.ts), so its SQL is never
// repeated here.
import type { Logger } from '../../common/logger';
import { openStorage } from '../../storage/index';
import type { MessageStore, RetryStore } from '../../storage/index';

/** What a Topic's spec sets on its storage besides partitions. */
export interface TopicSettings {
  /** spec.retention.hours (MySQL: the brokers drop old segments; Kafka: the topic's retention.ms). */
  retentionHours: number;
}

/** Creates, grows and drops a topic's storage. */
export interface TopicProvisioner {
  /** Creates the topic's partitions and applies its settings (idempotent; partitions only grow). */
  ensureTopic(topic: string, partitions: number, settings: TopicSettings): Promise<void>;
  /** Drops everything stored for the topic (idempotent). */
  dropTopic(topic: string, partitions: number): Promise<void>;
  close(): Promise<void>;
}

/** A pool's MySQL storage: provisioning, and the message store itself for offsets and lag. */
export interface TopicStorage extends TopicProvisioner {
  readonly messages: MessageStore;
  /** Dead letters, for their retention (ConsumerGroup spec.deadLetter.retentionHours). */
  readonly retries: Pick<RetryStore, 'expireDeadLetters' | 'dropResends' | 'purgeDeadLetters'>;
}

export async function openMysqlTopicStorage(url: string, logger: Logger): Promise<TopicStorage> {
  const storage = await openStorage(
    { mysql: { url, poolSize: 4, connectTimeoutMs: 5_000, queryTimeoutMs: 60_000 } },
    logger,
  );
  const messages = storage.messages('mysql');
  return {
    messages,
    retries: storage.retries,
    ensureTopic: (topic, partitions) => messages.ensureTopic(topic, partitions),
    dropTopic: (topic, partitions) => messages.dropTopic(topic, partitions),
    close: () => storage.close(),
  };
}

/** Opens one connection (store, admin client) per distinct address and keeps it. */
export class Connections<T extends { close(): Promise<void> }> {
  private readonly open = new Map<string, Promise<T>>();

  constructor(private readonly opener: (address: string) => Promise<T>) {}

  get(address: string): Promise<T> {
    let connection = this.open.get(address);
    if (!connection) {
      connection = this.opener(address);
      // A failed open is retried by the next caller.
      connection.catch(() => this.open.delete(address));
      this.open.set(address, connection);
    }
    return connection;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(all.map(async (c) => (await c).close()));
  }
}
