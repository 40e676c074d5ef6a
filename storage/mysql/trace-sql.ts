// The statements of the trace events and the command log (TraceStore), and the searches of
// offset resets (offsetAtTime, firstOffset). Both tables are append-only with an
// AUTO_INCREMENT primary key, so expiry finds its cut-off id by a binary search of point reads
// (time-search.ts) and deletes a primary-key range, never scanning by time.

import type { Migration } from './migration';

export const TRACE_MIGRATION: Migration = {
  version: 3,
  name: 'trace events and command log',
  statements: [
    `CREATE TABLE IF NOT EXISTS trace_events (
       id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
       at_ms BIGINT UNSIGNED NOT NULL,
       event VARCHAR(32) NOT NULL,
       topic VARCHAR(64) NOT NULL,
       partition_id INT UNSIGNED NOT NULL,
       offset_id BIGINT UNSIGNED NOT NULL,
       message_id VARCHAR(200) NOT NULL,
       ref_key VARCHAR(1024) NOT NULL,
       group_name VARCHAR(64) NOT NULL,
       consumer_id VARCHAR(255) NOT NULL,
       attempt INT UNSIGNED NOT NULL,
       broker VARCHAR(255) NOT NULL,
       detail MEDIUMTEXT NOT NULL,
       PRIMARY KEY (id),
       KEY trace_by_message (message_id),
       KEY trace_by_ref (topic, ref_key(191))
     ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS commands (
       id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
       created_ms BIGINT UNSIGNED NOT NULL,
       kind VARCHAR(32) NOT NULL,
       group_name VARCHAR(64) NOT NULL,
       topic VARCHAR(64) NOT NULL,
       partition_id INT UNSIGNED NOT NULL,
       offset_id BIGINT UNSIGNED NOT NULL,
       PRIMARY KEY (id)
     ) ENGINE=InnoDB`,
  ],
};

/** The append-only tables whose expiry deletes a primary-key range. */
export type LogTable = 'trace_events' | 'commands';

export const TRACE_SQL = {
  /**
   * Many events in one statement. Params: [rows], rows being [at_ms, event, topic, partition,
   * offset, message_id, ref_key, group, consumer_id, attempt, broker, detail JSON][].
   */
  insertTraceEvents: `INSERT INTO trace_events
      (at_ms, event, topic, partition_id, offset_id, message_id, ref_key, group_name, consumer_id,
       attempt, broker, detail) VALUES ?`,
  /** Params: [messageId, limit]. Rows: TraceRow, oldest first. */
  traceByMessage: `SELECT * FROM trace_events WHERE message_id = ? ORDER BY at_ms, id LIMIT ?`,
  /** Params: [topic, refKey, limit]. Rows: TraceRow, oldest first. */
  traceByRef: `SELECT * FROM trace_events WHERE topic = ? AND ref_key = ? ORDER BY at_ms, id LIMIT ?`,

  /** Serialises command appends (ids visible in id order). Params: [timeoutSeconds]. Rows: { locked }. */
  lockCommands: `SELECT GET_LOCK('herald_commands', ?) AS locked`,
  /** Params: none. */
  unlockCommands: `SELECT RELEASE_LOCK('herald_commands')`,
  /** Params: [rows], rows being [created_ms, kind, group, topic, partition, offset][]. */
  insertCommands: `INSERT INTO commands (created_ms, kind, group_name, topic, partition_id, offset_id)
      VALUES ?`,
  /** Params: [afterId, limit]. Rows: CommandRow. */
  commandsAfter: `SELECT * FROM commands WHERE id > ? ORDER BY id LIMIT ?`,
  /** Params: none. Rows: { last } (0 when empty). */
  lastCommandId: `SELECT COALESCE(MAX(id), 0) AS last FROM commands`,

  /** The id range of a log table. Params: none. Rows: { lo, hi } (NULL when empty). */
  idRange: (table: LogTable) => `SELECT MIN(id) AS lo, MAX(id) AS hi FROM ${table}`,
  /** The first row at or after an id (one primary-key seek). Params: [id]. Rows: { id, at }. */
  rowAtOrAfter: (table: LogTable) =>
    `SELECT id, ${table === 'trace_events' ? 'at_ms' : 'created_ms'} AS at FROM ${table}
       WHERE id >= ? ORDER BY id LIMIT 1`,
  /** A bounded primary-key range delete. Params: [lastId, limit]. */
  deleteUpTo: (table: LogTable) => `DELETE FROM ${table} WHERE id <= ? ORDER BY id LIMIT ?`,

  /** The id range of a message table (quoted name). Params: none. Rows: { lo, hi } (NULL when empty). */
  messageIdRange: (table: string) => `SELECT MIN(id) AS lo, MAX(id) AS hi FROM ${table}`,
  /** The first message at or after an offset (one primary-key seek). Params: [id]. Rows: { id, at }. */
  messageAtOrAfter: (table: string) =>
    `SELECT id, published_at AS at FROM ${table} WHERE id >= ? ORDER BY id LIMIT 1`,
};

/** A row of traceByMessage / traceByRef. */
export interface TraceRow {
  id: number | string;
  at_ms: number | string;
  event: string;
  topic: string;
  partition_id: number;
  offset_id: number | string;
  message_id: string;
  ref_key: string;
  group_name: string;
  consumer_id: string;
  attempt: number;
  broker: string;
  detail: string;
}

/** A row of commandsAfter. */
export interface CommandRow {
  id: number | string;
  created_ms: number | string;
  kind: string;
  group_name: string;
  topic: string;
  partition_id: number;
  offset_id: number | string;
}
