// The MySQL idempotency checker against the real MariaDB: a key runs once, concurrent
// duplicates run once, a failed handler can run again, a dead consumer's claim is taken over
// after its timeout, a transaction commits the key with the business write or neither, and
// cleanup removes old keys.
import mysql from 'mysql2/promise';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { KeyInProgressError, MysqlIdempotencyChecker } from '../../../client';
import { mysqlUrl } from '../broker/helpers';
import { testEnv, uniqueDatabase } from '../env';
import { waitFor } from '../wait';

const database = uniqueDatabase('idem');
let pool: Pool;

beforeAll(async () => {
  const admin = await mysql.createConnection(testEnv().mysqlUrl);
  await admin.query(`CREATE DATABASE \`${database}\``);
  await admin.end();
  pool = mysql.createPool({ uri: mysqlUrl(database), connectionLimit: 8 });
  await pool.query('CREATE TABLE orders (id VARCHAR(64) PRIMARY KEY, amount INT NOT NULL) ENGINE=InnoDB');
});
afterAll(async () => {
  await pool.query(`DROP DATABASE \`${database}\``);
  await pool.end();
});

/** The state of a key's row, or undefined while there is none. */
async function claimState(table: string, key: string): Promise<string | undefined> {
  const [rows] = await pool.query<RowDataPacket[]>(`SELECT state FROM \`${table}\` WHERE dedup_key = ?`, [
    key,
  ]);
  return rows[0]?.state as string | undefined;
}

function checker(options: ConstructorParameters<typeof MysqlIdempotencyChecker>[1] = {}) {
  const c = new MysqlIdempotencyChecker(pool, options);
  return c.ensureSchema().then(() => c);
}

test('a key runs once; another group runs it again', async () => {
  const c = await checker();
  let runs = 0;
  const handler = () => Promise.resolve(++runs);
  expect(await c.runOnce('billing', 'orders/0/1', handler)).toEqual({ ran: true, result: 1 });
  expect(await c.runOnce('billing', 'orders/0/1', handler)).toEqual({ ran: false, reason: 'duplicate' });
  expect(await c.runOnce('shipping', 'orders/0/1', handler)).toEqual({ ran: true, result: 2 });
  expect(runs).toBe(2);
});

test('concurrent deliveries of one key: one handler runs, the others are told to retry', async () => {
  const c = await checker({ table: 'concurrent' });
  let runs = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const first = c.runOnce('g', 'k', async () => {
    runs++;
    await gate;
  });
  await waitFor('the first claim', () => claimState('concurrent', 'k'));
  const others = await Promise.allSettled(
    Array.from({ length: 5 }, () => c.runOnce('g', 'k', () => Promise.resolve(runs++))),
  );
  expect(others.map((o) => (o.status === 'rejected' ? (o.reason as Error).name : o.value))).toEqual(
    Array(5).fill('KeyInProgressError'),
  );
  release();
  await first;
  expect(runs).toBe(1);
  expect(await c.runOnce('g', 'k', () => Promise.resolve(runs++))).toEqual({
    ran: false,
    reason: 'duplicate',
  });
});

test('a failed handler releases the key, so the redelivery runs it', async () => {
  const c = await checker({ table: 'failing' });
  await expect(c.runOnce('g', 'k', () => Promise.reject(new Error('downstream down')))).rejects.toThrow(
    'downstream down',
  );
  expect(await c.runOnce('g', 'k', () => Promise.resolve('second try'))).toEqual({
    ran: true,
    result: 'second try',
  });
});

test("a dead consumer's claim is refused until its timeout, then taken over", async () => {
  const c = await checker({ table: 'takeover', claimTimeoutMs: 1_000 });
  // The first consumer claims and "dies": its handler never settles.
  void c.runOnce('g', 'k', () => new Promise<never>(() => undefined));
  await waitFor('the first claim', () => claimState('takeover', 'k'));
  await expect(c.runOnce('g', 'k', () => Promise.resolve('early'))).rejects.toBeInstanceOf(
    KeyInProgressError,
  );
  const outcome = await waitFor('the claim to expire and be taken over', async () => {
    try {
      return await c.runOnce('g', 'k', () => Promise.resolve('taken over'));
    } catch (err) {
      if (err instanceof KeyInProgressError) return undefined;
      throw err;
    }
  });
  expect(outcome).toEqual({ ran: true, result: 'taken over' });
});

test('inTransaction: the key commits with the business write, or neither does', async () => {
  const c = await checker({ table: 'tx' });
  const insert = (id: string) => (conn: mysql.PoolConnection) =>
    conn.execute('INSERT INTO orders (id, amount) VALUES (?, ?)', [id, 10]).then(() => id);

  expect(await c.inTransaction('g', 'order-1', insert('order-1'))).toEqual({ ran: true, result: 'order-1' });
  expect(await c.inTransaction('g', 'order-1', insert('order-1'))).toEqual({
    ran: false,
    reason: 'duplicate',
  });

  const failing = (conn: mysql.PoolConnection) =>
    conn.execute('INSERT INTO orders (id, amount) VALUES (?, ?)', ['order-2', 5]).then(() => {
      throw new Error('validation failed after the write');
    });
  await expect(c.inTransaction('g', 'order-2', failing)).rejects.toThrow('validation failed');
  const [rows] = await pool.query<RowDataPacket[]>("SELECT id FROM orders WHERE id = 'order-2'");
  expect(rows).toHaveLength(0);
  expect(await c.inTransaction('g', 'order-2', insert('order-2'))).toEqual({ ran: true, result: 'order-2' });
});

test('cleanup deletes keys older than the retention, in slices', async () => {
  const c = await checker({ table: 'retention' });
  for (let i = 0; i < 25; i++) await c.runOnce('g', `old-${i}`, () => Promise.resolve());
  await pool.query('UPDATE retention SET created_at = created_at - INTERVAL 2 HOUR');
  await c.runOnce('g', 'fresh', () => Promise.resolve());
  expect(await c.cleanup(3_600_000, 10)).toBe(25);
  const [rows] = await pool.query<RowDataPacket[]>('SELECT dedup_key FROM retention');
  expect(rows.map((r) => r.dedup_key as string)).toEqual(['fresh']);
});

test('bad options and keys are refused with the field named', () => {
  expect(() => new MysqlIdempotencyChecker(pool, { table: 'x; DROP TABLE orders' })).toThrow(/table must be/);
  expect(() => new MysqlIdempotencyChecker(pool, { claimTimeoutMs: 0 })).toThrow(/claimTimeoutMs/);
  const c = new MysqlIdempotencyChecker(pool);
  return expect(c.runOnce('g', '', () => Promise.resolve())).rejects.toThrow(/key must be/);
});
