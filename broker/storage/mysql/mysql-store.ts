// The MySQL/MariaDB adapter of MessageStore, on mysql2. Statements come from sql.ts; this
// file only runs them, converts rows and classifies driver errors into HeraldErrors.
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { HeraldError } from '../../../client/errors';
import type { Logger } from '../../../client/logger';
import type { DeadLetter, DeadLetterQuery, NewDeadLetter, Resend, RetryStore } from '../retry-store';
import type { AppendBatch, Lane, MessageStore, OffsetCommit, PartitionRef, StoredMessage } from '../storage';
import { RETRY_SQL, deadLetterFilterParams } from './retry-sql';
import type { DeadLetterRow, ResendRow } from './retry-sql';
import { MIGRATIONS, SQL } from './sql';
import type { MessageRow } from './sql';

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

/** What the MySQL adapter stores: messages and offsets, and the retry schedule and dead letters. */
export type MysqlStores = MessageStore & RetryStore;

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

class MysqlStore implements MessageStore, RetryStore {
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
      await this.run('add lane column', SQL.addLaneColumn(topic, p), []);
      await this.run('create priority table', SQL.createPriorityTable(topic, p), []);
    }
  }

  async dropTopic(topic: string, partitions: number): Promise<void> {
    for (let p = 0; p < partitions; p++) {
      await this.run('drop table', SQL.dropMessageTable(topic, p), []);
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
      const row = (m: AppendBatch['messages'][number], i: number, lane: number) => [
        b.firstOffset + i,
        publishedAt,
        m.key,
        m.refKey,
        JSON.stringify(m.tags),
        JSON.stringify(m.properties),
        m.body,
        lane,
      ];
      // A priority message: its row in the priority table, a placeholder in the normal one.
      const placeholder = (i: number) => [b.firstOffset + i, publishedAt, '', '', '[]', '{}', EMPTY, 1];
      statements.push(SQL.insertMessages(b.ref.topic, b.ref.partition));
      values.push(b.messages.map((m, i) => (m.priority ? placeholder(i) : row(m, i, 0))));
      const priority = b.messages.flatMap((m, i) => (m.priority ? [row(m, i, 0)] : []));
      if (priority.length > 0) {
        statements.push(SQL.insertPriorityMessages(b.ref.topic, b.ref.partition));
        values.push(priority);
      }
    }
    // One round trip: the INSERTs and the COMMIT travel as one multi-statement query.
    const sql = statements.length === 1 ? statements[0] : [SQL.begin, ...statements, SQL.commit].join(';\n');
    const conn = await this.pool.getConnection().catch((err: unknown) => {
      throw classifyMysqlError(err, 'insert messages');
    });
    try {
      await conn.query({ sql, values, timeout: this.timeout });
      conn.release();
    } catch (err) {
      const e = classifyMysqlError(err, 'insert messages');
      if (e.reason === 'STORAGE_UNAVAILABLE') conn.destroy();
      // A failed statement leaves the transaction open: roll it back, or drop the connection.
      else if (statements.length > 1)
        await conn.query(SQL.rollback).then(
          () => conn.release(),
          () => conn.destroy(),
        );
      else conn.release();
      throw e;
    }
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

  async firstOffset(ref: PartitionRef): Promise<number | undefined> {
    const rows = await this.run('read first offset', SQL.firstOffset(ref.topic, ref.partition), []);
    const first = rows[0]?.first as number | string | null | undefined;
    return first === null || first === undefined ? undefined : Number(first);
  }

  async offsetAtTime(ref: PartitionRef, at: number): Promise<number | undefined> {
    const rows = await this.run('read offset at time', SQL.offsetAtTime(ref.topic, ref.partition), [at]);
    return rows[0] ? Number(rows[0].id) : undefined;
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

  /**
   * MERGE POINT: segment retention is built on the delay/retention branch; its implementation
   * replaces this one. This branch only needs the class to satisfy MessageStore.
   */
  maintainSegments(): Promise<{ from: number; to: number }[]> {
    return Promise.reject(new HeraldError('INTERNAL_ERROR', 'segment retention is not part of this build'));
  }

  // ---- RetryStore ----

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
    try {
      const [result] = await this.pool.query<ResultSetHeader>({
        sql: RETRY_SQL.purgeDeadLetters,
        values: deadLetterFilterParams(query),
        timeout: this.timeout,
      });
      return result.affectedRows;
    } catch (err) {
      throw classifyMysqlError(err, 'purge dead letters');
    }
  }

  async expireDeadLetters(topic: string, group: string, before: number): Promise<number> {
    try {
      const [result] = await this.pool.query<ResultSetHeader>({
        sql: RETRY_SQL.expireDeadLetters,
        values: [topic, group, before],
        timeout: this.timeout,
      });
      return result.affectedRows;
    } catch (err) {
      throw classifyMysqlError(err, 'expire dead letters');
    }
  }

  async ping(): Promise<void> {
    await this.run('ping', SQL.ping, []);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function toStored(row: MessageRow): StoredMessage {
  return {
    offset: Number(row.id),
    publishedAt: Number(row.published_at),
    key: row.msg_key,
    refKey: row.ref_key,
    tags: JSON.parse(row.tags) as string[],
    properties: JSON.parse(row.properties) as Record<string, string>,
    body: row.body,
    priority: Number(row.priority) === 1,
  };
}

const EMPTY = Buffer.alloc(0);

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: Number(row.id),
    group: row.group_name,
    message: {
      ...toStored({ ...row, id: row.msg_offset }),
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
