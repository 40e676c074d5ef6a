// The statements of retries and dead letters (RetryStore), and their migration.
//
// Layout: one global `resends` table rather than one per (partition, group): groups come and
// go without DDL, and the primary key (group_name, topic, partition_id, schedule_at,
// msg_offset) makes "the due head of one group's schedule on one partition" a range scan in
// (schedule_at, offset) order, which is all the owner reads. A unique key on the offset lets
// a rescheduled offset replace its row. `dead_letters` keeps a copy of each message, so a dead
// letter outlives the topic's retention; its id orders pages (newest first).
import type { Migration } from './migration';

export const RETRY_MIGRATION: Migration = {
  version: 2,
  name: 'resend schedule and dead letters',
  statements: [
    `CREATE TABLE IF NOT EXISTS resends (
       group_name VARCHAR(64) NOT NULL,
       topic VARCHAR(64) NOT NULL,
       partition_id INT UNSIGNED NOT NULL,
       schedule_at BIGINT UNSIGNED NOT NULL,
       msg_offset BIGINT UNSIGNED NOT NULL,
       attempts INT UNSIGNED NOT NULL,
       last_error TEXT NOT NULL,
       PRIMARY KEY (group_name, topic, partition_id, schedule_at, msg_offset),
       UNIQUE KEY resend_offset (group_name, topic, partition_id, msg_offset)
     ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS dead_letters (
       id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
       group_name VARCHAR(64) NOT NULL,
       topic VARCHAR(64) NOT NULL,
       partition_id INT UNSIGNED NOT NULL,
       msg_offset BIGINT UNSIGNED NOT NULL,
       published_at BIGINT UNSIGNED NOT NULL,
       msg_key TEXT NOT NULL,
       ref_key TEXT NOT NULL,
       tags TEXT NOT NULL,
       properties TEXT NOT NULL,
       body LONGBLOB NOT NULL,
       priority TINYINT UNSIGNED NOT NULL,
       reason VARCHAR(64) NOT NULL,
       attempts INT UNSIGNED NOT NULL,
       last_error TEXT NOT NULL,
       dead_at BIGINT UNSIGNED NOT NULL,
       PRIMARY KEY (id),
       KEY dead_letters_by_group (topic, group_name, id),
       KEY dead_letters_by_time (topic, group_name, dead_at)
     ) ENGINE=InnoDB`,
  ],
};

/**
 * The filter every dead-letter statement shares. Params, in order: [topic, group, sinceMs,
 * untilMs, untilMs, idsGiven (0/1), ids[] (a one-element dummy list when none)].
 */
const DEAD_LETTER_FILTER = `topic = ? AND group_name = ? AND dead_at >= ? AND (? = 0 OR dead_at < ?)
       AND (? = 0 OR id IN (?))`;

const DEAD_LETTER_COLUMNS = `id, group_name, topic, partition_id, msg_offset, published_at, msg_key,
       ref_key, tags, properties, body, priority, reason, attempts, last_error, dead_at`;

export const RETRY_SQL = {
  /**
   * Schedules offsets; an offset already scheduled for the group moves (its row is replaced).
   * Params: [rows], rows being [group, topic, partition, scheduleAt, offset, attempts, lastError][].
   */
  scheduleResends: `INSERT INTO resends
      (group_name, topic, partition_id, schedule_at, msg_offset, attempts, last_error) VALUES ?
      ON DUPLICATE KEY UPDATE schedule_at = VALUES(schedule_at), attempts = VALUES(attempts),
        last_error = VALUES(last_error)`,
  /** Params: [group, topic, partition, now, limit]. Rows: ResendRow. */
  dueResends: `SELECT group_name, topic, partition_id, schedule_at, msg_offset, attempts, last_error
      FROM resends WHERE group_name = ? AND topic = ? AND partition_id = ? AND schedule_at <= ?
      ORDER BY schedule_at, msg_offset LIMIT ?`,
  /** Params: [group, topic, partition, after]. Rows: { next } (NULL when none). */
  nextResendAt: `SELECT MIN(schedule_at) AS next FROM resends
      WHERE group_name = ? AND topic = ? AND partition_id = ? AND schedule_at > ?`,
  /** One key's whole schedule on a topic. Params: [group, topic]. */
  dropResends: `DELETE FROM resends WHERE group_name = ? AND topic = ?`,
  /** Params: [group, topic, partition, offsets[]]. */
  deleteResends: `DELETE FROM resends
      WHERE group_name = ? AND topic = ? AND partition_id = ? AND msg_offset IN (?)`,
  /**
   * Params: [rows], rows being [group, topic, partition, offset, publishedAt, key, refKey,
   * tags JSON, properties JSON, body, priority, reason, attempts, lastError, deadAt][].
   */
  insertDeadLetters: `INSERT INTO dead_letters
      (group_name, topic, partition_id, msg_offset, published_at, msg_key, ref_key, tags,
       properties, body, priority, reason, attempts, last_error, dead_at) VALUES ?`,
  /** Newest first. Params: [...filter, after, after, limit]. Rows: DeadLetterRow. */
  listDeadLetters: `SELECT ${DEAD_LETTER_COLUMNS} FROM dead_letters
      WHERE ${DEAD_LETTER_FILTER} AND (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?`,
  /** Locks what a replay moves, inside its transaction. Params: [...filter]. Rows: DeadLetterRow. */
  lockDeadLetters: `SELECT ${DEAD_LETTER_COLUMNS} FROM dead_letters
      WHERE ${DEAD_LETTER_FILTER} ORDER BY id FOR UPDATE`,
  /** Params: [ids[]]. */
  deleteDeadLettersById: `DELETE FROM dead_letters WHERE id IN (?)`,
  /** Params: [...filter]. */
  purgeDeadLetters: `DELETE FROM dead_letters WHERE ${DEAD_LETTER_FILTER}`,
  /** A key's schedule sizes per partition (the primary key's prefix). Params: [group, topic]. Rows: CountRow. */
  countResends: `SELECT partition_id, COUNT(*) AS n FROM resends
      WHERE group_name = ? AND topic = ? GROUP BY partition_id`,
  /** A key's dead letters per partition (dead_letters_by_group's prefix). Params: [topic, group]. Rows: CountRow. */
  countDeadLetters: `SELECT partition_id, COUNT(*) AS n FROM dead_letters
      WHERE topic = ? AND group_name = ? GROUP BY partition_id`,
  /** Retention. Params: [topic, group, before]. */
  expireDeadLetters: `DELETE FROM dead_letters WHERE topic = ? AND group_name = ? AND dead_at < ?`,
};

/** The parameters of DEAD_LETTER_FILTER. */
export function deadLetterFilterParams(q: {
  topic: string;
  group: string;
  sinceMs: number;
  untilMs: number;
  ids: number[];
}): unknown[] {
  const ids = q.ids.length > 0 ? q.ids : [0];
  return [q.topic, q.group, q.sinceMs, q.untilMs, q.untilMs, q.ids.length > 0 ? 1 : 0, ids];
}

/** A row of countResends / countDeadLetters. */
export interface CountRow {
  partition_id: number;
  n: number | string;
}

/** A row of dueResends. */
export interface ResendRow {
  group_name: string;
  topic: string;
  partition_id: number;
  schedule_at: number | string;
  msg_offset: number | string;
  attempts: number;
  last_error: string;
}

/** A row of listDeadLetters / lockDeadLetters. */
export interface DeadLetterRow {
  id: number | string;
  group_name: string;
  topic: string;
  partition_id: number;
  msg_offset: number | string;
  published_at: number | string;
  msg_key: string;
  ref_key: string;
  tags: string;
  properties: string;
  body: Buffer;
  priority: number;
  reason: string;
  attempts: number;
  last_error: string;
  dead_at: number | string;
}
