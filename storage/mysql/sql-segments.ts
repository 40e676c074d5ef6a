// Retention by whole table partitions (MessageStore.maintainSegments). Message tables are
// PARTITION BY RANGE (id): created with their first segments and a MAXVALUE tail `p_max`
// (tables of earlier versions start as `p_max` alone). Maintenance splits
// segments off that tail while it is empty (REORGANIZE PARTITION of an empty partition copies
// nothing) and drops expired segments with DROP PARTITION: no DELETE ever scans. A segment
// `p<from>_<to>` holds offsets from..to (VALUES LESS THAN to + 1).
import { initialSegments } from '../segments';
import type { Segment } from '../segments';
import { messageTable } from './sql';

export const TAIL_SEGMENT = 'p_max';

export const SEGMENT_SQL = {
  /**
   * The table's partitions in order; none when the table does not exist (or is not
   * partitioned). Params: [tableName] (unquoted). Rows: { name, bound } with bound 'MAXVALUE'
   * for the tail.
   */
  listSegments: `SELECT PARTITION_NAME AS name, PARTITION_DESCRIPTION AS bound
      FROM information_schema.PARTITIONS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND PARTITION_NAME IS NOT NULL
     ORDER BY PARTITION_ORDINAL_POSITION`,
  /**
   * When the newest message of one segment was published (a primary-key read of one
   * partition). Params: none. Rows: { published_at } or none for an empty segment.
   */
  newestInSegment: (table: string, segment: string) =>
    `SELECT published_at FROM ${quoted(table)} PARTITION (${segmentName(segment)})
      ORDER BY id DESC LIMIT 1`,
  /**
   * A new table's range partitions (SQL.createMessageTable): the first segments of
   * `segmentMessages` offsets, then the tail.
   */
  layout: (segmentMessages: number) => withTail(initialSegments(segmentMessages)),
  /** Splits segments off the tail, which is empty, so nothing is copied. Params: none. */
  splitTail: (table: string, segments: Segment[]) =>
    `ALTER TABLE ${quoted(table)} REORGANIZE PARTITION ${TAIL_SEGMENT} INTO (${withTail(segments)})`,
  /** Drops whole segments. Params: none. */
  dropSegments: (table: string, segments: string[]) =>
    `ALTER TABLE ${quoted(table)} DROP PARTITION ${segments.map(segmentName).join(', ')}`,
};

/**
 * The tables of one topic partition that hold messages in segments: the normal table
 * `m_<topic>_<p>` and the priority table `p_<topic>_<p>` (unquoted, names checked).
 */
export function segmentedTables(topic: string, partition: number): string[] {
  messageTable(topic, partition);
  return [`m_${topic}_${partition}`, `p_${topic}_${partition}`];
}

/** Each segment holds offsets from..to: VALUES LESS THAN to + 1. */
function withTail(segments: Segment[]): string {
  return [
    ...segments.map((s) => `PARTITION ${segmentName(s.name)} VALUES LESS THAN (${offsetBound(s.to + 1)})`),
    `PARTITION ${TAIL_SEGMENT} VALUES LESS THAN MAXVALUE`,
  ].join(', ');
}

function segmentName(name: string): string {
  if (name !== TAIL_SEGMENT && !/^p\d{1,20}_\d{1,20}$/.test(name)) {
    throw new Error(`segment name ${JSON.stringify(name)} is not p<from>_<to>`);
  }
  return name;
}

function offsetBound(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`segment bound ${n} is not a positive integer`);
  return n;
}

function quoted(table: string): string {
  if (!/^[mp]_[a-z0-9-]{1,63}_\d{1,5}$/.test(table)) throw new Error(`bad table name ${table}`);
  return `\`${table}\``;
}
