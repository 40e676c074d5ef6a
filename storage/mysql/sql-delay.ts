// The delay tables' statements (QMQ's schedule log on MySQL; broker/storage/delay-store.ts).
// One table per topic partition, `d_<topic>_<partition>`, created on the first delayed
// publish. PRIMARY KEY (deliver_at, id) makes "the next due rows" a range read; KEY (id)
// serves the AUTO_INCREMENT column and the delete at dispatch. Ids come from
// AUTO_INCREMENT: only the partition's owner inserts, one multi-row INSERT at a time, so a
// statement's ids are consecutive from LAST_INSERT_ID() (innodb_autoinc_lock_mode 0, 1 or 2
// alike), and InnoDB keeps the counter across restarts (MariaDB >= 10.2.4, MySQL >= 8.0), so
// an id is never reused after its row is dispatched.
import { messageTable } from './sql';

export const DELAY_SQL = {
  /** Params: none. */
  createDelayTable: (topic: string, partition: number) =>
    `CREATE TABLE IF NOT EXISTS ${delayTable(topic, partition)} (
       id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
       deliver_at BIGINT UNSIGNED NOT NULL,
       msg_key TEXT NOT NULL,
       ref_key TEXT NOT NULL,
       tags TEXT NOT NULL,
       properties TEXT NOT NULL,
       body LONGBLOB NOT NULL,
       priority BOOLEAN NOT NULL,
       PRIMARY KEY (deliver_at, id),
       KEY by_id (id)
     ) ENGINE=InnoDB`,
  /** Params: none. */
  dropDelayTable: (topic: string, partition: number) =>
    `DROP TABLE IF EXISTS ${delayTable(topic, partition)}`,
  /**
   * One multi-row INSERT; the result's insertId is the first row's id. Params: [rows], rows
   * being [deliver_at, msg_key, ref_key, tags JSON, properties JSON, body, priority][].
   */
  insertDelayed: (topic: string, partition: number) =>
    `INSERT INTO ${delayTable(topic, partition)}
       (deliver_at, msg_key, ref_key, tags, properties, body, priority) VALUES ?`,
  /** The first due rows. Params: [until, limit]. Rows: DelayedRow. */
  dueDelayed: (topic: string, partition: number) =>
    `SELECT id, deliver_at, msg_key, ref_key, tags, properties, body, priority
       FROM ${delayTable(topic, partition)}
      WHERE deliver_at < ? ORDER BY deliver_at, id LIMIT ?`,
  /**
   * The next page of due rows after (deliverAt, id). Params: [until, afterDeliverAt,
   * afterDeliverAt, afterId, limit]. Rows: DelayedRow.
   */
  dueDelayedAfter: (topic: string, partition: number) =>
    `SELECT id, deliver_at, msg_key, ref_key, tags, properties, body, priority
       FROM ${delayTable(topic, partition)}
      WHERE deliver_at < ? AND (deliver_at > ? OR (deliver_at = ? AND id > ?))
      ORDER BY deliver_at, id LIMIT ?`,
  /**
   * Removes dispatched rows, inside the transaction that appends them to the partition; the
   * caller checks affectedRows (fewer: another owner dispatched them). Params: [ids[]].
   */
  deleteDelayed: (topic: string, partition: number) =>
    `DELETE FROM ${delayTable(topic, partition)} WHERE id IN (?)`,
};

/** A row of dueDelayed / dueDelayedAfter. */
export interface DelayedRow {
  id: number | string;
  deliver_at: number | string;
  msg_key: string;
  ref_key: string;
  tags: string;
  properties: string;
  body: Buffer;
  priority: number;
}

/** `d_<topic>_<partition>`, quoted; the name is checked as messageTable checks it. */
export function delayTable(topic: string, partition: number): string {
  messageTable(topic, partition);
  return `\`d_${topic}_${partition}\``;
}
