// Benchmark of push subscriptions (a script, not a test): npm run bench:push
//
// One broker process on MariaDB and a local sink (an HTTP server in this process that answers
// 200 at once and checks nothing). Two push groups, maxInFlight 100 per partition, no rate
// ceiling to speak of (1,000,000 msg/s), 8 partitions each, 256-byte messages:
//  1. throughput: BENCH_MESSAGES messages are stored first by a broker without the push group;
//     a second broker with it then pushes the backlog. Messages/s from the first push to the last;
//  2. end-to-end latency at 1,000 msg/s: 10 messages every 10 ms for BENCH_SECONDS, each
//     carrying its publish time; the sink takes p50 / p99 of (arrival - publish).
// Prints a table and writes JSON to bench/results/. Environment:
//   HERALD_MYSQL_URL  server to use (default mysql://herald:herald@127.0.0.1:13306/herald)
//   BENCH_MESSAGES    backlog of phase 1 (default 20000)
//   BENCH_SECONDS     duration of phase 2 (default 10)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrokerOptionsInput } from '../common/broker-options';
import { api, connect, spawnBroker } from '../test/integration/broker/helpers';
import type { BrokerProcess } from '../test/integration/broker/helpers';
import { percentile } from './load';
import { cpuSeconds, loadAverage } from './proc';
import { benchDatabase, databaseUrl, dropDatabases, runBenchmark, writeResults } from './results';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PARTITIONS = 8;
const KEY = 'bench-signing-key-0123456789';

const now = () => performance.timeOrigin + performance.now();

async function stop(b: BrokerProcess): Promise<void> {
  b.child.kill('SIGTERM');
  await b.exited;
}

async function main(): Promise<void> {
  const database = benchDatabase('herald_bench');

  const arrivals = { backlog: [] as number[], latency: [] as number[] };
  const sink = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = now();
      if (req.url === '/backlog') arrivals.backlog.push(at);
      else arrivals.latency.push(at - Number(Buffer.concat(chunks).toString('utf8', 0, 20)));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  const push = (path: string) => ({
    url: `${base}${path}`,
    signingKey: KEY,
    maxInFlight: 100,
    rate: 1_000_000,
  });
  const options = (groups: BrokerOptionsInput['groups']): BrokerOptionsInput => ({
    listen: '127.0.0.1:0',
    metricsListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    mysql: { url: databaseUrl(database), poolSize: PARTITIONS + 4 },
    topics: [
      { name: 'backlog', partitions: PARTITIONS },
      { name: 'latency', partitions: PARTITIONS },
    ],
    groups,
  });

  // Phase 1: the backlog, stored by a broker that does not push it.
  const loader = await spawnBroker(options({}));
  const loaderClients = connect(loader.address);
  const loaderApi = api(loaderClients);
  const filler = Buffer.alloc(256, 'x');
  for (let sent = 0; sent < MESSAGES; sent += 500) {
    await Promise.all(
      Array.from({ length: PARTITIONS }, (_, partition) =>
        loaderApi.publish({
          topic: 'backlog',
          partition,
          messages: Array.from({ length: Math.ceil(500 / PARTITIONS) }, () => ({ body: filler })),
        }),
      ),
    );
  }
  loaderClients.close();
  await stop(loader);
  const stored = Math.ceil(MESSAGES / 500) * Math.ceil(500 / PARTITIONS) * PARTITIONS;

  const broker = await spawnBroker(
    options({
      'backlog-hook': { topic: 'backlog', push: push('/backlog') },
      'latency-hook': { topic: 'latency', push: push('/latency') },
    }),
  );
  const pid = broker.child.pid!;
  const cpu0 = cpuSeconds(pid);
  const ownCpu0 = cpuSeconds(process.pid);
  const t0 = now();
  while (arrivals.backlog.length < stored && now() - t0 < 300_000)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const first = arrivals.backlog[0];
  const last = arrivals.backlog[arrivals.backlog.length - 1];
  const throughput = {
    messages: arrivals.backlog.length,
    seconds: (last - first) / 1000,
    messagesPerSecond: arrivals.backlog.length / ((last - first) / 1000),
    brokerCpuPercent: ((cpuSeconds(pid) - cpu0) / ((now() - t0) / 1000)) * 100,
    sinkCpuPercent: ((cpuSeconds(process.pid) - ownCpu0) / ((now() - t0) / 1000)) * 100,
  };
  // The broker's own view: how long a request took from its start to the answer.
  const metrics = await (await fetch(`http://${broker.metricsAddress}/metrics`)).text();
  const metric = (name: string) =>
    Number(
      metrics
        .split('\n')
        .find(
          (l) => l.startsWith(`herald_push_request_duration_seconds_${name}{`) && l.includes('backlog-hook'),
        )
        ?.split(' ')[1],
    );
  const meanRequestMs = (metric('sum') / metric('count')) * 1000;

  // Phase 2: 1,000 msg/s, 10 every 10 ms, spread over the partitions.
  const brokerClients = connect(broker.address);
  const brokerApi = api(brokerClients);
  const ticks = SECONDS * 100;
  const started = now();
  const cpu1 = cpuSeconds(pid);
  let failed = 0;
  const pending: Promise<unknown>[] = [];
  for (let tick = 0; tick < ticks; tick++) {
    const due = started + tick * 10;
    const wait = due - now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      brokerApi
        .publish({
          topic: 'latency',
          partition: tick % PARTITIONS,
          messages: Array.from({ length: 10 }, () => ({ body: Buffer.from(now().toFixed(3).padEnd(20)) })),
        })
        .catch(() => failed++),
    );
  }
  await Promise.all(pending);
  const sent = ticks * 10 - failed * 10;
  while (arrivals.latency.length < sent && now() - started < (SECONDS + 30) * 1000)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const cpuLatency = ((cpuSeconds(pid) - cpu1) / ((now() - started) / 1000)) * 100;
  brokerClients.close();
  await stop(broker);
  sink.close();

  const sorted = [...arrivals.latency].sort((a, b) => a - b);
  const latency = {
    offeredPerSecond: 1000,
    published: sent,
    pushed: arrivals.latency.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1],
    brokerCpuPercent: cpuLatency,
  };
  const load = loadAverage();
  console.log('| measurement | result | broker CPU % |');
  console.log('| --- | --- | --- |');
  console.log(
    `| push throughput, backlog of ${throughput.messages}, maxInFlight 100 x ${PARTITIONS} partitions | ${throughput.messagesPerSecond.toFixed(0)} msg/s (mean request ${meanRequestMs.toFixed(0)} ms; sink process CPU ${throughput.sinkCpuPercent.toFixed(0)} %) | ${throughput.brokerCpuPercent.toFixed(0)} |`,
  );
  console.log(
    `| end-to-end latency at 1,000 msg/s (publish to sink), ${latency.pushed}/${latency.published} | p50 ${latency.p50Ms.toFixed(1)} ms, p99 ${latency.p99Ms.toFixed(1)} ms, max ${latency.maxMs.toFixed(1)} ms | ${latency.brokerCpuPercent.toFixed(0)} |`,
  );
  console.log(`\nload average during the run: ${load.map((l) => l.toFixed(1)).join(' ')}`);
  writeResults('push', {
    partitions: PARTITIONS,
    throughput: { ...throughput, meanRequestMs },
    latency,
    load,
  });
  await dropDatabases(database);
}

runBenchmark(main);
