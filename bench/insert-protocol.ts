// How a group commit's rows could travel to MariaDB (a script, not a test), issue #15: the
// commit as the broker sends it (one multi-statement text query, bodies as hex) against
// bodies as binary parameters of prepared statements (mysql2 execute), each commit being
// BENCH_TABLES partition INSERTs of BENCH_ROWS 1 KiB rows plus one trace row per message, on
// BENCH_WORKERS connections at once. Prints rows/s, this process's and MariaDB's CPU per row.
//   node -r ts-node/register/transpile-only bench/insert-protocol.ts [mode ...]
// Modes (default all, alternated BENCH_ROUNDS times):
//   text        START TRANSACTION; INSERT ... VALUES ?; ...; COMMIT in one query (today's commit)
//   compound    one prepared BEGIN NOT ATOMIC ... END holding the whole commit (one round trip),
//               prepared once and reused: only a commit of the same shape (tables, row counts)
//               can reuse it
//   prepare     the same, prepared for each commit and closed after it (a shape seen once)
//   statements  START TRANSACTION, one prepared INSERT per partition and one for the trace rows,
//               COMMIT: a round trip per statement
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { DEFAULTS } from '../common/broker-options';
import { SEGMENT_SQL } from '../storage/mysql/sql-segments';
import { SQL, messageTable } from '../storage/mysql/sql';
import { TRACE_SQL } from '../storage/mysql/trace-sql';
import { traceRows } from '../storage/mysql/trace-store';
import { messageRow } from '../storage/mysql/rows';
import type { NewMessage } from '../storage/storage';
import { openMysqlConnection } from '../storage/mysql/connection';
import { createLogger } from '../common/logger';
import { cpuSeconds, pidsNamed } from './proc';
import { loops } from './load';
import { readFileSync } from 'node:fs';
import { benchDatabase, databaseUrl, dropDatabases, runBenchmark } from './results';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const TABLES = Number(process.env.BENCH_TABLES ?? 4);
const ROWS = Number(process.env.BENCH_ROWS ?? 100);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const PARTITIONS = 16;
/** The message tables' range partitions as the broker creates them. */
const LAYOUT = SEGMENT_SQL.layout(DEFAULTS.retention.segmentMessages);
const TOPIC = 'insert-protocol';
const MESSAGE: NewMessage = {
  key: '',
  refKey: '',
  tags: [],
  properties: {},
  body: Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 37) & 255)),
  priority: false,
};
const MODES = ['text', 'compound', 'prepare', 'statements'] as const;
type Mode = (typeof MODES)[number];

const placeholders = new Map<string, string>();
/** `(?,...),(?,...)` for n rows of c columns, built once per shape. */
function values(n: number, c: number): string {
  const key = `${n}x${c}`;
  let text = placeholders.get(key);
  if (text === undefined) {
    const row = `(${Array.from({ length: c }, () => '?').join(',')})`;
    placeholders.set(key, (text = Array.from({ length: n }, () => row).join(',')));
  }
  return text;
}

/** The explicit VALUES form of a statement whose values query() expands (`VALUES ?`). */
const prepared = (sql: string, n: number, c: number) => sql.replace(/VALUES \?$/, `VALUES ${values(n, c)}`);

async function commitOnce(
  mode: Mode,
  conn: PoolConnection,
  next: number[],
  cursor: { at: number },
): Promise<number> {
  const now = Date.now();
  const tables = Array.from({ length: TABLES }, () => cursor.at++ % PARTITIONS);
  const rows = tables.map((p) => {
    const first = next[p];
    next[p] += ROWS;
    return Array.from({ length: ROWS }, (_, i) =>
      messageRow(first + i, now, { ...MESSAGE, key: `key-${i}` }),
    );
  });
  const trace = traceRows(
    tables.flatMap((p, t) =>
      rows[t].map((r) => ({
        at: now,
        event: 'stored',
        ref: { topic: TOPIC, partition: p },
        offset: Number(r[0]),
        messageId: `${TOPIC}/${p}/${String(r[0])}`,
        refKey: '',
        group: '',
        consumerId: '',
        attempt: 0,
        broker: 'b-0',
        detail: {},
      })),
    ),
  );
  const inserts = tables.map((p, t) => prepared(SQL.insertMessages(TOPIC, p), rows[t].length, 10));
  const traceInsert = prepared(TRACE_SQL.insertTraceEvents, trace.length, 12);
  if (mode === 'text') {
    const sql = [
      SQL.begin,
      ...tables.map((p) => SQL.insertMessages(TOPIC, p)),
      TRACE_SQL.insertTraceEvents,
      SQL.commit,
    ];
    await conn.query({ sql: sql.join(';\n'), values: [...rows, trace] });
  } else if (mode === 'statements') {
    await conn.query(SQL.begin);
    for (let t = 0; t < tables.length; t++) await conn.execute(inserts[t], rows[t].flat());
    await conn.execute(traceInsert, trace.flat());
    await conn.query(SQL.commit);
  } else {
    const sql = `BEGIN NOT ATOMIC ${[SQL.begin, ...inserts, traceInsert, SQL.commit].join(';\n')}; END`;
    await conn.execute(sql, [...rows.flat(2), ...trace.flat()]);
    if (mode === 'prepare') conn.unprepare(sql);
  }
  return TABLES * ROWS;
}

async function run(mode: Mode, pool: Pool, next: number[]): Promise<Record<string, number | string>> {
  const cursor = { at: 0 };
  const work = async () => {
    const conn = await pool.getConnection();
    try {
      return await commitOnce(mode, conn, next, cursor);
    } finally {
      conn.release();
    }
  };
  await loops(WORKERS, 1, work); // warm-up: connections, statements
  const db = pidsNamed('mariadbd');
  const dbBefore = db.reduce((s, pid) => s + cpuSeconds(pid), 0);
  const own = process.cpuUsage();
  const started = performance.now();
  const rate = await loops(WORKERS, SECONDS, work);
  const rows = (rate * (performance.now() - started)) / 1000;
  const ownUs = process.cpuUsage(own);
  const dbUs = (db.reduce((s, pid) => s + cpuSeconds(pid), 0) - dbBefore) * 1e6;
  return {
    mode,
    rowsPerSecond: Math.round(rate),
    clientUsPerRow: Number(((ownUs.user + ownUs.system) / rows).toFixed(1)),
    mariadbUsPerRow: Number((dbUs / rows).toFixed(1)),
    load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
  };
}

async function main(): Promise<void> {
  const modes = process.argv.length > 2 ? (process.argv.slice(2) as Mode[]) : [...MODES];
  const database = benchDatabase('herald_bench_insert');
  const setup = await openMysqlConnection({
    url: databaseUrl(database),
    poolSize: 4,
    connectTimeoutMs: 5000,
    queryTimeoutMs: 60_000,
    logger: createLogger(),
  });
  for (let p = 0; p < PARTITIONS; p++)
    await setup.run('create', SQL.createMessageTable(TOPIC, p, LAYOUT), []);
  await setup.close();
  // A small statement cache per connection: the server counts every connection's statements.
  const pool = mysql.createPool({
    uri: databaseUrl(database),
    connectionLimit: WORKERS,
    multipleStatements: true,
    supportBigNumbers: true,
    charset: 'utf8mb4',
    maxPreparedStatements: 64,
  });
  const next = new Array<number>(PARTITIONS).fill(1);
  console.log(
    `${TABLES} partitions x ${ROWS} rows a commit, ${WORKERS} connections, ${SECONDS} s a run (${messageTable(TOPIC, 0)}...)`,
  );
  try {
    for (let round = 0; round < ROUNDS; round++)
      for (const mode of modes) console.log(JSON.stringify(await run(mode, pool, next)));
  } finally {
    await pool.end();
    await dropDatabases(database);
  }
}

runBenchmark(main);
