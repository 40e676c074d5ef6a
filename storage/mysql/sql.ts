// Every SQL statement of the MySQL adapter, named and documented with its parameters, and
// the numbered schema migrations. Nothing else in the broker builds SQL. Per-partition table
// names are the only identifiers that vary; they are built and validated here only.
//
// Layout (after Hermes): one insert-only table per topic partition, primary key only,
// PARTITION BY RANGE (id) so that retention can DROP PARTITION instead of DELETE. Message
// ids are the partition offsets and are allocated by the owning broker (fencing: a stale
// owner's INSERT collides on the primary key). Consumer offsets live in consumer_offsets.
//
// Priority: a second table per partition, p_<topic>_<partition>, with the same columns and
// partitioning, holds the priority lane. Both lanes share the partition's offsets. So that
// the primary-key fence covers both lanes, a priority message also leaves a placeholder row
// (lane = 1, empty body) at its offset in the normal table: every offset of the partition
// has exactly one row in m_, a stale owner collides whichever lane it writes, and the last
// offset, the first offset and the offset at a time are read from m_ alone. Normal-lane
// reads skip placeholders. The tables exist for every topic (empty ones cost nothing), so a
// topic can gain spec.priority without a schema change.
import { nameProblem } from '../../common/names';
import { TRACE_MIGRATION } from './trace-sql';
import { RETRY_MIGRATION } from './retry-sql';

import { MAX_SUBSCRIPTION_KEY_LENGTH } from '../subscription';
import type { Migration } from './migration';

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'consumer offsets',
    statements: [
      `CREATE TABLE IF NOT EXISTS consumer_offsets (
         group_name VARCHAR(64) NOT NULL,
         topic VARCHAR(64) NOT NULL,
         partition_id INT UNSIGNED NOT NULL,
         committed_offset BIGINT UNSIGNED NOT NULL,
         updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
         PRIMARY KEY (group_name, topic, partition_id)
       ) ENGINE=InnoDB`,
    ],
  },
  RETRY_MIGRATION,
  TRACE_MIGRATION,
  {
    version: 4,
    name: "subscription keys: room for a broadcast consumer's <group>.<consumer id>",
    statements: [
      `ALTER TABLE consumer_offsets MODIFY group_name VARCHAR(${MAX_SUBSCRIPTION_KEY_LENGTH}) NOT NULL`,
      `ALTER TABLE resends MODIFY group_name VARCHAR(${MAX_SUBSCRIPTION_KEY_LENGTH}) NOT NULL`,
      `ALTER TABLE dead_letters MODIFY group_name VARCHAR(${MAX_SUBSCRIPTION_KEY_LENGTH}) NOT NULL`,
    ],
  },
];

export const SQL = {
  /** Creates the database if needed. Params: none; the name is validated by databaseIdent. */
  createDatabase: (database: string) => `CREATE DATABASE IF NOT EXISTS ${databaseIdent(database)}`,
  /** Serialises concurrent migrators (brokers starting together). Params: [timeoutSeconds]. */
  lockMigrations: `SELECT GET_LOCK('herald_migrations', ?) AS locked`,
  /** Params: none. */
  unlockMigrations: `SELECT RELEASE_LOCK('herald_migrations')`,
  /** Params: none. */
  createMigrationsTable: `CREATE TABLE IF NOT EXISTS herald_schema_migrations (
      version INT UNSIGNED NOT NULL PRIMARY KEY,
      name VARCHAR(200) NOT NULL,
      applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
    ) ENGINE=InnoDB`,
  /** Params: none. Rows: { version }. */
  appliedMigrations: `SELECT version FROM herald_schema_migrations ORDER BY version`,
  /** Params: [version, name]. */
  recordMigration: `INSERT INTO herald_schema_migrations (version, name) VALUES (?, ?)`,

  /**
   * The message table of one topic partition (lane 1: a priority placeholder), range-partitioned
   * by offset as `partitions` says (SEGMENT_SQL.layout). Params: none.
   */
  createMessageTable: (topic: string, partition: number, partitions: string) =>
    createTable(messageTable(topic, partition), partitions),
  /**
   * Message tables created by earlier versions gain the columns added since (instant in
   * MariaDB: columns at the end). Params: none.
   */
  addMessageColumns: (table: string) =>
    `ALTER TABLE ${table}
       ADD COLUMN IF NOT EXISTS scheduled_id BIGINT UNSIGNED NULL,
       ADD COLUMN IF NOT EXISTS deliver_at BIGINT UNSIGNED NULL,
       ADD COLUMN IF NOT EXISTS lane TINYINT UNSIGNED NOT NULL DEFAULT 0`,
  /** The priority table of one topic partition: the message table's layout. Params: none. */
  createPriorityTable: (topic: string, partition: number, partitions: string) =>
    createTable(priorityTable(topic, partition), partitions),
  /** Drops one partition's message table (topic deletion). Params: none. */
  dropMessageTable: (topic: string, partition: number) =>
    `DROP TABLE IF EXISTS ${messageTable(topic, partition)}`,
  /** Params: none. */
  dropPriorityTable: (topic: string, partition: number) =>
    `DROP TABLE IF EXISTS ${priorityTable(topic, partition)}`,
  /** Forgets every group's offsets on a topic (topic deletion). Params: [topic]. */
  deleteTopicOffsets: `DELETE FROM consumer_offsets WHERE topic = ?`,
  /** The highest offset. Params: none. Rows: { last } (0 when empty). */
  lastOffset: (topic: string, partition: number) =>
    `SELECT COALESCE(MAX(id), 0) AS last FROM ${messageTable(topic, partition)}`,
  /** Params: none. */
  begin: `START TRANSACTION`,
  /** Params: none. */
  commit: `COMMIT`,
  /** Params: none. */
  rollback: `ROLLBACK`,
  /**
   * One multi-row INSERT (a single statement, so atomic under autocommit). Params: [rows],
   * rows being [id, published_at, msg_key, ref_key, tags JSON, properties JSON, body,
   * scheduled_id, deliver_at, lane][] (scheduled_id and deliver_at NULL unless the message was
   * delayed; lane 1 for a priority placeholder); query() expands the nested array.
   */
  insertMessages: (topic: string, partition: number) =>
    `INSERT INTO ${messageTable(topic, partition)}
       (id, published_at, msg_key, ref_key, tags, properties, body, scheduled_id, deliver_at, lane) VALUES ?`,
  /** The same into the priority table. Params: [rows] as insertMessages, lane 0. */
  insertPriorityMessages: (topic: string, partition: number) =>
    `INSERT INTO ${priorityTable(topic, partition)}
       (id, published_at, msg_key, ref_key, tags, properties, body, scheduled_id, deliver_at, lane) VALUES ?`,
  /** The normal lane. Params: [afterOffset, limit]. Rows: MessageRow. */
  readMessages: (topic: string, partition: number) =>
    `SELECT ${MESSAGE_COLUMNS}, 0 AS priority
       FROM ${messageTable(topic, partition)} WHERE id > ? AND lane = 0 ORDER BY id LIMIT ?`,
  /** The priority lane. Params: [afterOffset, limit]. Rows: MessageRow. */
  readPriorityMessages: (topic: string, partition: number) =>
    `SELECT ${MESSAGE_COLUMNS}, 1 AS priority
       FROM ${priorityTable(topic, partition)} WHERE id > ? ORDER BY id LIMIT ?`,
  /** Both lanes. Params: [offsets[], offsets[]] (each expanded to an IN list). Rows: MessageRow. */
  readMessagesByOffsets: (topic: string, partition: number) =>
    `SELECT ${MESSAGE_COLUMNS}, 0 AS priority
       FROM ${messageTable(topic, partition)} WHERE id IN (?) AND lane = 0
     UNION ALL
     SELECT ${MESSAGE_COLUMNS}, 1 AS priority
       FROM ${priorityTable(topic, partition)} WHERE id IN (?)
     ORDER BY id`,

  /** Params: [group, topic, partition]. Rows: { committed_offset }. */
  committedOffset: `SELECT committed_offset FROM consumer_offsets
      WHERE group_name = ? AND topic = ? AND partition_id = ?`,
  /**
   * The keys with committed offsets on a topic that start with a prefix (a broadcast group's
   * `<group>.`; group names hold no LIKE wildcards). Params: [topic, prefix + '%']. Rows: { group_name }.
   */
  subscriptionsWithPrefix: `SELECT DISTINCT group_name FROM consumer_offsets WHERE topic = ? AND group_name LIKE ?`,
  /** Forgets one key's committed offsets on a topic. Params: [group, topic]. */
  dropOffsets: `DELETE FROM consumer_offsets WHERE group_name = ? AND topic = ?`,
  /**
   * Moves committed offsets forward only, many in one statement. Params: [rows], rows being
   * [group, topic, partition, offset][] (expanded by query()).
   */
  commitOffsets: `INSERT INTO consumer_offsets (group_name, topic, partition_id, committed_offset)
      VALUES ?
      ON DUPLICATE KEY UPDATE committed_offset = GREATEST(committed_offset, VALUES(committed_offset))`,
  /** Sets a committed offset, also backwards (an offset reset). Params: [group, topic, partition, offset]. */
  forceCommittedOffset: `INSERT INTO consumer_offsets (group_name, topic, partition_id, committed_offset)
      VALUES (?, ?, ?, ?)
      ON DUPLICATE KEY UPDATE committed_offset = VALUES(committed_offset)`,
  /** Params: none. */
  ping: `SELECT 1`,
};

/** What every read of a message table selects. */
const MESSAGE_COLUMNS =
  'id, published_at, msg_key, ref_key, tags, properties, body, scheduled_id, deliver_at';

/** Both lanes' tables: insert-only, primary key only, range-partitioned by offset. */
function createTable(table: string, partitions: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
       id BIGINT UNSIGNED NOT NULL,
       published_at BIGINT UNSIGNED NOT NULL,
       msg_key TEXT NOT NULL,
       ref_key TEXT NOT NULL,
       tags TEXT NOT NULL,
       properties TEXT NOT NULL,
       body LONGBLOB NOT NULL,
       scheduled_id BIGINT UNSIGNED NULL,
       deliver_at BIGINT UNSIGNED NULL,
       lane TINYINT UNSIGNED NOT NULL DEFAULT 0,
       PRIMARY KEY (id)
     ) ENGINE=InnoDB
     PARTITION BY RANGE (id) (${partitions})`;
}

/** A row of readMessages / readMessagesByOffsets. */
export interface MessageRow {
  id: number | string;
  published_at: number | string;
  msg_key: string;
  ref_key: string;
  tags: string;
  properties: string;
  body: Buffer;
  /** Set for a message that was published delayed (its delay-table id and due time). */
  scheduled_id: number | string | null;
  deliver_at: number | string | null;
  /** 1 for a row of the priority table. */
  priority: number | string;
}

/** `m_<topic>_<partition>`, quoted; throws on a name that could escape the identifier. */
export function messageTable(topic: string, partition: number): string {
  const problem = nameProblem(topic);
  if (problem !== undefined) throw new Error(`topic name ${JSON.stringify(topic)} ${problem}`);
  if (!Number.isInteger(partition) || partition < 0 || partition > 99999) {
    throw new Error(`partition ${partition} is not an integer in 0..99999`);
  }
  return `\`m_${topic}_${partition}\``;
}

/** `p_<topic>_<partition>`, the priority lane, quoted and validated like messageTable. */
export function priorityTable(topic: string, partition: number): string {
  return messageTable(topic, partition).replace(/^`m_/, '`p_');
}

function databaseIdent(database: string): string {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    throw new Error(`database name ${JSON.stringify(database)} must be 1-64 letters, digits or "_"`);
  }
  return `\`${database}\``;
}
