// Benchmark of Kafka topics (a script, not a test): npm run bench:kafka
//
// Publish throughput with 1 KiB messages, batches of 100 from 16 concurrent producers, on a
// 16-partition topic, in one run against the same Kafka and MariaDB:
//  1. kafkajs direct: one idempotent producer, acks -1, 16 concurrent sends of 100 messages;
//  2. Herald, a storage: kafka topic (a broker process in front of the same Kafka);
//  3. Herald, a storage: mysql topic (the MySQL tier, for the volume-tier ratio).
// Prints a table and writes JSON to bench/results/. Environment:
//   HERALD_MYSQL_URL    (default mysql://herald:herald@127.0.0.1:13306/herald)
//   HERALD_KAFKA_BROKERS (default 127.0.0.1:19092)
//   BENCH_SECONDS       duration of each phase (default 10)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import { api, connect, spawnBroker } from '../test/integration/broker/helpers';

const MYSQL = process.env.HERALD_MYSQL_URL ?? 'mysql://herald:herald@127.0.0.1:13306/herald';
const KAFKA = (process.env.HERALD_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PARTITIONS = 16;
const PRODUCERS = 16;
const BATCH = 100;
const BODY = Buffer.alloc(1024, 'x');
const RESULTS = join(__dirname, 'results');

interface Row {
  phase: string;
  messagesPerSecond: number;
  seconds: number;
}

async function loop(publish: () => Promise<void>): Promise<number> {
  const until = Date.now() + SECONDS * 1000;
  let sent = 0;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (Date.now() < until) {
        await publish();
        sent += BATCH;
      }
    }),
  );
  return sent;
}

async function direct(topic: string): Promise<Row> {
  const kafka = new Kafka({ clientId: 'bench-direct', brokers: KAFKA, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let next = 0;
  const messages = () => {
    const partition = next++ % PARTITIONS;
    return Array.from({ length: BATCH }, () => ({ partition, value: BODY }));
  };
  const started = Date.now();
  const sent = await loop(async () => {
    await producer.send({ topic, acks: -1, messages: messages() });
  });
  const seconds = (Date.now() - started) / 1000;
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic] });
  await admin.disconnect();
  return { phase: 'kafkajs direct', messagesPerSecond: Math.round(sent / seconds), seconds };
}

async function herald(storage: 'kafka' | 'mysql', topic: string, database: string): Promise<Row> {
  const url = new URL(MYSQL);
  url.pathname = `/${database}`;
  const broker = await spawnBroker({
    listen: '127.0.0.1:0',
    metricsListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    mysql: { url: url.toString() },
    // Standalone (no lease): a longer publish bound, so a loaded machine measures throughput
    // rather than timeouts. Lease mode keeps it below the safety margin.
    kafka: { bootstrapServers: KAFKA, publishTimeoutMs: 10_000 },
    topics: [{ name: topic, partitions: PARTITIONS, storage }],
    trace: { enabled: false },
  });
  const clients = connect(broker.address);
  const call = api(clients);
  const batch = Array.from({ length: BATCH }, () => ({ body: BODY }));
  try {
    const started = Date.now();
    const sent = await loop(async () => {
      await call.publish({ topic, messages: batch });
    });
    const seconds = (Date.now() - started) / 1000;
    return { phase: `Herald, storage: ${storage}`, messagesPerSecond: Math.round(sent / seconds), seconds };
  } finally {
    clients.close();
    broker.child.kill('SIGTERM');
    await broker.exited;
  }
}

async function main(): Promise<void> {
  const id = randomBytes(3).toString('hex');
  const database = `herald_bench_kafka_${id}`;
  const conn = await mysql.createConnection(MYSQL);
  await conn.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  const rows: Row[] = [];
  try {
    rows.push(await direct(`bench-direct-${id}`));
    rows.push(await herald('kafka', `bench-kafka-${id}`, database));
    rows.push(await herald('mysql', `bench-mysql-${id}`, database));
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await conn.end();
    const admin = new Kafka({ clientId: 'bench', brokers: KAFKA, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [`bench-kafka-${id}`] }).catch(() => undefined);
    await admin.disconnect();
  }
  const [d, k, m] = rows.map((r) => r.messagesPerSecond);
  const ratios = {
    heraldKafkaOverDirect: +(k / d).toFixed(2),
    heraldKafkaOverHeraldMysql: +(k / m).toFixed(2),
  };
  process.stdout.write(`publish, batches of ${BATCH} x ${PRODUCERS} producers, 1 KiB, ${SECONDS} s each\n`);
  for (const r of rows)
    process.stdout.write(`${r.phase.padEnd(24)} ${String(r.messagesPerSecond).padStart(9)} msg/s\n`);
  process.stdout.write(
    `Herald kafka / direct: ${ratios.heraldKafkaOverDirect}; Herald kafka / Herald mysql: ${ratios.heraldKafkaOverHeraldMysql}\n`,
  );
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `kafka-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ at: new Date().toISOString(), seconds: SECONDS, rows, ratios }, null, 2),
  );
  process.stdout.write(`JSON: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
