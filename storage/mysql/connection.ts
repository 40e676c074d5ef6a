// One MySQL/MariaDB connection pool (mysql2) under every MySQL store of a pool: opening it
// (database created when missing, migrations applied), running statements with a timeout,
// transactions, and the one classification of driver errors into HeraldErrors. The stores
// (message-store.ts, retry-store.ts, delay-store.ts, trace-store.ts) run their statements
// from sql*.ts through it.
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { TimedRow } from '../time-search';
import { MIGRATIONS, SQL } from './sql';

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

/** Opens the pool: creates the database when missing and applies the migrations. */
export async function openMysqlConnection(options: MysqlStoreOptions): Promise<MysqlConnection> {
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
    // No stack capture per query in mysql2's promise wrapper (Error.captureStackTrace on every
    // call, ~1 % of the broker's CPU at 1,000 single publishes/s): a failed statement is rethrown
    // by classifyMysqlError as a HeraldError naming the operation, whose own stack (with V8's
    // async frames) shows the Herald caller, and which keeps the driver's error as its cause.
    trace: false,
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
  const connection = new MysqlConnection(pool, options.queryTimeoutMs);
  try {
    await connection.migrate(options.logger);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return connection;
}

export class MysqlConnection {
  constructor(
    readonly pool: Pool,
    /** Statement timeout in ms. */
    readonly timeout: number,
  ) {}

  async run<T extends RowDataPacket[]>(what: string, sql: string, values: unknown[]): Promise<T> {
    try {
      const [rows] = await this.pool.query<T>({ sql, values, timeout: this.timeout });
      return rows;
    } catch (err) {
      throw classifyMysqlError(err, what);
    }
  }

  /** Runs a DELETE or UPDATE; returns how many rows it changed. */
  async affected(what: string, sql: string, values: unknown[]): Promise<number> {
    return (await this.run<RowDataPacket[] & ResultSetHeader>(what, sql, values)).affectedRows;
  }

  /** Runs `work` in a transaction on one connection; rolls back (or drops the connection) on failure. */
  async transaction<T>(what: string, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
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

  /** The { id, at } row a statement finds for an id (time searches). */
  async timedRow(what: string, sql: string, id: number): Promise<TimedRow | undefined> {
    const rows = await this.run(what, sql, [id]);
    return rows[0] ? { id: Number(rows[0].id), at: Number(rows[0].at) } : undefined;
  }

  async ping(): Promise<void> {
    await this.run('ping', SQL.ping, []);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** { lo, hi } of a MIN/MAX row; undefined for an empty table (NULLs). */
export function bounds(row: RowDataPacket | undefined): { lo: number; hi: number } | undefined {
  const lo = row?.lo as number | string | null | undefined;
  const hi = row?.hi as number | string | null | undefined;
  if (lo === null || lo === undefined || hi === null || hi === undefined) return undefined;
  return { lo: Number(lo), hi: Number(hi) };
}

export function isMissingTable(err: unknown): boolean {
  return (err as { code?: string }).code === 'ER_NO_SUCH_TABLE';
}
