// The MySQL adapter of MessageStore (and SegmentRetention): one table per partition and lane,
// range-partitioned by offset. Statements come from sql.ts and sql-segments.ts.
import { forEachConcurrently } from '../../common/concurrently';
import type { ResultSetHeader, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { DEFAULTS } from '../../common/broker-options';
import { HeraldError } from '../../common/errors';
import type { StorageCapabilities } from '../capabilities';
import { droppable, planSplit, segmentsOf } from '../segments';
import type {
  AppendBatch,
  AppendOutcome,
  AppendRiders,
  Lane,
  MessageStore,
  NewMessage,
  OffsetCommit,
  PartitionRef,
  SegmentRetention,
  StoredMessage,
} from '../storage';
import { broadcastConsumerOf, broadcastPrefix } from '../subscription';
import { firstAtOrAfter } from '../time-search';
import { bounds, classifyMysqlError } from './connection';
import type { MysqlConnection } from './connection';
import { messageRow, placeholderRow, toStored } from './rows';
import { SQL, messageTable, priorityTable } from './sql';
import type { MessageRow } from './sql';
import { DELAY_SQL } from './sql-delay';
import { SEGMENT_SQL, TAIL_SEGMENT, segmentedTables } from './sql-segments';
import { TRACE_SQL } from './trace-sql';
import { traceRows } from './trace-store';

/**
 * Partition tables are created and dropped a few at a time: DDL waits mostly on the store's file
 * creation and log flushes, which overlap (four CREATE TABLEs at once took a quarter of the time
 * each; more would wait in the connection pool).
 */
const DDL_CONCURRENCY = 4;
const partitionIds = (partitions: number) => Array.from({ length: partitions }, (_, p) => p);

export class MysqlMessageStore implements MessageStore {
  readonly kind = 'mysql';
  readonly capabilities: StorageCapabilities = {
    priorityLanes: true,
    delayedMessages: true,
    ownerFencing: true,
    atomicMultiPartitionAppend: true,
    segmentRetention: true,
    // The pool's trace store is this database (openStorage), so a commit can carry its rows.
    traceInAppend: true,
    // consumer_offsets is in this database too.
    offsetsInAppend: true,
  };
  readonly segments: SegmentRetention = {
    maintainSegments: (...args) => this.maintainSegments(...args),
  };
  constructor(private readonly db: MysqlConnection) {}

  async ensureTopic(
    topic: string,
    partitions: number,
    segmentMessages = DEFAULTS.retention.segmentMessages,
  ): Promise<void> {
    const layout = SEGMENT_SQL.layout(segmentMessages);
    await forEachConcurrently(partitionIds(partitions), DDL_CONCURRENCY, async (p) => {
      await this.db.run('create table', SQL.createMessageTable(topic, p, layout), []);
      await this.db.run('create priority table', SQL.createPriorityTable(topic, p, layout), []);
      for (const table of [messageTable(topic, p), priorityTable(topic, p)])
        await this.db.run('add message columns', SQL.addMessageColumns(table), []);
    });
  }

  async dropTopic(topic: string, partitions: number): Promise<void> {
    await forEachConcurrently(partitionIds(partitions), DDL_CONCURRENCY, async (p) => {
      await this.db.run('drop table', SQL.dropMessageTable(topic, p), []);
      await this.db.run('drop delay table', DELAY_SQL.dropDelayTable(topic, p), []);
      await this.db.run('drop priority table', SQL.dropPriorityTable(topic, p), []);
    });
    await this.db.run('delete topic offsets', SQL.deleteTopicOffsets, [topic]);
  }

  async lastOffset(ref: PartitionRef): Promise<number> {
    const rows = await this.db.run('read last offset', SQL.lastOffset(ref.topic, ref.partition), []);
    return Number(rows[0]?.last ?? 0);
  }

  async append(
    batches: AppendBatch[],
    publishedAt: number,
    { trace = [], offsets = [] }: AppendRiders = {},
  ): Promise<AppendOutcome[]> {
    const statements: string[] = [];
    const values: unknown[] = [];
    for (const b of batches) {
      const row = (m: NewMessage, i: number) => messageRow(b.firstOffset + i, publishedAt, m);
      // A priority message: its row in the priority table, a placeholder in the normal one.
      statements.push(SQL.insertMessages(b.ref.topic, b.ref.partition));
      values.push(
        b.messages.map((m, i) => (m.priority ? placeholderRow(b.firstOffset + i, publishedAt) : row(m, i))),
      );
      const priority = b.messages.flatMap((m, i) => (m.priority ? [row(m, i)] : []));
      if (priority.length > 0) {
        statements.push(SQL.insertPriorityMessages(b.ref.topic, b.ref.partition));
        values.push(priority);
      }
    }
    if (trace.length > 0) {
      statements.push(TRACE_SQL.insertTraceEvents);
      values.push(traceRows(trace));
    }
    if (offsets.length > 0) {
      statements.push(SQL.commitOffsets);
      values.push(offsetRows(offsets));
    }
    const dispatched = batches.flatMap((b) => {
      const ids = b.messages.flatMap((m) => (m.scheduled ? [m.scheduled.id] : []));
      return ids.length > 0 ? [{ ref: b.ref, ids }] : [];
    });
    const transaction = statements.length > 1 || dispatched.length > 0;
    // One round trip: the INSERTs (the riders' too) and the COMMIT travel as one multi-statement query (after
    // the delay-table DELETEs, which open the transaction, when messages fell due).
    const begin = dispatched.length > 0 ? [] : [SQL.begin];
    const sql = transaction ? [...begin, ...statements, SQL.commit].join(';\n') : statements[0];
    const conn = await this.db.pool.getConnection().catch((err: unknown) => {
      throw classifyMysqlError(err, 'insert messages');
    });
    try {
      if (dispatched.length > 0) await this.deleteDispatched(conn, dispatched);
      await conn.query({ sql, values, timeout: this.db.timeout });
      conn.release();
      // Owner-allocated offsets: stored where the owner put them.
      return batches.map((b) => ({ ok: true, firstOffset: b.firstOffset }));
    } catch (err) {
      const e = classifyMysqlError(err, 'insert messages');
      if (e.reason === 'STORAGE_UNAVAILABLE') conn.destroy();
      // A failed statement leaves the transaction open: roll it back, or drop the connection.
      else if (transaction)
        await conn.query(SQL.rollback).then(
          () => conn.release(),
          () => conn.destroy(),
        );
      else conn.release();
      throw e;
    }
  }

  /**
   * Opens the append's transaction by deleting the delayed messages it dispatches. A row
   * already gone was dispatched by another owner: the append is fenced, so a delayed message
   * is stored once even when two brokers briefly both hold it in their wheels.
   */
  private async deleteDispatched(
    conn: PoolConnection,
    dispatched: { ref: PartitionRef; ids: number[] }[],
  ): Promise<void> {
    const sql = [
      SQL.begin,
      ...dispatched.map((d) => DELAY_SQL.deleteDelayed(d.ref.topic, d.ref.partition)),
    ].join(';\n');
    const [results] = await conn.query<ResultSetHeader[]>({
      sql,
      values: dispatched.map((d) => d.ids),
      timeout: this.db.timeout,
    });
    dispatched.forEach((d, i) => {
      if (results[i + 1].affectedRows !== d.ids.length) {
        throw new HeraldError(
          'PARTITION_FENCED',
          `delayed messages of ${d.ref.topic}/${d.ref.partition} were already dispatched by another writer`,
          { topic: d.ref.topic, partition: String(d.ref.partition) },
        );
      }
    });
  }

  async read(
    ref: PartitionRef,
    afterOffset: number,
    limit: number,
    lane: Lane = 'normal',
  ): Promise<StoredMessage[]> {
    const statement = lane === 'priority' ? SQL.readPriorityMessages : SQL.readMessages;
    const rows = await this.db.run<(MessageRow & RowDataPacket)[]>(
      'read messages',
      statement(ref.topic, ref.partition),
      [afterOffset, limit],
    );
    return rows.map(toStored);
  }

  async readOffsets(ref: PartitionRef, offsets: number[]): Promise<StoredMessage[]> {
    if (offsets.length === 0) return [];
    const rows = await this.db.run<(MessageRow & RowDataPacket)[]>(
      'read messages by offset',
      SQL.readMessagesByOffsets(ref.topic, ref.partition),
      [offsets, offsets],
    );
    return rows.map(toStored);
  }

  async forceCommittedOffset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    await this.db.run('force committed offset', SQL.forceCommittedOffset, [
      group,
      ref.topic,
      ref.partition,
      offset,
    ]);
  }

  async committedOffset(group: string, ref: PartitionRef): Promise<number> {
    return (await this.findCommittedOffset(group, ref)) ?? 0;
  }

  async findCommittedOffset(group: string, ref: PartitionRef): Promise<number | undefined> {
    const rows = await this.db.run('read committed offset', SQL.committedOffset, [
      group,
      ref.topic,
      ref.partition,
    ]);
    return rows[0] === undefined ? undefined : Number(rows[0].committed_offset);
  }

  async broadcastConsumers(group: string, topic: string): Promise<string[]> {
    const rows = await this.db.run<({ group_name: string } & RowDataPacket)[]>(
      'list broadcast consumers',
      SQL.subscriptionsWithPrefix,
      [topic, `${broadcastPrefix(group)}%`],
    );
    return rows.flatMap((r) => broadcastConsumerOf(group, r.group_name) ?? []);
  }

  async dropOffsets(group: string, topic: string): Promise<void> {
    await this.db.run('drop offsets', SQL.dropOffsets, [group, topic]);
  }

  commitOffset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    return this.commitOffsets([{ group, ref, offset }]);
  }

  async commitOffsets(commits: OffsetCommit[]): Promise<void> {
    if (commits.length === 0) return;
    await this.db.run('commit offsets', SQL.commitOffsets, [offsetRows(commits)]);
  }

  private async maintainSegments(
    ref: PartitionRef,
    endOffset: number,
    segmentMessages: number,
    expireBefore: number,
  ): Promise<{ from: number; to: number }[]> {
    const dropped: { from: number; to: number }[] = [];
    const [normal, priority] = segmentedTables(ref.topic, ref.partition);
    for (const table of [normal, priority]) {
      const listed = await this.db.run<({ name: string; bound: string } & RowDataPacket)[]>(
        'list segments',
        SEGMENT_SQL.listSegments,
        [table],
      );
      const segments = segmentsOf(listed);
      const tail = segments[segments.length - 1];
      // A missing table (no priority table yet) lists nothing.
      if (tail?.name !== TAIL_SEGMENT) continue;
      const expired = [];
      for (const s of droppable(segments, endOffset)) {
        const newest = await this.db.run('read segment age', SEGMENT_SQL.newestInSegment(table, s.name), []);
        if (newest.length > 0 && Number(newest[0].published_at) >= expireBefore) break;
        expired.push(s);
      }
      if (expired.length > 0) {
        await this.db.run(
          'drop segments',
          SEGMENT_SQL.dropSegments(
            table,
            expired.map((s) => s.name),
          ),
          [],
        );
        // The normal table holds every offset (placeholders for priority ones): what it drops
        // is what consumers lose. The priority table's segments expire on their own messages.
        if (table === normal) dropped.push(...expired.map(({ from, to }) => ({ from, to })));
      }
      const split = planSplit(tail.from, endOffset, segmentMessages);
      if (split.length > 0) {
        await this.db.run('split segments', SEGMENT_SQL.splitTail(table, split), []);
      }
    }
    return dropped;
  }

  // The normal table holds every offset (a priority message leaves a placeholder there), so
  // the offset searches read it alone: binary searches of primary-key point reads.
  async offsetAtTime(ref: PartitionRef, at: number): Promise<number | undefined> {
    const table = messageTable(ref.topic, ref.partition);
    const range = await this.idRange(table);
    if (range === undefined) return undefined;
    const row = await firstAtOrAfter(range.lo, range.hi, at, (id) =>
      this.db.timedRow('find offset by time', TRACE_SQL.messageAtOrAfter(table), id),
    );
    return row?.id;
  }

  async firstOffset(ref: PartitionRef): Promise<number | undefined> {
    return (await this.idRange(messageTable(ref.topic, ref.partition)))?.lo;
  }

  /** The id range of a message table; undefined when it is empty. */
  private async idRange(table: string): Promise<{ lo: number; hi: number } | undefined> {
    return bounds((await this.db.run('read the offset range', TRACE_SQL.messageIdRange(table), []))[0]);
  }

  ping(): Promise<void> {
    return this.db.ping();
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** SQL.commitOffsets' rows. */
function offsetRows(commits: readonly OffsetCommit[]): unknown[][] {
  return commits.map((c) => [c.group, c.ref.topic, c.ref.partition, c.offset]);
}
