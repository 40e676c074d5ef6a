// Proves the MariaDB of the local environment is real: a mysql2 round trip through InnoDB.
import { createConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { testEnv, uniqueDatabase } from '../env';

test('mysql2 writes and reads back a row in a fresh database', async () => {
  const db = uniqueDatabase('smoke');
  const conn = await createConnection({ uri: testEnv().mysqlUrl });
  try {
    await conn.query(`CREATE DATABASE \`${db}\``);
    await conn.query(`USE \`${db}\``);
    await conn.query('CREATE TABLE t (id BIGINT PRIMARY KEY, body VARBINARY(64)) ENGINE=InnoDB');
    await conn.execute('INSERT INTO t (id, body) VALUES (?, ?)', [1, Buffer.from('hello')]);
    const [rows] = await conn.execute<RowDataPacket[]>('SELECT id, body FROM t');
    expect(rows).toHaveLength(1);
    expect(Number(rows[0].id)).toBe(1);
    expect((rows[0].body as Buffer).toString()).toBe('hello');
    const [vars] = await conn.query<RowDataPacket[]>("SHOW VARIABLES LIKE 'innodb_flush_log_at_trx_commit'");
    expect(vars[0].Value).toBe('1');
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await conn.end();
  }
});
