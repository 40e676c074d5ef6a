// What every benchmark script shares: the MariaDB it runs on (a database of its own, dropped at
// the end), where its JSON goes, and how it ends (a failure prints and exits 1; success exits 0
// even when a client library leaves a handle open).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';

/** The MariaDB server: HERALD_MYSQL_URL, or the local environment's. */
export const MYSQL_SERVER = process.env.HERALD_MYSQL_URL ?? 'mysql://herald:herald@127.0.0.1:13306/herald';

export const RESULTS_DIR = join(__dirname, 'results');

/** MYSQL_SERVER with another database. */
export function databaseUrl(database: string): string {
  const url = new URL(MYSQL_SERVER);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh database name for one run (created by the broker that uses it). */
export function benchDatabase(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}`;
}

export async function dropDatabases(...databases: string[]): Promise<void> {
  const admin = await mysql.createConnection(MYSQL_SERVER);
  try {
    for (const d of databases) await admin.query(`DROP DATABASE IF EXISTS \`${d}\``);
  } finally {
    await admin.end();
  }
}

/** Writes bench/results/<name>-<time>.json, `date` first; prints its path and returns it. */
export function writeResults(name: string, results: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const date = new Date().toISOString();
  const file = join(RESULTS_DIR, `${name}-${date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date, ...results }, null, 2));
  console.log(`results: ${file}`);
  return file;
}

/** Runs a benchmark's main to its end. */
export function runBenchmark(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message).slice(0, 4000) : err);
      process.exit(1);
    },
  );
}
