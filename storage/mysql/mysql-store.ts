// The MySQL/MariaDB adapter of MessageStore, on mysql2. Statements come from sql.ts; this
// file only runs them, converts rows and classifies driver errors into HeraldErrors.
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { DelayStore, DelayedMessage } from '../delay-store';
import type { DeadLetter, DeadLetterQuery, NewDeadLetter, Resend, RetryStore } from '../retry-store';
import { droppable, planSplit, segmentsOf } from '../segments';
import type {
  AppendBatch,
  Lane,
  MessageStore,
  NewMessage,
  OffsetCommit,
  PartitionRef,
  SegmentRetention,
  StoredMessage,
} from '../storage';
import type { StorageCapabilities } from '../capabilities';
import { firstAtOrAfter } from '../time-search';
import type { TimedRow } from '../time-search';
import type { Command, TraceEvent, TraceQuery, TraceStore } from '../trace-store';
import { RETRY_SQL, deadLetterFilterParams } from './retry-sql';
import type { DeadLetterRow, ResendRow } from './retry-sql';
import { MIGRATIONS, SQL, messageTable, priorityTable } from './sql';
import type { MessageRow } from './sql';
import { DELAY_SQL } from './sql-delay';
import type { DelayedRow } from './sql-delay';
import { SEGMENT_SQL, TAIL_SEGMENT, segmentedTables } from './sql-segments';
import { TRACE_SQL } from './trace-sql';
import type { CommandRow, LogTable, TraceRow } from './trace-sql';

export interface MysqlStoreOptions {
  /** mysql://user:password@host:port/database; the database is created when missing. */
  url: string;
  /** Connections in the pool. */
  poolSize: number;
  /** Connect timeout: an unreachable server fails calls after this long, not later. */
  connectTimeoutMs: number;
  /** Statement timeout (client side): a hung server fails calls after this long. */
  queryTimeoutMs: number;
  logger: Logger;
}

/** Driver error codes that mean "the server cannot be reached or the connection broke". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_QUERY_INTERRUPTED',
]);

export function classifyMysqlError(err: unknown, what: string): HeraldError {
  if (err instanceof HeraldError) return err;
  const e = err as { code?: string; fatal?: boolean; message?: string };
  const detail = `${what}: ${e.message ?? String(err)}`;
  if (e.code === 'ER_DUP_ENTRY') {
    return new HeraldError(
      'PARTITION_FENCED',
      `${what}: offsets already taken by another writer`,
      {},
      { cause: err },
    );
  }
  if (e.fatal === true || (e.code !== undefined && UNAVAILABLE_CODES.has(e.code))) {
    return new HeraldError('STORAGE_UNAVAILABLE', detail, {}, { cause: err });
  }
  return new HeraldError('INTERNAL_ERROR', detail, {}, { cause: err });
}

/** Everything the MySQL adapter stores. */
export type MysqlStores = MessageStore & RetryStore & DelayStore & TraceStore;

/** Rows per DELETE when expiring trace events and commands: short transactions. */
const EXPIRE_CHUNK = 5000;

export async function createMysqlStore(options: MysqlStoreOptions): Promise<MysqlStores> {
  const url = new URL(options.url);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const base: PoolOptions = {
    host: url.hostname,
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    connectTimeout: options.connectTimeoutMs,
    supportBigNumbers: true,
    enableKeepAlive: true,
    charset: 'utf8mb4',
  };
  const admin = await mysql.createConnection(base).catch((err: unknown) => {
    throw classifyMysqlError(err, 'connect');
  });
  try {
    await admin.query(SQL.createDatabase(database));
  } finally {
    await admin.end();
  }
  // multipleStatements: a group commit sends its INSERTs and COMMIT in one round trip. Every
  // statement comes from sql.ts and every value is escaped by the driver.
  const pool = mysql.createPool({
    ...base,
    database,
    connectionLimit: options.poolSize,
    maxIdle: options.poolSize,
    multipleStatements: true,
  });
  // A broken idle connection emits 'error' on the pool's connection; the pool replaces it.
  pool.on('connection', (conn) => {
    conn.on('error', (err: unknown) => options.logger.debug('connection error', { err }));
  });
  const store = new MysqlStore(pool, options.queryTimeoutMs);
  try {
    await store.migrate(options.logger);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return store;
}

class MysqlStore implements MessageStore, RetryStore, DelayStore, TraceStore {
  readonly kind = 'mysql';
  readonly capabilities: StorageCapabilities = {
    priorityLanes: true,
    delayedMessages: true,
    ownerFencing: true,
    atomicMultiPartitionAppend: true,
    segmentRetention: true,
  };
  readonly segments: SegmentRetention = {
    maintainSegments: (...args) => this.maintainSegments(...args),
  };
  constructor(
    private readonly pool: Pool,
    private readonly timeout: number,
  ) {}

  private async run<T extends RowDataPacket[]>(what: string, sql: string, values: unknown[]): Promise<T> {
    try {
      const [rows] = await this.pool.query<T>({ sql, values, timeout: this.timeout });
      return rows;
    } catch (err) {
      throw classifyMysqlError(err, what);
    }
  }

  /** Runs a DELETE or UPDATE; returns how many rows it changed. */
  private async affected(what: string, sql: string, values: unknown[]): Promise<number> {
    return (await this.run<RowDataPacket[] & ResultSetHeader>(what, sql, values)).affectedRows;
  }

  /** Runs `work` in a transaction on one connection; rolls back (or drops the connection) on failure. */
  private async transaction<T>(what: string, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.pool.getConnection().catch((err: unknown) => {
      throw classifyMysqlError(err, what);
    });
    try {
      await conn.query(SQL.begin);
      const out = await work(conn);
      await conn.query(SQL.commit);
      conn.release();
      return out;
    } catch (err) {
      const e = classifyMysqlError(err, what);
      if (e.reason === 'STORAGE_UNAVAILABLE') conn.destroy();
      else
        await conn.query(SQL.rollback).then(
          () => conn.release(),
          () => conn.destroy(),
        );
      throw e;
    }
  }

  async migrate(logger: Logger): Promise<void> {
    const conn = await this.pool.getConnection().catch((err: unknown) => {
      throw classifyMysqlError(err, 'migrate');
    });
    try {
      await conn.query(SQL.lockMigrations, [60]);
      await conn.query(SQL.createMigrationsTable);
      const [rows] = await conn.query<RowDataPacket[]>(SQL.appliedMigrations);
      const applied = new Set(rows.map((r) => Number(r.version)));
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        for (const statement of m.statements) await conn.query(statement);
        await conn.query(SQL.recordMigration, [m.version, m.name]);
        logger.info('applied migration', { version: m.version, name: m.name });
      }
      await conn.query(SQL.unlockMigrations);
    } catch (err) {
      throw classifyMysqlError(err, 'migrate');
    } finally {
      conn.release();
    }
  }

  async ensureTopic(topic: string, partitions: number): Promise<void> {
    for (let p = 0; p < partitions; p++) {
      await this.run('create table', SQL.createMessageTable(topic, p), []);
      await this.run('create priority table', SQL.createPriorityTable(topic, p), []);
      for (const table of [messageTable(topic, p), priorityTable(topic, p)])
        await this.run('add message columns', SQL.addMessageColumns(table), []);
    }
  }

  async dropTopic(topic: string, partitions: number): Promise<void> {
    for (let p = 0; p < partitions; p++) {
      await this.run('drop table', SQL.dropMessageTable(topic, p), []);
      await this.run('drop delay table', DELAY_SQL.dropDelayTable(topic, p), []);
      await this.run('drop priority table', SQL.dropPriorityTable(topic, p), []);
    }
    await this.run('delete topic offsets', SQL.deleteTopicOffsets, [topic]);
  }

  async lastOffset(ref: PartitionRef): Promise<number> {
    const rows = await this.run('read last offset', SQL.lastOffset(ref.topic, ref.partition), []);
    return Number(rows[0]?.last ?? 0);
  }

  async append(batches: AppendBatch[], publishedAt: number): Promise<void> {
    const statements: string[] = [];
    const values: unknown[] = [];
    for (const b of batches) {
      const row = (m: NewMessage, i: number) => [
        b.firstOffset + i,
        publishedAt,
        ...messageColumns(m),
        m.scheduled?.id ?? null,
        m.scheduled?.deliverAt ?? null,
        0,
      ];
      // A priority message: its row in the priority table, a placeholder in the normal one.
      const placeholder = (i: number) => [
        b.firstOffset + i,
        publishedAt,
        '',
        '',
        '[]',
        '{}',
        EMPTY,
        null,
        null,
        1,
      ];
      statements.push(SQL.insertMessages(b.ref.topic, b.ref.partition));
      values.push(b.messages.map((m, i) => (m.priority ? placeholder(i) : row(m, i))));
      const priority = b.messages.flatMap((m, i) => (m.priority ? [row(m, i)] : []));
      if (priority.length > 0) {
        statements.push(SQL.insertPriorityMessages(b.ref.topic, b.ref.partition));
        values.push(priority);
      }
    }
    const dispatched = batches.flatMap((b) => {
      const ids = b.messages.flatMap((m) => (m.scheduled ? [m.scheduled.id] : []));
      return ids.length > 0 ? [{ ref: b.ref, ids }] : [];
    });
    const transaction = statements.length > 1 || dispatched.length > 0;
    // One round trip: the INSERTs and the COMMIT travel as one multi-statement query (after
    // the delay-table DELETEs, which open the transaction, when messages fell due).
    const begin = dispatched.length > 0 ? [] : [SQL.begin];
    const sql = transaction ? [...begin, ...statements, SQL.commit].join(';\n') : statements[0];
    const conn = await this.pool.getConnection().catch((err: unknown) => {
      throw classifyMysqlError(err, 'insert messages');
    });
    try {
      if (dispatched.length > 0) await this.deleteDispatched(conn, dispatched);
      await conn.query({ sql, values, timeout: this.timeout });
      conn.release();
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
      timeout: this.timeout,
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
    const rows = await this.run<(MessageRow & RowDataPacket)[]>(
      'read messages',
      statement(ref.topic, ref.partition),
      [afterOffset, limit],
    );
    return rows.map(toStored);
  }

  async readOffsets(ref: PartitionRef, offsets: number[]): Promise<StoredMessage[]> {
    if (offsets.length === 0) return [];
    const rows = await this.run<(MessageRow & RowDataPacket)[]>(
      'read messages by offset',
      SQL.readMessagesByOffsets(ref.topic, ref.partition),
      [offsets, offsets],
    );
    return rows.map(toStored);
  }

  async forceCommittedOffset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    await this.run('force committed offset', SQL.forceCommittedOffset, [
      group,
      ref.topic,
      ref.partition,
      offset,
    ]);
  }

  async committedOffset(group: string, ref: PartitionRef): Promise<number> {
    const rows = await this.run('read committed offset', SQL.committedOffset, [
      group,
      ref.topic,
      ref.partition,
    ]);
    return Number(rows[0]?.committed_offset ?? 0);
  }

  commitOffset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    return this.commitOffsets([{ group, ref, offset }]);
  }

  async commitOffsets(commits: OffsetCommit[]): Promise<void> {
    if (commits.length === 0) return;
    const rows = commits.map((c) => [c.group, c.ref.topic, c.ref.partition, c.offset]);
    await this.run('commit offsets', SQL.commitOffsets, [rows]);
  }

  async scheduleDelayed(
    ref: PartitionRef,
    messages: { deliverAt: number; message: NewMessage }[],
  ): Promise<number[]> {
    if (messages.length === 0) return [];
    const rows = messages.map(({ deliverAt, message: m }) => [deliverAt, ...messageColumns(m), m.priority]);
    const insert = () =>
      this.pool.query<ResultSetHeader>({
        sql: DELAY_SQL.insertDelayed(ref.topic, ref.partition),
        values: [rows],
        timeout: this.timeout,
      });
    try {
      const [res] = await insert().catch(async (err: unknown) => {
        // The table is created with the partition's first delayed message.
        if (!isMissingTable(err)) throw err;
        await this.pool.query(DELAY_SQL.createDelayTable(ref.topic, ref.partition));
        return insert();
      });
      return messages.map((_, i) => Number(res.insertId) + i);
    } catch (err) {
      throw classifyMysqlError(err, 'insert delayed messages');
    }
  }

  async dueDelayed(
    ref: PartitionRef,
    until: number,
    limit: number,
    after?: { deliverAt: number; id: number },
  ): Promise<DelayedMessage[]> {
    const { topic, partition } = ref;
    const [sql, values] = after
      ? [
          DELAY_SQL.dueDelayedAfter(topic, partition),
          [until, after.deliverAt, after.deliverAt, after.id, limit],
        ]
      : [DELAY_SQL.dueDelayed(topic, partition), [until, limit]];
    try {
      const [rows] = await this.pool.query<(DelayedRow & RowDataPacket)[]>({
        sql,
        values,
        timeout: this.timeout,
      });
      return rows.map(toDelayed);
    } catch (err) {
      if (isMissingTable(err)) return [];
      throw classifyMysqlError(err, 'read delayed messages');
    }
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
      const listed = await this.run<({ name: string; bound: string } & RowDataPacket)[]>(
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
        const newest = await this.run('read segment age', SEGMENT_SQL.newestInSegment(table, s.name), []);
        if (newest.length > 0 && Number(newest[0].published_at) >= expireBefore) break;
        expired.push(s);
      }
      if (expired.length > 0) {
        await this.run(
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
        await this.run(
          'split segments',
          SEGMENT_SQL.splitTail(
            table,
            split.map((s) => ({ name: s.name, lessThan: s.to + 1 })),
          ),
          [],
        );
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
      this.timedRow('find offset by time', TRACE_SQL.messageAtOrAfter(table), id),
    );
    return row?.id;
  }

  async firstOffset(ref: PartitionRef): Promise<number | undefined> {
    return (await this.idRange(messageTable(ref.topic, ref.partition)))?.lo;
  }

  /** The id range of a message table; undefined when it is empty. */
  private async idRange(table: string): Promise<{ lo: number; hi: number } | undefined> {
    return bounds((await this.run('read the offset range', TRACE_SQL.messageIdRange(table), []))[0]);
  }

  async appendTrace(events: TraceEvent[]): Promise<void> {
    if (events.length === 0) return;
    // The messages of one Publish share one detail object: serialise it once.
    const details = new Map<Record<string, string>, string>();
    const json = (d: Record<string, string>) => {
      let text = details.get(d);
      if (text === undefined) details.set(d, (text = JSON.stringify(d)));
      return text;
    };
    const rows = events.map((e) => [
      e.at,
      e.event,
      e.ref.topic,
      e.ref.partition,
      e.offset,
      e.messageId,
      e.refKey.slice(0, 1024),
      e.group,
      e.consumerId.slice(0, 255),
      e.attempt,
      e.broker.slice(0, 255),
      json(e.detail),
    ]);
    await this.run('append trace events', TRACE_SQL.insertTraceEvents, [rows]);
  }

  async trace(query: TraceQuery, limit: number): Promise<TraceEvent[]> {
    const rows =
      'messageId' in query
        ? await this.run<(TraceRow & RowDataPacket)[]>('read trace', TRACE_SQL.traceByMessage, [
            query.messageId,
            limit,
          ])
        : await this.run<(TraceRow & RowDataPacket)[]>('read trace', TRACE_SQL.traceByRef, [
            query.topic,
            query.refKey,
            limit,
          ]);
    return rows.map(toTraceEvent);
  }

  expireTrace(before: number): Promise<number> {
    return this.expire('trace_events', before);
  }

  async appendCommands(commands: Command[]): Promise<number> {
    if (commands.length === 0) return this.lastCommandId();
    const now = Date.now();
    const rows = commands.map((c) => [
      now,
      c.kind,
      c.group,
      c.ref.topic,
      c.ref.partition,
      c.kind === 'reset' ? c.offset : 0,
    ]);
    const conn = await this.pool.getConnection().catch((err: unknown) => {
      throw classifyMysqlError(err, 'append commands');
    });
    try {
      // Readers take every id above the last they saw, so ids must become visible in order:
      // appenders take turns (the lock), and each INSERT commits before the next one starts.
      const [locked] = await conn.query<RowDataPacket[]>({
        sql: TRACE_SQL.lockCommands,
        values: [Math.ceil(this.timeout / 1000)],
        timeout: this.timeout,
      });
      if (Number(locked[0]?.locked) !== 1) {
        throw new HeraldError('STORAGE_UNAVAILABLE', 'append commands: the command log stayed locked');
      }
      let last: number;
      try {
        const [result] = await conn.query<ResultSetHeader>({
          sql: TRACE_SQL.insertCommands,
          values: [rows],
          timeout: this.timeout,
        });
        // One multi-row INSERT takes consecutive AUTO_INCREMENT ids; insertId is the first.
        last = result.insertId + commands.length - 1;
      } finally {
        await conn.query(TRACE_SQL.unlockCommands);
      }
      conn.release();
      return last;
    } catch (err) {
      const e = classifyMysqlError(err, 'append commands');
      // Dropping the connection also drops the lock it may hold.
      conn.destroy();
      throw e;
    }
  }

  async commandsAfter(afterId: number, limit: number): Promise<{ id: number; command: Command }[]> {
    const rows = await this.run<(CommandRow & RowDataPacket)[]>('read commands', TRACE_SQL.commandsAfter, [
      afterId,
      limit,
    ]);
    return rows.flatMap((r) => {
      const command = toCommand(r);
      return command ? [{ id: Number(r.id), command }] : [];
    });
  }

  async lastCommandId(): Promise<number> {
    const rows = await this.run('read last command id', TRACE_SQL.lastCommandId, []);
    return Number(rows[0]?.last ?? 0);
  }

  expireCommands(before: number): Promise<number> {
    return this.expire('commands', before);
  }

  /** Deletes the rows of a log table written before `before`, by primary-key ranges. */
  private async expire(table: LogTable, before: number): Promise<number> {
    const what = `expire ${table}`;
    const range = bounds((await this.run(what, TRACE_SQL.idRange(table), []))[0]);
    if (range === undefined) return 0;
    const keep = await firstAtOrAfter(range.lo, range.hi, before, (id) =>
      this.timedRow(what, TRACE_SQL.rowAtOrAfter(table), id),
    );
    const last = keep ? keep.id - 1 : range.hi;
    let deleted = 0;
    for (;;) {
      const changed = await this.affected(what, TRACE_SQL.deleteUpTo(table), [last, EXPIRE_CHUNK]);
      deleted += changed;
      if (changed < EXPIRE_CHUNK) return deleted;
    }
  }

  private async timedRow(what: string, sql: string, id: number): Promise<TimedRow | undefined> {
    const rows = await this.run(what, sql, [id]);
    return rows[0] ? { id: Number(rows[0].id), at: Number(rows[0].at) } : undefined;
  }

  async scheduleResends(resends: Resend[]): Promise<void> {
    if (resends.length === 0) return;
    const rows = resends.map((r) => [
      r.group,
      r.ref.topic,
      r.ref.partition,
      r.scheduleAt,
      r.offset,
      r.attempts,
      r.lastError,
    ]);
    await this.run('schedule resends', RETRY_SQL.scheduleResends, [rows]);
  }

  async dueResends(group: string, ref: PartitionRef, now: number, limit: number): Promise<Resend[]> {
    const rows = await this.run<(ResendRow & RowDataPacket)[]>('read due resends', RETRY_SQL.dueResends, [
      group,
      ref.topic,
      ref.partition,
      now,
      limit,
    ]);
    return rows.map((r) => ({
      group: r.group_name,
      ref: { topic: r.topic, partition: Number(r.partition_id) },
      offset: Number(r.msg_offset),
      scheduleAt: Number(r.schedule_at),
      attempts: Number(r.attempts),
      lastError: r.last_error,
    }));
  }

  async nextResendAt(group: string, ref: PartitionRef, after = -1): Promise<number | undefined> {
    const rows = await this.run('read next resend', RETRY_SQL.nextResendAt, [
      group,
      ref.topic,
      ref.partition,
      after,
    ]);
    const next = rows[0]?.next as number | string | null | undefined;
    return next === null || next === undefined ? undefined : Number(next);
  }

  async deleteResends(group: string, ref: PartitionRef, offsets: number[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.run('delete resends', RETRY_SQL.deleteResends, [group, ref.topic, ref.partition, offsets]);
  }

  async deadLetter(letters: NewDeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const deadAt = Date.now();
    const rows = letters.map((l) => [
      l.group,
      l.message.ref.topic,
      l.message.ref.partition,
      l.message.offset,
      l.message.publishedAt,
      l.message.key,
      l.message.refKey,
      JSON.stringify(l.message.tags),
      JSON.stringify(l.message.properties),
      l.message.body,
      l.message.priority ? 1 : 0,
      l.reason,
      l.attempts,
      l.lastError,
      deadAt,
    ]);
    await this.transaction('dead-letter', async (conn) => {
      await conn.query({ sql: RETRY_SQL.insertDeadLetters, values: [rows], timeout: this.timeout });
      for (const [, group] of groupByPartition(letters)) {
        const { group: name, message } = group[0];
        const offsets = group.map((l) => l.message.offset);
        await conn.query({
          sql: RETRY_SQL.deleteResends,
          values: [name, message.ref.topic, message.ref.partition, offsets],
          timeout: this.timeout,
        });
      }
    });
  }

  async listDeadLetters(query: DeadLetterQuery, limit: number, after: number): Promise<DeadLetter[]> {
    const rows = await this.run<(DeadLetterRow & RowDataPacket)[]>(
      'list dead letters',
      RETRY_SQL.listDeadLetters,
      [...deadLetterFilterParams(query), after, after, limit],
    );
    return rows.map(toDeadLetter);
  }

  replayDeadLetters(query: DeadLetterQuery, now: number): Promise<DeadLetter[]> {
    return this.transaction('replay dead letters', async (conn) => {
      const [rows] = await conn.query<(DeadLetterRow & RowDataPacket)[]>({
        sql: RETRY_SQL.lockDeadLetters,
        values: deadLetterFilterParams(query),
        timeout: this.timeout,
      });
      const letters = rows.map(toDeadLetter);
      if (letters.length === 0) return letters;
      // Due now, with a fresh budget: the replay is delivered as attempt 1 again.
      const resends = letters.map((l) => [
        l.group,
        l.message.ref.topic,
        l.message.ref.partition,
        now,
        l.message.offset,
        0,
        '',
      ]);
      await conn.query({ sql: RETRY_SQL.scheduleResends, values: [resends], timeout: this.timeout });
      await conn.query({
        sql: RETRY_SQL.deleteDeadLettersById,
        values: [letters.map((l) => l.id)],
        timeout: this.timeout,
      });
      return letters;
    });
  }

  async purgeDeadLetters(query: DeadLetterQuery): Promise<number> {
    return this.affected('purge dead letters', RETRY_SQL.purgeDeadLetters, deadLetterFilterParams(query));
  }

  async expireDeadLetters(topic: string, group: string, before: number): Promise<number> {
    return this.affected('expire dead letters', RETRY_SQL.expireDeadLetters, [topic, group, before]);
  }

  async ping(): Promise<void> {
    await this.run('ping', SQL.ping, []);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** msg_key, ref_key, tags, properties, body: the columns every message table shares. */
function messageColumns(m: NewMessage): unknown[] {
  return [m.key, m.refKey, JSON.stringify(m.tags), JSON.stringify(m.properties), m.body];
}

function messageFields(row: Pick<MessageRow, 'msg_key' | 'ref_key' | 'tags' | 'properties' | 'body'>) {
  return {
    key: row.msg_key,
    refKey: row.ref_key,
    tags: JSON.parse(row.tags) as string[],
    properties: JSON.parse(row.properties) as Record<string, string>,
    body: row.body,
  };
}

/** { lo, hi } of a MIN/MAX row; undefined for an empty table (NULLs). */
function bounds(row: RowDataPacket | undefined): { lo: number; hi: number } | undefined {
  const lo = row?.lo as number | string | null | undefined;
  const hi = row?.hi as number | string | null | undefined;
  if (lo === null || lo === undefined || hi === null || hi === undefined) return undefined;
  return { lo: Number(lo), hi: Number(hi) };
}

function toTraceEvent(row: TraceRow): TraceEvent {
  return {
    at: Number(row.at_ms),
    event: row.event,
    ref: { topic: row.topic, partition: Number(row.partition_id) },
    offset: Number(row.offset_id),
    messageId: row.message_id,
    refKey: row.ref_key,
    group: row.group_name,
    consumerId: row.consumer_id,
    attempt: Number(row.attempt),
    broker: row.broker,
    detail: JSON.parse(row.detail) as Record<string, string>,
  };
}

/** A stored command, or undefined for a kind this broker does not know (a newer broker's). */
function toCommand(row: CommandRow): Command | undefined {
  const ref = { topic: row.topic, partition: Number(row.partition_id) };
  if (row.kind === 'reset')
    return { kind: 'reset', group: row.group_name, ref, offset: Number(row.offset_id) };
  if (row.kind === 'resend-wakeup') return { kind: 'resend-wakeup', group: row.group_name, ref };
  return undefined;
}

function toStored(row: MessageRow): StoredMessage {
  return {
    offset: Number(row.id),
    publishedAt: Number(row.published_at),
    ...messageFields(row),
    priority: Number(row.priority) === 1,
    ...(row.scheduled_id === null || row.deliver_at === null
      ? {}
      : { scheduled: { id: Number(row.scheduled_id), deliverAt: Number(row.deliver_at) } }),
  };
}

function toDelayed(row: DelayedRow): DelayedMessage {
  return {
    id: Number(row.id),
    deliverAt: Number(row.deliver_at),
    message: { ...messageFields(row), priority: Boolean(row.priority) },
  };
}

function isMissingTable(err: unknown): boolean {
  return (err as { code?: string }).code === 'ER_NO_SUCH_TABLE';
}

const EMPTY = Buffer.alloc(0);

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: Number(row.id),
    group: row.group_name,
    message: {
      ...toStored({ ...row, id: row.msg_offset, scheduled_id: null, deliver_at: null }),
      ref: { topic: row.topic, partition: Number(row.partition_id) },
    },
    reason: row.reason,
    attempts: Number(row.attempts),
    lastError: row.last_error,
    deadAt: Number(row.dead_at),
  };
}

function groupByPartition(letters: NewDeadLetter[]): Map<string, NewDeadLetter[]> {
  const out = new Map<string, NewDeadLetter[]>();
  for (const l of letters) {
    const k = `${l.group}\u0000${l.message.ref.topic}\u0000${l.message.ref.partition}`;
    out.set(k, [...(out.get(k) ?? []), l]);
  }
  return out;
}
