// Benchmark of Kafka topics (a script, not a test): npm run bench:kafka
//
// In one run against the same Kafka and MariaDB, 1 KiB messages, 16-partition topics:
// - publish throughput, batches of 100 from 16 concurrent producers:
//    1. kafkajs direct: one idempotent producer, acks -1, 16 concurrent sends of 100 messages;
//    2. Herald, a storage: kafka topic (a broker process in front of the same Kafka);
//    3. Herald, a storage: mysql topic (the MySQL tier, for the volume-tier ratio);
// - drain of a backlog (BENCH_BACKLOG, default 1,000,000, written once by kafkajs): a kafkajs
//   consumer group (timed from its first batch, so its group join is not counted) against a
//   Herald group two ways, on every partition at once: pulling 1,000 at a time and acking (raw
//   gRPC), and the SDK's Consumer as an application writes it (Subscribe streams, acks on them);
// - end-to-end latency at 1,000 msg/s, publish call to delivery: kafkajs direct (a producer that
//   sends what arrived while its request was in flight, as the Java client does, and a consumer)
//   against Herald (a unary Publish per message, one PublishStream, or the SDK's Producer.send;
//   Subscribe streams on every partition); each
//   split into send -> reply (the publish acknowledged, stored) and reply -> receipt, with the
//   CPU per message of this process, the broker and Kafka.
// Prints a table and writes JSON to bench/results/. Environment:
//   HERALD_MYSQL_URL    (default mysql://herald:herald@127.0.0.1:13306/herald)
//   HERALD_KAFKA_BROKERS (default 127.0.0.1:19092)
//   BENCH_SECONDS       duration of each publish and latency phase (default 10)
//   BENCH_BACKLOG       messages in the drained backlog (default 1000000)
//   BENCH_RATE          messages per second of the latency phases (default 1000)
//   BENCH_WARMUP_SECONDS each latency phase first sends at its rate this long, consumed but
//                       not measured (default 2: every row starts a fresh broker or client,
//                       whose first seconds are not its steady state; as in bench:peers)
//   BENCH_CPU_PROF      a directory: the Kafka broker runs with node --cpu-prof into it
//   BENCH_PHASES        which phases run (default publish,drain,latency)
// Each throughput phase also reports the CPU time per message of this process (the client),
// the Herald broker and the Kafka broker (/proc), which the load of other processes on the
// machine changes far less than the rates.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import type { ServiceError } from '@grpc/grpc-js';
import type { PublishRequest__Input } from '../proto/gen/herald/v1/PublishRequest';
import { Consumer, Producer } from '../client';
import { readErrorInfo } from '../common/errors';
import { api, connect, histogram, spawnBroker } from '../test/integration/broker/helpers';
import { streamProducer, subscribeAll } from './load';
import { cpuMeter, microsPerMessage, pidsWithArgument } from './proc';
import { MYSQL_SERVER, databaseUrl, dropDatabases, runBenchmark, writeResults } from './results';

const KAFKA = (process.env.HERALD_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 1_000_000);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
/** Messages of a latency phase sent first at its rate, consumed but not measured. */
const WARM = RATE * WARMUP;
const CPU_PROF = process.env.BENCH_CPU_PROF;
const PHASES = new Set((process.env.BENCH_PHASES ?? 'publish,drain,latency').split(','));
const PARTITIONS = 16;
const PRODUCERS = 16;
const BATCH = 100;
const BODY = Buffer.alloc(1024, 'x');

interface Row {
  phase: string;
  messagesPerSecond: number;
  seconds: number;
  /** Kafka produce requests and the messages they carried (publish phases of Kafka). */
  produce?: Produced;
  /** CPU microseconds per message: this process, the Herald broker (Herald phases), Kafka. */
  cpuUsPerMessage: Record<string, number>;
}

/** The Kafka broker processes on this machine (what KAFKA points at, on the project's test box). */
const kafkaPids = () => pidsWithArgument('kafka.Kafka');

/** Starts measuring CPU; the returned function gives microseconds per message of each process. */
function cpuPerMessage(brokerPid?: number): (messages: number) => Record<string, number> {
  const stop = cpuMeter({ ...(brokerPid ? { broker: () => [brokerPid] } : {}), kafka: kafkaPids });
  const started = performance.now();
  return (messages) => {
    const seconds = (performance.now() - started) / 1000;
    return Object.fromEntries(
      Object.entries(stop()).map(([k, pct]) => [k, +microsPerMessage(pct, messages / seconds).toFixed(1)]),
    );
  };
}

/**
 * Produce requests and messages: kafkajs direct counts its sends; a Herald broker's group
 * commits (herald_commit_latency_seconds) are one Produce request per Kafka leader each (one
 * here), carrying herald_insert_batch_rows' messages.
 */
interface Produced {
  requests: number;
  messages: number;
  messagesPerRequest: number;
  /** Herald: mean time of a group commit (its Produce request), and of a publish queued before it. */
  commitMs?: number;
  queuedMs?: number;
}

function produced(requests: number, messages: number): Produced {
  return { requests, messages, messagesPerRequest: +(messages / requests).toFixed(1) };
}

/** A broker's commit counters (one scrape). */
type CommitCounters = Record<'commits' | 'rows' | 'queued', { sum: number; count: number }>;

async function commitCounters(metricsAddress: string): Promise<CommitCounters> {
  const [commits, rows, queued] = await Promise.all([
    histogram(metricsAddress, 'herald_commit_latency_seconds'),
    histogram(metricsAddress, 'herald_insert_batch_rows'),
    histogram(metricsAddress, 'herald_publish_queue_seconds'),
  ]);
  // A labelled histogram has no lines before its first observation.
  const zero = (h: { sum: number; count: number }) => ({ sum: h.sum || 0, count: h.count || 0 });
  return { commits: zero(commits), rows: zero(rows), queued: zero(queued) };
}

const NO_COMMITS: CommitCounters = {
  commits: { sum: 0, count: 0 },
  rows: { sum: 0, count: 0 },
  queued: { sum: 0, count: 0 },
};

/** What a broker produced between two scrapes. */
function heraldProduced(before: CommitCounters, after: CommitCounters): Produced {
  const d = (k: keyof CommitCounters) => ({
    sum: after[k].sum - before[k].sum,
    count: after[k].count - before[k].count,
  });
  const ms = (h: { sum: number; count: number }) => +((1000 * h.sum) / h.count).toFixed(1);
  return {
    ...produced(d('commits').count, d('rows').sum),
    commitMs: ms(d('commits')),
    queuedMs: ms(d('queued')),
  };
}

interface Latency {
  phase: string;
  sent: number;
  /** Publishes that failed (Herald: the reasons are in `errors`). */
  failed: number;
  produce?: Produced;
  errors?: Record<string, number>;
  received: number;
  p50: number;
  p99: number;
  max: number;
  /** The split (ms, p50 / p99): publish call to its reply (stored), and reply to receipt. */
  sendToReply: { p50: number; p99: number };
  replyToReceipt: { p50: number; p99: number };
  /** CPU microseconds per message sent, from the first send until the last receipt. */
  cpuUsPerMessage?: Record<string, number>;
}

/**
 * Per message of a latency phase: when it was sent, its publish answered and it was received
 * (performance.now(); NaN until then). A body carries its send time and index.
 */
class Timings {
  readonly sent: Float64Array;
  readonly replied: Float64Array;
  readonly received: Float64Array;
  constructor(n: number) {
    this.sent = new Float64Array(n).fill(NaN);
    this.replied = new Float64Array(n).fill(NaN);
    this.received = new Float64Array(n).fill(NaN);
  }
  body(i: number): Buffer {
    const body = Buffer.alloc(1024, 'x');
    this.sent[i] = performance.now();
    body.writeDoubleLE(this.sent[i], 0);
    body.writeUInt32LE(i, 8);
    return body;
  }
  receive(body: Buffer): void {
    this.received[body.readUInt32LE(8)] = performance.now();
  }
  count(): number {
    return this.received.filter((t) => !Number.isNaN(t)).length;
  }
}

const kafka = () => new Kafka({ clientId: 'bench-direct', brokers: KAFKA, logLevel: logLevel.NOTHING });

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

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function latencyOf(
  phase: string,
  sent: number,
  t: Timings,
  errors: Map<string, number> = new Map(),
): Latency {
  const ms = (v: number) => +v.toFixed(2);
  const between = (from: Float64Array, to: Float64Array) =>
    Array.from(to.subarray(WARM), (v, i) => v - from[WARM + i])
      .filter((v) => !Number.isNaN(v))
      .sort((a, b) => a - b);
  const split = (v: number[]) => ({ p50: ms(percentile(v, 50)), p99: ms(percentile(v, 99)) });
  const sorted = between(t.sent, t.received);
  return {
    phase,
    sent: sent - WARM,
    failed: [...errors.values()].reduce((a, b) => a + b, 0),
    errors: Object.fromEntries(errors),
    received: sorted.length,
    p50: ms(percentile(sorted, 50)),
    p99: ms(percentile(sorted, 99)),
    max: ms(sorted[sorted.length - 1] ?? NaN),
    sendToReply: split(between(t.sent, t.replied)),
    replyToReceipt: split(between(t.replied, t.received)),
  };
}

/** Calls send(i) RATE times a second for WARMUP + SECONDS; resolves with the number sent. */
async function atRate(send: (i: number) => void): Promise<number> {
  const total = WARM + RATE * SECONDS;
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE));
      for (; sent < due; sent++) send(sent);
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  return total;
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

async function createTopic(topic: string): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
}

async function deleteTopics(topics: string[]): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
}

async function direct(topic: string): Promise<Row> {
  await createTopic(topic);
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let next = 0;
  const messages = () => {
    const partition = next++ % PARTITIONS;
    return Array.from({ length: BATCH }, () => ({ partition, value: BODY }));
  };
  const started = Date.now();
  const cpu = cpuPerMessage();
  let sends = 0;
  const sent = await loop(async () => {
    sends++;
    await producer.send({ topic, acks: -1, messages: messages() });
  });
  const seconds = (Date.now() - started) / 1000;
  const cpuUsPerMessage = cpu(sent);
  await producer.disconnect();
  return {
    phase: 'kafkajs direct',
    messagesPerSecond: Math.round(sent / seconds),
    seconds,
    produce: produced(sends, sent),
    cpuUsPerMessage,
  };
}

/** A broker process serving one topic of the given storage (standalone, no leases). */
async function startHerald(storage: 'kafka' | 'mysql', topic: string, database: string) {
  const profile = CPU_PROF && storage === 'kafka' ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : [];
  const broker = await spawnBroker(
    {
      listen: '127.0.0.1:0',
      metricsListen: '127.0.0.1:0',
      httpListen: '127.0.0.1:0',
      mysql: { url: databaseUrl(database) },
      // Standalone (no lease): a longer publish bound, so a loaded machine measures throughput
      // rather than timeouts. Lease mode keeps it below the safety margin.
      kafka: { bootstrapServers: KAFKA, publishTimeoutMs: 10_000 },
      topics: [{ name: topic, partitions: PARTITIONS, storage }],
      trace: { enabled: false },
    },
    profile,
  );
  const clients = connect(broker.address);
  return {
    pid: broker.child.pid,
    address: broker.address,
    clients,
    metricsAddress: broker.metricsAddress,
    call: api(clients),
    stop: async () => {
      clients.close();
      broker.child.kill('SIGTERM');
      await broker.exited;
    },
  };
}

async function herald(storage: 'kafka' | 'mysql', topic: string, database: string): Promise<Row> {
  const h = await startHerald(storage, topic, database);
  const batch = Array.from({ length: BATCH }, () => ({ body: BODY }));
  try {
    const started = Date.now();
    const cpu = cpuPerMessage(h.pid);
    const sent = await loop(async () => {
      await h.call.publish({ topic, messages: batch });
    });
    const seconds = (Date.now() - started) / 1000;
    return {
      phase: `Herald, storage: ${storage}`,
      messagesPerSecond: Math.round(sent / seconds),
      seconds,
      cpuUsPerMessage: cpu(sent),
      ...(storage === 'kafka'
        ? { produce: heraldProduced(NO_COMMITS, await commitCounters(h.metricsAddress)) }
        : {}),
    };
  } finally {
    await h.stop();
  }
}

/** Writes the backlog with kafkajs: 16 concurrent sends of 1,000 messages. */
async function fillBacklog(topic: string): Promise<number> {
  await createTopic(topic);
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const per = 1000;
  let written = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (written < BACKLOG) {
        const n = Math.min(per, BACKLOG - written);
        written += n;
        const partition = next++ % PARTITIONS;
        await producer.send({
          topic,
          acks: -1,
          messages: Array.from({ length: n }, () => ({ partition, value: BODY })),
        });
      }
    }),
  );
  await producer.disconnect();
  return written;
}

async function drainDirect(topic: string): Promise<Row> {
  const consumer = kafka().consumer({ groupId: `bench-drain-${topic}`, maxBytes: 16 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let drained = 0;
  let first = 0;
  let cpu: ReturnType<typeof cpuPerMessage> | undefined;
  let before = 0;
  await consumer.run({
    partitionsConsumedConcurrently: PARTITIONS,
    eachBatch: async (payload) => {
      if (first === 0) {
        first = performance.now();
        cpu = cpuPerMessage();
        before = drained;
      }
      const { messages } = payload.batch;
      drained += messages.length;
      const last = messages[messages.length - 1];
      if (last) payload.resolveOffset(last.offset);
      await payload.heartbeat();
    },
  });
  await waitUntil(() => drained >= BACKLOG, 600_000);
  const seconds = (performance.now() - first) / 1000;
  const cpuUsPerMessage = cpu?.(drained - before) ?? {};
  await consumer.disconnect();
  return {
    phase: 'drain, kafkajs consumer',
    messagesPerSecond: Math.round(drained / seconds),
    seconds,
    cpuUsPerMessage,
  };
}

async function drainHeraldSdk(topic: string, database: string, written: number): Promise<Row> {
  const h = await startHerald('kafka', topic, database);
  let drained = 0;
  const started = performance.now();
  const cpu = cpuPerMessage(h.pid);
  const last = new Array<number>(PARTITIONS).fill(0);
  const consumer = new Consumer({
    broker: h.address,
    group: 'drain-sdk',
    topic,
    partitions: Array.from({ length: PARTITIONS }, (_, i) => i),
    fetch: 'subscribe',
    concurrency: 2000,
  });
  let failure: Error | undefined;
  let cpuUsPerMessage: Record<string, number> = {};
  try {
    // Resolves once the consumer is fetching; a refusal to start throws here.
    await consumer.run({
      eachMessage: (m) => {
        if (m.offset !== last[m.partition] + 1)
          failure ??= new Error(`partition ${m.partition}: offset ${m.offset} after ${last[m.partition]}`);
        last[m.partition] = m.offset;
        drained++;
        return Promise.resolve();
      },
    });
    await waitUntil(() => drained >= written || failure !== undefined, 600_000);
    if (failure) throw failure;
    cpuUsPerMessage = cpu(drained);
  } finally {
    await consumer.close();
    await h.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    phase: 'drain, Herald SDK consumer',
    messagesPerSecond: Math.round(drained / seconds),
    seconds,
    cpuUsPerMessage,
  };
}

async function drainHerald(topic: string, database: string, written: number): Promise<Row> {
  const h = await startHerald('kafka', topic, database);
  let drained = 0;
  const started = performance.now();
  const cpu = cpuPerMessage(h.pid);
  let cpuUsPerMessage: Record<string, number> = {};
  try {
    await Promise.all(
      Array.from({ length: PARTITIONS }, async (_, partition) => {
        // Every partition's offsets arrive once each, in order, from 1 on: nothing lost or repeated.
        let last = 0;
        for (;;) {
          const r = await h.call.pull({ group: 'drain', topic, partition, maxMessages: 1000, maxWaitMs: 0 });
          if (r.messages.length === 0) return;
          for (const m of r.messages) {
            if (Number(m.offset) !== last + 1)
              throw new Error(`partition ${partition}: offset ${m.offset} after ${last}`);
            last = Number(m.offset);
          }
          drained += r.messages.length;
          await h.call.ack({ group: 'drain', topic, partition, offsets: r.messages.map((m) => m.offset) });
        }
      }),
    );
    cpuUsPerMessage = cpu(drained);
  } finally {
    await h.stop();
  }
  if (drained !== written) throw new Error(`Herald drained ${drained} of ${written}`);
  const seconds = (performance.now() - started) / 1000;
  return {
    phase: 'drain, Herald Pull + Ack',
    messagesPerSecond: Math.round(drained / seconds),
    seconds,
    cpuUsPerMessage,
  };
}

async function latencyDirect(topic: string): Promise<Latency> {
  await createTopic(topic);
  const consumer = kafka().consumer({ groupId: `bench-latency-${topic}`, maxWaitTimeInMs: 500 });
  const t = new Timings(WARM + RATE * SECONDS);
  await consumer.connect();
  await consumer.subscribe({ topics: [topic] });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
  await consumer.run({
    partitionsConsumedConcurrently: PARTITIONS,
    eachMessage: ({ message }) => {
      if (message.value) t.receive(message.value);
      return Promise.resolve();
    },
  });
  await waitUntil(() => joined, 60_000);
  // Let the first fetches of every partition reach Kafka before measuring.
  await new Promise((r) => setTimeout(r, 1000));
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  // One send at a time per Kafka broker (kafkajs' idempotent producer): what arrives while a
  // request is in flight goes in the next one.
  let queue: { partition: number; value: Buffer }[] = [];
  let queued: number[] = [];
  let inFlight: Promise<void> | undefined;
  let sends = 0;
  const flush = () => {
    if (inFlight || queue.length === 0) return;
    const messages = queue;
    const indexes = queued;
    queue = [];
    queued = [];
    sends++;
    inFlight = producer
      .send({ topic, acks: -1, messages })
      .then(() => {
        const now = performance.now();
        for (const i of indexes) t.replied[i] = now;
      })
      .finally(() => {
        inFlight = undefined;
        flush();
      });
  };
  const cpu = cpuPerMessage();
  const sent = await atRate((i) => {
    queue.push({ partition: i % PARTITIONS, value: t.body(i) });
    queued.push(i);
    flush();
  });
  await waitUntil(() => t.count() >= sent, 10_000);
  const cpuUsPerMessage = cpu(sent);
  await producer.disconnect();
  await consumer.disconnect();
  return {
    ...latencyOf(`e2e at ${RATE}/s, kafkajs direct`, sent, t),
    produce: produced(sends, sent),
    cpuUsPerMessage,
  };
}

/**
 * Herald at RATE single-message publishes a second: unary Publish calls, or one PublishStream
 * (each request one message, answered on the stream); Subscribe on every partition, acks in
 * batches every 50 ms (a Kafka consumer commits its offsets periodically too).
 */
async function latencyHerald(
  topic: string,
  database: string,
  mode: 'unary' | 'stream' | 'sdk',
): Promise<Latency> {
  const h = await startHerald('kafka', topic, database);
  const t = new Timings(WARM + RATE * SECONDS);
  const sub = subscribeAll(h.clients, h.call, PARTITIONS, topic, 'latency', (d) => t.receive(d.body));
  const producer = mode === 'stream' ? streamProducer(h.clients.broker) : undefined;
  // The SDK's send(): what waits for a partition's Publish in flight goes in its next one.
  const sdk = mode === 'sdk' ? new Producer({ broker: h.address }) : undefined;
  const publish = (req: PublishRequest__Input) =>
    sdk
      ? sdk.send(topic, { partition: req.partition!, body: req.messages![0].body! })
      : producer
        ? producer.publish(req)
        : h.call.publish(req);
  try {
    // Let the subscriptions reach the broker before measuring.
    await new Promise((r) => setTimeout(r, 1000));
    const before = await commitCounters(h.metricsAddress);
    const errors = new Map<string, number>();
    const cpu = cpuPerMessage(h.pid);
    const sent = await atRate((i) => {
      const req = { topic, partition: i % PARTITIONS, messages: [{ body: t.body(i) }] };
      publish(req).then(
        () => (t.replied[i] = performance.now()),
        (err: ServiceError) => {
          const reason =
            readErrorInfo(err)?.reason ?? (err.code === undefined ? err.message : `code ${err.code}`);
          errors.set(reason, (errors.get(reason) ?? 0) + 1);
        },
      );
    });
    const failed = () => [...errors.values()].reduce((a, b) => a + b, 0);
    await waitUntil(() => t.count() >= sent - failed(), 10_000);
    const cpuUsPerMessage = cpu(sent);
    return {
      ...latencyOf(`e2e at ${RATE}/s, Herald ${mode}`, sent, t, errors),
      cpuUsPerMessage,
      produce: heraldProduced(before, await commitCounters(h.metricsAddress)),
    };
  } finally {
    producer?.end();
    await sdk?.close();
    sub.stop();
    await h.stop();
  }
}

async function main(): Promise<void> {
  const id = randomBytes(3).toString('hex');
  const database = `herald_bench_kafka_${id}`;
  const conn = await mysql.createConnection(MYSQL_SERVER);
  await conn.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  await conn.end();
  const rows: Row[] = [];
  const latencies: Latency[] = [];
  const topics = ['direct', 'kafka', 'backlog', 'lat-direct', 'lat-herald', 'lat-stream', 'lat-sdk'].map(
    (t) => `bench-${t}-${id}`,
  );
  const [directTopic, kafkaTopic, backlogTopic, latDirect, latHerald, latStream, latSdk] = topics;
  try {
    if (PHASES.has('publish')) {
      rows.push(await direct(directTopic));
      rows.push(await herald('kafka', kafkaTopic, database));
      rows.push(await herald('mysql', `bench-mysql-${id}`, database));
    }
    if (PHASES.has('drain')) {
      const fillStart = performance.now();
      const written = await fillBacklog(backlogTopic);
      process.stdout.write(
        `backlog: ${written} messages written in ${((performance.now() - fillStart) / 1000).toFixed(1)} s\n`,
      );
      rows.push(await drainDirect(backlogTopic));
      rows.push(await drainHerald(backlogTopic, database, written));
      rows.push(await drainHeraldSdk(backlogTopic, database, written));
    }
    if (PHASES.has('latency')) {
      latencies.push(await latencyDirect(latDirect));
      latencies.push(await latencyHerald(latHerald, database, 'unary'));
      latencies.push(await latencyHerald(latStream, database, 'stream'));
      latencies.push(await latencyHerald(latSdk, database, 'sdk'));
    }
  } finally {
    await dropDatabases(database);
    await deleteTopics(topics);
  }
  const rate = (phase: string) => rows.find((r) => r.phase.startsWith(phase))?.messagesPerSecond ?? NaN;
  const ratio = (a: number, b: number) => +(a / b).toFixed(2);
  const ratios = {
    heraldKafkaOverDirect: ratio(rate('Herald, storage: kafka'), rate('kafkajs direct')),
    heraldKafkaOverHeraldMysql: ratio(rate('Herald, storage: kafka'), rate('Herald, storage: mysql')),
    drainHeraldPullOverDirect: ratio(rate('drain, Herald Pull'), rate('drain, kafkajs')),
    drainHeraldSdkOverDirect: ratio(rate('drain, Herald SDK'), rate('drain, kafkajs')),
    e2eP99HeraldMinusDirectMs: +((latencies[1]?.p99 ?? NaN) - (latencies[0]?.p99 ?? NaN)).toFixed(2),
    e2eP99HeraldStreamMinusDirectMs: +((latencies[2]?.p99 ?? NaN) - (latencies[0]?.p99 ?? NaN)).toFixed(2),
    e2eP99HeraldSdkMinusDirectMs: +((latencies[3]?.p99 ?? NaN) - (latencies[0]?.p99 ?? NaN)).toFixed(2),
  };
  process.stdout.write(
    `1 KiB messages, ${PARTITIONS} partitions; publish: batches of ${BATCH} x ${PRODUCERS} producers, ${SECONDS} s each\n`,
  );
  const perProduce = (p?: Produced) =>
    p
      ? `  ${p.messagesPerRequest} msg/produce request${p.commitMs === undefined ? '' : `, commit ${p.commitMs} ms, queued ${p.queuedMs} ms`}`
      : '';
  const cpuText = (c: Record<string, number>) =>
    Object.entries(c)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ');
  for (const r of rows)
    process.stdout.write(
      `${r.phase.padEnd(28)} ${String(r.messagesPerSecond).padStart(9)} msg/s  (${r.seconds.toFixed(1)} s)${perProduce(r.produce)}  CPU µs/msg ${cpuText(r.cpuUsPerMessage)}\n`,
    );
  for (const l of latencies)
    process.stdout.write(
      `${l.phase.padEnd(34)} p50 ${l.p50} ms  p99 ${l.p99} ms  max ${l.max} ms  (${l.received}/${l.sent} received, ${l.failed} failed ${JSON.stringify(l.errors ?? {})})${perProduce(l.produce)}  send->reply ${l.sendToReply.p50} / ${l.sendToReply.p99} ms, reply->receipt ${l.replyToReceipt.p50} / ${l.replyToReceipt.p99} ms  CPU µs/msg ${cpuText(l.cpuUsPerMessage ?? {})}\n`,
    );
  process.stdout.write(`${JSON.stringify(ratios)}\n`);
  writeResults('kafka', { seconds: SECONDS, backlog: BACKLOG, rate: RATE, rows, latencies, ratios });
}

runBenchmark(main);
