// Benchmark of the MySQL data plane (a script, not a test): npm run bench:broker
//
// With 1 KB messages on a 16-partition topic, in one run against the same MariaDB:
//  1. end-to-end latency (publish -> Subscribe receipt) at fixed 1,000 and 5,000 msg/s;
//  2. the physical limit: raw multi-row INSERTs of the same rows from this Node process;
//  3. publish throughput with N concurrent producers at batch sizes 1, 10 and 100;
//  4. a 1,000,000-message backlog: produce rate, drain rate, broker RSS throughout;
//  5. mixed publish: the same publish runs on a topic with priority and delay enabled, plain
//     and then with 10% priority and 10% delayed messages (due within the phase, so the
//     dispatcher runs too), and the ratio of the two.
// Prints a table and writes JSON to bench/results/. Environment:
//   HERALD_MYSQL_URL  server to use (default mysql://herald:herald@127.0.0.1:13306/herald)
//   BENCH_SECONDS     duration of each throughput and latency phase (default 10)
//   BENCH_BACKLOG     backlog size (default 1000000)
//   BENCH_PROFILE=1   run the broker with --cpu-prof (profiles in bench/results/profiles)
//   BENCH_NODE_ARGS   more node flags for the broker, e.g. --trace-gc
//   BENCH_PHASES      comma-separated subset of raw,publish,latency,backlog,mixed (default all)
//   BENCH_MIXED       mixed runs as batch x producers (default 1x64,100x16)
//   BENCH_ROUNDS      alternating plain/mixed rounds per mixed run (default 3; medians compared)
//   BENCH_PUBLISH     publish runs as batch x producers, suffix s for PublishStream
//                     (default 1x64,1x64s,10x64,100x16,100x64)
//   BENCH_LATENCY     latency runs as rates, suffix s for PublishStream (default 1000,1000s,5000s)
//   BENCH_OPTIONS     JSON merged into the broker options, e.g. '{"publish":{"lingerMs":2}}'
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { SEGMENT_SQL } from '../storage/mysql/sql-segments';
import { SQL } from '../storage/mysql/sql';
import { messageRow } from '../storage/mysql/rows';
import type { NewMessage } from '../storage/storage';
import { cpuMeter as processCpuMeter, pidsNamed, rssMiB } from './proc';
import { loops, percentile, streamProducer, subscribeAll } from './load';
import {
  RESULTS_DIR,
  benchDatabase,
  databaseUrl,
  dropDatabases,
  runBenchmark,
  writeResults,
} from './results';
import { DEFAULTS } from '../common/broker-options';
import type { BrokerOptionsInput } from '../common/broker-options';
import type { PublishRequest__Input } from '../proto/gen/herald/v1/PublishRequest';
import { api, connect, histogram, metricValue, spawnBroker } from '../test/integration/broker/helpers';
import type { BrokerProcess } from '../test/integration/broker/helpers';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 1_000_000);
const PROFILE = process.env.BENCH_PROFILE === '1';
const PHASES = new Set((process.env.BENCH_PHASES ?? 'raw,publish,latency,backlog,mixed').split(','));
const PARTITIONS = 16;
/** The message tables' range partitions as the broker creates them. */
const LAYOUT = SEGMENT_SQL.layout(DEFAULTS.retention.segmentMessages);
const BODY = Buffer.alloc(1024, 'x');

type Api = ReturnType<typeof api>;

export interface CpuShare {
  broker: number;
  client: number;
  mariadb: number;
}

/** Measures the CPU used by the broker, this process and MariaDB, in % of one core. */
function cpuMeter(brokerPid: number): () => CpuShare {
  const db = pidsNamed('mariadbd');
  const meter = processCpuMeter({ broker: () => [brokerPid], mariadb: () => db });
  return () => {
    const c = meter();
    return { broker: c.broker, client: c.client, mariadb: c.mariadb };
  };
}

function cpuText(c: CpuShare): string {
  return `CPU broker ${c.broker.toFixed(0)}%, client ${c.client.toFixed(0)}%, mariadb ${c.mariadb.toFixed(0)}%`;
}

async function rawInsertLimit(database: string, rowsPerInsert: number, connections: number): Promise<number> {
  const pool = mysql.createPool({ uri: databaseUrl(database), connectionLimit: connections });
  const table = `raw-${rowsPerInsert}`;
  for (let p = 0; p < PARTITIONS; p++) await pool.query(SQL.createMessageTable(table, p, LAYOUT));
  const message: NewMessage = { key: '', refKey: '', tags: [], properties: {}, body: BODY, priority: false };
  const next = new Array<number>(PARTITIONS).fill(1);
  const rate = await loops(connections, SECONDS, async (i) => {
    const p = i % PARTITIONS;
    const first = next[p];
    next[p] = first + rowsPerInsert;
    const now = Date.now();
    const rows = Array.from({ length: rowsPerInsert }, (_, k) => messageRow(first + k, now, message));
    await pool.query(SQL.insertMessages(table, p), [rows]);
    return rowsPerInsert;
  });
  await pool.end();
  return rate;
}

/** Cumulative bucket counts of an unlabelled-enough histogram (summed over label sets). */
async function buckets(metricsAddress: string, name: string): Promise<Map<number, number>> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const out = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"(?:,.*)?\\} (\\S+)$`).exec(line);
    if (!m) continue;
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    out.set(le, (out.get(le) ?? 0) + Number(m[2]));
  }
  return out;
}

/** The upper bucket bound under which fraction q of the observations between two scrapes fell. */
function bucketQuantile(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const le of les) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= q * total) return le;
  return Infinity;
}

/** Trace events the broker wrote and dropped so far (0 and 0 with tracing off). */
async function traceCounts(metricsAddress: string): Promise<{ written: number; dropped: number }> {
  const [written, dropped] = await Promise.all([
    metricValue(metricsAddress, 'herald_trace_events_written_total'),
    metricValue(metricsAddress, 'herald_trace_events_dropped_total'),
  ]);
  return { written, dropped };
}

type BenchMessage = NonNullable<PublishRequest__Input['messages']>[number];

/**
 * Plain messages, or a mix: every tenth request delayed (due within the next `SECONDS`, so
 * the dispatcher runs during the phase too; a request is all delayed or all immediate), and
 * every tenth message of the others priority. That is 10% delayed and 9-10% priority.
 */
function messageMix(kind: 'plain' | 'mixed'): (batch: number, request: number) => BenchMessage[] {
  return (batch, request) => {
    const delayMs = kind === 'mixed' && request % 10 === 1 ? Math.floor(Math.random() * SECONDS * 1000) : 0;
    return Array.from({ length: batch }, (_, i) => {
      if (delayMs > 0) return { body: BODY, delayMs };
      return kind === 'mixed' && (request * batch + i) % 10 === 0
        ? { body: BODY, priority: true }
        : { body: BODY };
    });
  };
}

async function publishThroughput(
  broker: BrokerProcess,
  clients: ReturnType<typeof connect>,
  call: Api,
  batch: number,
  producers: number,
  mode: 'unary' | 'stream',
  topic = 'bench',
  makeMessages: (batch: number, request: number) => BenchMessage[] = messageMix('plain'),
) {
  const streams =
    mode === 'stream' ? Array.from({ length: producers }, () => streamProducer(clients.broker)) : [];
  const publish = (i: number, req: PublishRequest__Input) =>
    mode === 'stream' ? streams[i].publish(req) : call.publish(req).then(() => undefined);
  const before = await histogram(broker.metricsAddress, 'herald_commit_latency_seconds');
  const traced = () => traceCounts(broker.metricsAddress);
  const tracedBefore = await traced();
  const cpu = cpuMeter(broker.child.pid!);
  let requests = 0;
  const rate = await loops(producers, SECONDS, async (i) => {
    await publish(i, { topic, partition: i % PARTITIONS, messages: makeMessages(batch, requests++) });
    return batch;
  });
  for (const s of streams) s.end();
  const cpuShare = cpu();
  const after = await histogram(broker.metricsAddress, 'herald_commit_latency_seconds');
  const tracedAfter = await traced();
  const commits = after.count - before.count;
  return {
    rate,
    cpu: cpuShare,
    traceEventsWritten: tracedAfter.written - tracedBefore.written,
    traceEventsDropped: tracedAfter.dropped - tracedBefore.dropped,
    commitsPerSecond: commits / SECONDS,
    messagesPerCommit: (rate * SECONDS) / commits,
    commitMs: (1000 * (after.sum - before.sum)) / commits,
  };
}

async function latencyAtRate(
  broker: BrokerProcess,
  clients: ReturnType<typeof connect>,
  call: Api,
  rate: number,
  mode: 'unary' | 'stream',
) {
  // A topic of its own, so the subscribers start at the first message of this phase.
  const topic = `latency-${rate}-${mode}`;
  const producer = mode === 'stream' ? streamProducer(clients.broker) : undefined;
  const group = 'latency';
  const latencies: number[] = [];
  const sub = subscribeAll(clients, call, PARTITIONS, topic, group, (d) => {
    const sent = d.body.readDoubleLE(0);
    latencies.push(performance.now() - sent);
  });
  // Let the subscriptions reach the broker before measuring.
  await new Promise((r) => setTimeout(r, 500));
  const total = rate * SECONDS;
  const serverBefore = await buckets(broker.metricsAddress, 'herald_publish_latency_seconds');
  const commitBefore = await buckets(broker.metricsAddress, 'herald_commit_latency_seconds');
  const cpu = cpuMeter(broker.child.pid!);
  const started = performance.now();
  let sent = 0;
  let failed = 0;
  const acks: number[] = [];
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
      for (; sent < due; sent++) {
        const body = Buffer.alloc(1024, 'x');
        body.writeDoubleLE(performance.now(), 0);
        const at = performance.now();
        const req = { topic, partition: sent % PARTITIONS, messages: [{ body }] };
        (producer ? producer.publish(req) : call.publish(req)).then(
          () => acks.push(performance.now() - at),
          () => failed++,
        );
      }
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  const deadline = performance.now() + 10_000;
  while (latencies.length < total - failed && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  const cpuShare = cpu();
  const serverAfter = await buckets(broker.metricsAddress, 'herald_publish_latency_seconds');
  const commitAfter = await buckets(broker.metricsAddress, 'herald_commit_latency_seconds');
  sub.stop();
  producer?.end();
  const sorted = latencies.sort((a, b) => a - b);
  const ackSorted = acks.sort((a, b) => a - b);
  return {
    rate,
    mode,
    cpu: cpuShare,
    publishP50: percentile(ackSorted, 50),
    publishP99: percentile(ackSorted, 99),
    /** Broker-side publish latency (queue + commit), p99 as a histogram bucket bound. */
    serverPublishP99Ms: 1000 * bucketQuantile(serverBefore, serverAfter, 0.99),
    commitP99Ms: 1000 * bucketQuantile(commitBefore, commitAfter, 0.99),
    sent: total,
    received: latencies.length,
    failed,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

async function backlog(broker: BrokerProcess, call: Api) {
  let peakRss = rssMiB(broker.child.pid!);
  // At the RSS peak, how much was V8 heap and how much Buffers (external), in MiB.
  let atPeak = { heap: NaN, heapTotal: NaN, external: NaN };
  const sample = async () => {
    const rss = rssMiB(broker.child.pid!);
    if (rss <= peakRss) return;
    peakRss = rss;
    const [heap, heapTotal, external] = await Promise.all([
      metricValue(broker.metricsAddress, 'nodejs_heap_size_used_bytes'),
      metricValue(broker.metricsAddress, 'nodejs_heap_size_total_bytes'),
      metricValue(broker.metricsAddress, 'nodejs_external_memory_bytes'),
    ]);
    atPeak = { heap: heap / 2 ** 20, heapTotal: heapTotal / 2 ** 20, external: external / 2 ** 20 };
  };
  const sampler = setInterval(() => void sample(), 250);
  const batch = 100;
  const messages = Array.from({ length: batch }, () => ({ body: BODY }));
  let produced = 0;
  const produceCpu = cpuMeter(broker.child.pid!);
  const produceStart = performance.now();
  await Promise.all(
    Array.from({ length: PARTITIONS }, async (_, partition) => {
      while (produced < BACKLOG) {
        produced += batch;
        await call.publish({ topic: 'backlog', partition, messages });
      }
    }),
  );
  const produceSeconds = (performance.now() - produceStart) / 1000;
  const produceCpuShare = produceCpu();
  const rssAfterProduce = rssMiB(broker.child.pid!);
  let drained = 0;
  const drainCpu = cpuMeter(broker.child.pid!);
  const drainStart = performance.now();
  await Promise.all(
    Array.from({ length: PARTITIONS }, async (_, partition) => {
      for (;;) {
        const r = await call.pull({
          group: 'drain',
          topic: 'backlog',
          partition,
          maxMessages: 1000,
          maxWaitMs: 0,
        });
        if (r.messages.length === 0) return;
        drained += r.messages.length;
        await call.ack({
          group: 'drain',
          topic: 'backlog',
          partition,
          offsets: r.messages.map((m) => m.offset),
        });
      }
    }),
  );
  const drainSeconds = (performance.now() - drainStart) / 1000;
  const drainCpuShare = drainCpu();
  clearInterval(sampler);
  return {
    messages: produced,
    produceRate: produced / produceSeconds,
    drained,
    drainRate: drained / drainSeconds,
    produceCpu: produceCpuShare,
    drainCpu: drainCpuShare,
    rssAfterProduceMiB: rssAfterProduce,
    peakRssMiB: Math.max(peakRss, rssMiB(broker.child.pid!)),
    heapAtPeakMiB: atPeak.heap,
    heapTotalAtPeakMiB: atPeak.heapTotal,
    externalAtPeakMiB: atPeak.external,
  };
}

async function main(): Promise<void> {
  const database = benchDatabase('herald_bench');
  const nodeArgs = [
    ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(RESULTS_DIR, 'profiles')] : []),
    ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  const options: BrokerOptionsInput = {
    listen: '127.0.0.1:0',
    metricsListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    mysql: { url: databaseUrl(database), poolSize: PARTITIONS + 4 },
    topics: [
      'bench',
      'backlog',
      ...['1000', '5000'].flatMap((r) => [`latency-${r}-unary`, `latency-${r}-stream`]),
    ]
      .map((name) => ({ name, partitions: PARTITIONS }))
      .concat(
        ['mixed-plain', 'mixed'].map((name) => ({
          name,
          partitions: PARTITIONS,
          priority: true,
          delay: true,
        })),
      ),
    ...(JSON.parse(process.env.BENCH_OPTIONS ?? '{}') as Partial<BrokerOptionsInput>),
  };
  const broker = await spawnBroker(options, nodeArgs);
  // Never leave the broker running, however this script ends.
  process.on('exit', () => broker.child.kill());
  process.once('SIGINT', () => process.exit(130));
  const clients = connect(broker.address);
  const call = api(clients);
  console.log(
    `broker pid ${broker.child.pid} at ${broker.address}, database ${database}, ${SECONDS} s per phase`,
  );

  // Latency first, while MariaDB has no write backlog of the throughput phases to flush.
  const latency = [];
  // BENCH_LATENCY=1000,5000s: rates, suffix s for a producer on PublishStream.
  const latencyRuns = (process.env.BENCH_LATENCY ?? '1000,1000s,5000s')
    .split(',')
    .map((run) => [Number(run.replace(/s$/, '')), run.endsWith('s') ? 'stream' : 'unary'] as const);
  for (const [rate, mode] of PHASES.has('latency') ? latencyRuns : []) {
    const r = await latencyAtRate(broker, clients, call, rate, mode);
    latency.push(r);
    console.log(
      `e2e at ${rate} msg/s (${mode}): p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, p999 ${r.p999.toFixed(2)} ms (${r.received}/${r.sent}); publish acked p50 ${r.publishP50.toFixed(2)} ms, p99 ${r.publishP99.toFixed(2)} ms (in the broker p99 <= ${r.serverPublishP99Ms} ms, commit p99 <= ${r.commitP99Ms} ms); ${cpuText(r.cpu)}`,
    );
  }

  const raw: Record<string, number> = {};
  if (PHASES.has('raw')) {
    for (const rows of [100, 500]) {
      raw[`rows${rows}`] = await rawInsertLimit(database, rows, PARTITIONS);
      console.log(
        `raw INSERT, ${rows} rows per statement, ${PARTITIONS} connections: ${raw[`rows${rows}`].toFixed(0)} rows/s`,
      );
    }
  }
  const rawLimit = Object.keys(raw).length > 0 ? Math.max(...Object.values(raw)) : NaN;

  const publish: ({ batch: number; producers: number; mode: string; ofRaw: number } & Awaited<
    ReturnType<typeof publishThroughput>
  >)[] = [];
  // BENCH_PUBLISH=1x64,1x64s picks runs as batch x producers, "s": on PublishStream.
  const publishRuns = (process.env.BENCH_PUBLISH ?? '1x64,1x64s,10x64,100x16,100x64')
    .split(',')
    .map((run) => {
      const [batch, producers] = run.replace(/s$/, '').split('x').map(Number);
      return [batch, producers, run.endsWith('s') ? 'stream' : 'unary'] as const;
    });
  for (const [batch, producers, mode] of PHASES.has('publish') ? publishRuns : []) {
    const r = await publishThroughput(broker, clients, call, batch, producers, mode);
    publish.push({ batch, producers, mode, ...r, ofRaw: r.rate / rawLimit });
    console.log(
      `publish batch ${batch}, ${producers} ${mode} producers: ${r.rate.toFixed(0)} msg/s (${((100 * r.rate) / rawLimit).toFixed(1)}% of raw); ` +
        `${r.commitsPerSecond.toFixed(0)} commits/s, ${r.messagesPerCommit.toFixed(1)} msg/commit, ${r.commitMs.toFixed(2)} ms/commit; ` +
        `trace events written ${r.traceEventsWritten}, dropped ${r.traceEventsDropped}; ${cpuText(r.cpu)}`,
    );
  }

  const mixed: {
    batch: number;
    producers: number;
    plain: number;
    mixed: number;
    ratio: number;
    plainRuns: number[];
    mixedRuns: number[];
    plainCpu: CpuShare;
    mixedCpu: CpuShare;
  }[] = [];
  const mixedRuns = (process.env.BENCH_MIXED ?? '1x64,100x16')
    .split(',')
    .map((run) => run.split('x').map(Number));
  // Rounds alternate plain and mixed runs and the ratio is of the medians: on a 2-core machine
  // one 10 s run against another moves by tens of percent.
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  for (const [batch, producers] of PHASES.has('mixed') ? mixedRuns : []) {
    const plainRuns: Awaited<ReturnType<typeof publishThroughput>>[] = [];
    const mixRuns: Awaited<ReturnType<typeof publishThroughput>>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      plainRuns.push(
        await publishThroughput(broker, clients, call, batch, producers, 'unary', 'mixed-plain'),
      );
      mixRuns.push(
        await publishThroughput(
          broker,
          clients,
          call,
          batch,
          producers,
          'unary',
          'mixed',
          messageMix('mixed'),
        ),
      );
    }
    const plain = median(plainRuns.map((r) => r.rate));
    const mix = median(mixRuns.map((r) => r.rate));
    const r = {
      batch,
      producers,
      plain,
      mixed: mix,
      ratio: mix / plain,
      plainRuns: plainRuns.map((x) => Math.round(x.rate)),
      mixedRuns: mixRuns.map((x) => Math.round(x.rate)),
      plainCpu: plainRuns[plainRuns.length - 1].cpu,
      mixedCpu: mixRuns[mixRuns.length - 1].cpu,
    };
    mixed.push(r);
    console.log(
      `mixed publish batch ${batch}, ${producers} producers: plain ${r.plain.toFixed(0)} msg/s (runs ${r.plainRuns.join(', ')}), 10% priority + 10% delayed ${r.mixed.toFixed(0)} msg/s (runs ${r.mixedRuns.join(', ')}): ${(100 * r.ratio).toFixed(1)}% of plain; ${cpuText(r.mixedCpu)}`,
    );
  }

  const drain = PHASES.has('backlog') ? await backlog(broker, call) : undefined;
  if (drain) {
    console.log(
      `backlog ${drain.messages}: produced at ${drain.produceRate.toFixed(0)} msg/s, drained at ${drain.drainRate.toFixed(0)} msg/s, peak broker RSS ${drain.peakRssMiB.toFixed(0)} MiB (heap used ${drain.heapAtPeakMiB.toFixed(0)} of ${drain.heapTotalAtPeakMiB.toFixed(0)}, buffers ${drain.externalAtPeakMiB.toFixed(0)}); produce ${cpuText(drain.produceCpu)}; drain ${cpuText(drain.drainCpu)}`,
    );
  }

  clients.close();
  broker.child.kill('SIGTERM');
  await broker.exited;

  const cpuCell = (c: CpuShare) =>
    `${c.broker.toFixed(0)} / ${c.client.toFixed(0)} / ${c.mariadb.toFixed(0)}`;
  console.log('\n| measurement | result | CPU % broker / client / mariadb |\n| --- | --- | --- |');
  for (const [k, v] of Object.entries(raw))
    console.log(`| raw INSERT (${k.slice(4)} rows/statement) | ${v.toFixed(0)} rows/s | |`);
  for (const p of publish) {
    const share = Number.isNaN(p.ofRaw) ? '' : ` (${(100 * p.ofRaw).toFixed(0)}% of raw)`;
    console.log(
      `| publish batch ${p.batch}, ${p.producers} ${p.mode} producers | ${p.rate.toFixed(0)} msg/s${share} | ${cpuCell(p.cpu)} |`,
    );
  }
  for (const m of mixed) {
    console.log(
      `| publish batch ${m.batch}, ${m.producers} producers: plain / 10% priority + 10% delayed | ${m.plain.toFixed(0)} / ${m.mixed.toFixed(0)} msg/s (${(100 * m.ratio).toFixed(0)}% of plain) | ${cpuCell(m.mixedCpu)} |`,
    );
  }
  for (const l of latency) {
    const ms = `p50 ${l.p50.toFixed(2)} / p99 ${l.p99.toFixed(2)} / p999 ${l.p999.toFixed(2)} ms`;
    console.log(`| e2e latency at ${l.rate} msg/s, ${l.mode} publishes | ${ms} | ${cpuCell(l.cpu)} |`);
  }
  if (drain) {
    console.log(
      `| backlog ${drain.messages}: produce (batch 100) | ${drain.produceRate.toFixed(0)} msg/s | ${cpuCell(drain.produceCpu)} |`,
    );
    console.log(
      `| backlog drain (Pull 1000 + Ack) | ${drain.drainRate.toFixed(0)} msg/s | ${cpuCell(drain.drainCpu)} |`,
    );
    console.log(`| peak broker RSS | ${drain.peakRssMiB.toFixed(0)} MiB | |`);
  }

  console.log('');
  writeResults('broker-mysql', {
    seconds: SECONDS,
    partitions: PARTITIONS,
    raw,
    rawLimit,
    publish,
    latency,
    mixed,
    backlog: drain,
  });
  await dropDatabases(database);
}

runBenchmark(main);
