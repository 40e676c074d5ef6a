// The MySQL/MariaDB adapter of MessageStore, on mysql2. Statements come from sql.ts; this
// file only runs them, converts rows and classifies driver errors into HeraldErrors.
import mysql from 'mysql2/promise';
import type { Pool, PoolOptions, RowDataPacket } from 'mysql2/promise';
import { HeraldError } from '../../../client/errors';
import type { Logger } from '../../../client/logger';
import type { AppendBatch, MessageStore, OffsetCommit, PartitionRef, StoredMessage } from '../storage';
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

export async function createMysqlStore(options: MysqlStoreOptions): Promise<MessageStore> {
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

class MysqlStore implements MessageStore {
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
    for (let p = 0; p < partitions; p++) await this.run('create table', SQL.createMessageTable(topic, p), []);
  }

  async dropTopic(topic: string, partitions: number): Promise<void> {
    for (let p = 0; p < partitions; p++) await this.run('drop table', SQL.dropMessageTable(topic, p), []);
    await this.run('delete topic offsets', SQL.deleteTopicOffsets, [topic]);
  }

  async lastOffset(ref: PartitionRef): Promise<number> {
    const rows = await this.run('read last offset', SQL.lastOffset(ref.topic, ref.partition), []);
    return Number(rows[0]?.last ?? 0);
  }

  async append(batches: AppendBatch[], publishedAt: number): Promise<void> {
    const values = batches.map((b) => [
      b.messages.map((m, i) => [
        b.firstOffset + i,
        publishedAt,
        m.key,
        m.refKey,
        JSON.stringify(m.tags),
        JSON.stringify(m.properties),
        m.body,
      ]),
    ]);
    const statements = batches.map((b) => SQL.insertMessages(b.ref.topic, b.ref.partition));
    // One round trip: the INSERTs and the COMMIT travel as one multi-statement query.
    const sql = statements.length === 1 ? statements[0] : [SQL.begin, ...statements, SQL.commit].join(';\n');
    const conn = await this.pool.getConnection().catch((err: unknown) => {
      throw classifyMysqlError(err, 'insert messages');
    });
    try {
      await conn.query({ sql, values: values.flat(), timeout: this.timeout });
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

  async read(ref: PartitionRef, afterOffset: number, limit: number): Promise<StoredMessage[]> {
    const rows = await this.run<(MessageRow & RowDataPacket)[]>(
      'read messages',
      SQL.readMessages(ref.topic, ref.partition),
      [afterOffset, limit],
    );
    return rows.map(toStored);
  }

  async readOffsets(ref: PartitionRef, offsets: number[]): Promise<StoredMessage[]> {
    if (offsets.length === 0) return [];
    const rows = await this.run<(MessageRow & RowDataPacket)[]>(
      'read messages by offset',
      SQL.readMessagesByOffsets(ref.topic, ref.partition),
      [offsets],
    );
    return rows.map(toStored);
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
  };
}
