// Benchmark of the REST gateway's publish path (a script, not a test): npm run bench:http
//
// One broker process on MariaDB (a 16-partition topic, 1 KB messages). With 64 concurrent
// clients on kept-alive connections, each with one request in flight, for BENCH_SECONDS each:
//  1. HTTP: POST .../messages with a raw body (one message per request);
//  2. gRPC: unary Publish of one message (the same handler, for the ratio HTTP / gRPC);
//  3. HTTP: a JSON batch of 100 messages per request, 16 clients.
// Throughput, latency percentiles and the broker's CPU share; prints a table and writes JSON
// to bench/results/. Environment:
//   HERALD_MYSQL_URL  server to use (default mysql://herald:herald@127.0.0.1:13306/herald)
//   BENCH_SECONDS     duration of each phase (default 10)
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { api, connect, spawnBroker } from '../test/integration/broker/helpers';
import { dropDatabase, writeResults } from './results';

const SERVER = process.env.HERALD_MYSQL_URL ?? 'mysql://herald:herald@127.0.0.1:13306/herald';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PARTITIONS = 16;
const BODY = Buffer.alloc(1024, 'x');

interface Phase {
  name: string;
  clients: number;
  messagesPerRequest: number;
  requests: number;
  failed: number;
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  brokerCpuPercent: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `clients` loops, each sending one request after the other until the time is up. */
async function run(
  name: string,
  clients: number,
  messagesPerRequest: number,
  pid: number,
  send: () => Promise<boolean>,
): Promise<Phase> {
  const latencies: number[] = [];
  let failed = 0;
  const cpu0 = cpuSeconds(pid);
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        if (await send()) latencies.push(performance.now() - t);
        else failed++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    name,
    clients,
    messagesPerRequest,
    requests: latencies.length,
    failed,
    messagesPerSecond: (latencies.length * messagesPerRequest) / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    brokerCpuPercent: ((cpuSeconds(pid) - cpu0) / elapsed) * 100,
  };
}

function post(agent: Agent, address: string, path: string, headers: Record<string, string>, body: Buffer) {
  const [host, port] = address.split(':');
  return new Promise<boolean>((resolve) => {
    const req = request({ agent, host, port: Number(port), path, method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 201));
    });
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

async function main(): Promise<void> {
  const database = `herald_bench_${Date.now().toString(36)}`;
  const url = new URL(SERVER);
  url.pathname = `/${database}`;
  const broker = await spawnBroker({
    listen: '127.0.0.1:0',
    metricsListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    mysql: { url: url.toString(), poolSize: PARTITIONS + 4 },
    topics: [{ name: 'bench', partitions: PARTITIONS }],
  });
  const pid = broker.child.pid!;
  const path = '/v1/namespaces/default/topics/bench/messages';
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const raw = { 'content-type': 'application/octet-stream', 'content-length': String(BODY.length) };
  const batch = Buffer.from(
    JSON.stringify({ messages: Array.from({ length: 100 }, () => ({ body: BODY.toString('base64') })) }),
  );
  const batchHeaders = {
    'content-type': 'application/vnd.herald.batch+json',
    'content-length': String(batch.length),
  };
  const clients = connect(broker.address);
  const grpcApi = api(clients);
  const phases: Phase[] = [];
  try {
    // Warm up both paths (connections, JIT, the partitions' first commits).
    await run('warm-up', 16, 1, pid, () => post(agent, broker.httpAddress, path, raw, BODY));
    phases.push(
      await run('HTTP raw body, 1 message', 64, 1, pid, () =>
        post(agent, broker.httpAddress, path, raw, BODY),
      ),
    );
    phases.push(
      await run('gRPC unary Publish, 1 message', 64, 1, pid, () =>
        grpcApi.publish({ topic: 'bench', messages: [{ body: BODY }] }).then(
          () => true,
          () => false,
        ),
      ),
    );
    phases.push(
      await run('HTTP JSON batch, 100 messages', 16, 100, pid, () =>
        post(agent, broker.httpAddress, path, batchHeaders, batch),
      ),
    );
  } finally {
    clients.close();
    agent.destroy();
    broker.child.kill('SIGTERM');
    await broker.exited;
  }
  const [http, grpcPhase] = phases;
  console.log('| measurement | clients | msg/s | p50 / p99 ms | broker CPU % | failed |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const p of phases)
    console.log(
      `| ${p.name} | ${p.clients} | ${p.messagesPerSecond.toFixed(0)} | ${p.p50Ms.toFixed(1)} / ${p.p99Ms.toFixed(1)} | ${p.brokerCpuPercent.toFixed(0)} | ${p.failed} |`,
    );
  const ratio = http.messagesPerSecond / grpcPhase.messagesPerSecond;
  console.log(`\nHTTP / gRPC, single-message publishes: ${ratio.toFixed(2)}`);
  writeResults('http-publish', { seconds: SECONDS, partitions: PARTITIONS, phases, ratio });
  await dropDatabase(SERVER, database);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message.slice(0, 2000) : err);
  process.exit(1);
});
