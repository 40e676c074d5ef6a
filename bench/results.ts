// Where a benchmark's figures go (bench/results/<name>-<time>.json) and the clean-up of its
// own database; shared by the benchmark scripts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';

export const RESULTS = join(__dirname, 'results');

/** Writes the run's JSON and says where. */
export function writeResults(name: string, data: object): string {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), ...data }, null, 2));
  console.log(`results: ${file}`);
  return file;
}

export async function dropDatabase(server: string, database: string): Promise<void> {
  const admin = await mysql.createConnection(server);
  await admin.query(`DROP DATABASE \`${database}\``);
  await admin.end();
}
