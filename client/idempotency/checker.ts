// Consumer-side idempotency, after QMQ's idempotent checkers: Herald delivers at least once, so
// a consumer that must act once per message records what it processed under a dedup key
// (the message id, or a business key such as ref_key) and skips repeats.
//
// Two ways to use the MySQL checker:
// - runOnce(group, key, handler): the key is claimed before the handler runs, marked done after
//   it succeeds, and released if it fails, so a redelivery runs it again. A consumer that dies
//   mid-handler leaves a claim that another may take over once `claimTimeoutMs` has passed.
//   Effects outside the database can repeat in that one case (a crash after the effect and
//   before the mark).
// - inTransaction(group, key, handler): the key is inserted in the same MySQL transaction as
//   the handler's own writes, so the two commit together: exactly once for database effects.
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { SQL } from './sql';

export interface IdempotencyOptions {
  /** The table of processed keys; created by ensureSchema(). */
  table: string;
  /** How long a claim protects a key whose handler is still running. */
  claimTimeoutMs: number;
}

export const IDEMPOTENCY_DEFAULTS: IdempotencyOptions = { table: 'herald_consumed', claimTimeoutMs: 60_000 };

export type Outcome<T> = { ran: true; result: T } | { ran: false; reason: 'duplicate' };

/** Thrown when another consumer holds a live claim on the key: retry later (Nack with a delay). */
export class KeyInProgressError extends Error {
  override readonly name = 'KeyInProgressError';
  readonly retriable = true;
  constructor(
    readonly group: string,
    readonly key: string,
  ) {
    super(
      `key ${JSON.stringify(key)} of group ${JSON.stringify(group)} is being processed by another consumer`,
    );
  }
}

export class MysqlIdempotencyChecker {
  readonly options: IdempotencyOptions;

  constructor(
    private readonly pool: Pool,
    options: Partial<IdempotencyOptions> = {},
  ) {
    this.options = { ...IDEMPOTENCY_DEFAULTS, ...options };
    SQL.createTable(this.options.table); // validates the table name now, not at first use
    if (!Number.isInteger(this.options.claimTimeoutMs) || this.options.claimTimeoutMs < 1) {
      throw new RangeError(`claimTimeoutMs must be a positive integer, got ${this.options.claimTimeoutMs}`);
    }
  }

  async ensureSchema(): Promise<void> {
    await this.pool.query(SQL.createTable(this.options.table));
  }

  /** Runs the handler unless the key was processed; see the file comment for the guarantees. */
  async runOnce<T>(group: string, key: string, handler: () => Promise<T>): Promise<Outcome<T>> {
    checkKey(group, key);
    const t = this.options.table;
    const timeoutMicros = this.options.claimTimeoutMs * 1000;
    const [claimed] = await this.pool.execute<ResultSetHeader>(SQL.claim(t), [group, key, timeoutMicros]);
    if (claimed.affectedRows === 0) {
      const [taken] = await this.pool.execute<ResultSetHeader>(SQL.takeOver(t), [timeoutMicros, group, key]);
      if (taken.affectedRows === 0) {
        const [rows] = await this.pool.execute<RowDataPacket[]>(SQL.stateOf(t), [group, key]);
        if (rows[0]?.state === 'done') return { ran: false, reason: 'duplicate' };
        throw new KeyInProgressError(group, key);
      }
    }
    let result: T;
    try {
      result = await handler();
    } catch (err) {
      await this.pool.execute(SQL.release(t), [group, key]);
      throw err;
    }
    await this.pool.execute(SQL.markDone(t), [group, key]);
    return { ran: true, result };
  }

  /**
   * Runs the handler in a transaction on a connection of the pool, after inserting the key in
   * the same transaction; a repeat is skipped without running the handler. The handler's
   * writes must use the connection it is given.
   */
  async inTransaction<T>(
    group: string,
    key: string,
    handler: (conn: PoolConnection) => Promise<T>,
  ): Promise<Outcome<T>> {
    checkKey(group, key);
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      const [claimed] = await conn.execute<ResultSetHeader>(SQL.claimDone(this.options.table), [group, key]);
      if (claimed.affectedRows === 0) {
        await conn.rollback();
        return { ran: false, reason: 'duplicate' };
      }
      const result = await handler(conn);
      await conn.commit();
      return { ran: true, result };
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
  }

  /** Deletes keys older than `retentionMs`, in slices of `slice` rows; returns how many. */
  async cleanup(retentionMs: number, slice = 10_000): Promise<number> {
    let deleted = 0;
    for (;;) {
      const [r] = await this.pool.execute<ResultSetHeader>(SQL.deleteOlderThan(this.options.table), [
        retentionMs * 1000,
        slice,
      ]);
      deleted += r.affectedRows;
      if (r.affectedRows < slice) return deleted;
    }
  }
}

function checkKey(group: string, key: string): void {
  if (group.length === 0 || group.length > 64)
    throw new RangeError(`group must be 1-64 characters, got ${JSON.stringify(group)}`);
  if (key.length === 0 || key.length > 255)
    throw new RangeError(`key must be 1-255 characters, got ${key.length}`);
}
