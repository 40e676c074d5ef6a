// What the Topic and ConsumerGroup controllers need from a pool's message store: create and
// drop a topic's tables, and read offsets for lag. Creating tables and reading offsets go
// through the broker's own MessageStore (broker/storage), so its SQL is never repeated here.
//
// The broker's MessageStore has no way to drop a topic yet; dropTopic runs the one DROP
// statement below, built with the broker's own table-name function. It belongs in
// broker/storage/mysql/sql.ts (and MessageStore) and should move there.
import mysql from 'mysql2/promise';
import type { Logger } from '../../broker/logger';
import { createMysqlStore } from '../../broker/storage/mysql/mysql-store';
import { messageTable } from '../../broker/storage/mysql/sql';
import type { MessageStore } from '../../broker/storage/storage';

export interface TopicStorage {
  /** Creates the topic's partitions (idempotent; partitions only grow). */
  ensureTopic(topic: string, partitions: number): Promise<void>;
  /** Drops every table of the topic's partitions (idempotent). */
  dropTopic(topic: string, partitions: number): Promise<void>;
  /** The message store itself, for offsets and lag. */
  readonly messages: MessageStore;
  close(): Promise<void>;
}

/** Drops one partition's message table. Params: none; the name is validated by messageTable. */
const dropMessageTable = (topic: string, partition: number) =>
  `DROP TABLE IF EXISTS ${messageTable(topic, partition)}`;

export async function openMysqlTopicStorage(url: string, logger: Logger): Promise<TopicStorage> {
  const messages = await createMysqlStore({
    url,
    poolSize: 4,
    connectTimeoutMs: 5_000,
    queryTimeoutMs: 60_000,
    logger,
  });
  return {
    messages,
    ensureTopic: (topic, partitions) => messages.ensureTopic(topic, partitions),
    async dropTopic(topic, partitions) {
      const conn = await mysql.createConnection({ uri: url, connectTimeout: 5_000 });
      try {
        for (let p = 0; p < partitions; p++) await conn.query(dropMessageTable(topic, p));
      } finally {
        await conn.end();
      }
    },
    close: () => messages.close(),
  };
}

/** Opens one TopicStorage per distinct database URL and keeps it. */
export class TopicStorages {
  private readonly open = new Map<string, Promise<TopicStorage>>();

  constructor(private readonly opener: (url: string) => Promise<TopicStorage>) {}

  get(url: string): Promise<TopicStorage> {
    let storage = this.open.get(url);
    if (!storage) {
      storage = this.opener(url);
      // A failed open is retried by the next caller.
      storage.catch(() => this.open.delete(url));
      this.open.set(url, storage);
    }
    return storage;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(all.map(async (s) => (await s).close()));
  }
}
