// Benchmark of security's cost (a script, not a test): npm run bench:security
//
// Two brokers on the same MariaDB, one plain and one with TLS, authentication (a real
// ServiceAccount token, reviewed by the local apiserver) and authorization (an AccessPolicy)
// on, measured in alternating rounds so that machine noise falls on both alike:
//  - publish throughput: PRODUCERS concurrent unary Publish calls of BATCH 1 KB messages;
//  - end-to-end latency: Publish at RATE msg/s, receipt on a Subscribe stream, p50/p99.
// Prints each round (with where the latency phase's time went: the client's and the broker's CPU,
// the client's event-loop delay, and on the secure broker the calls that waited for a
// TokenReview, herald_auth_seconds), then a table of the medians, the costs and the issue's
// limits (at most 15 % of throughput, 2 ms of p99), and the load average; writes the same as JSON
// through bench/results.ts.
// Environment: HERALD_MYSQL_URL, KUBECONFIG (the local environment's), BENCH_SECONDS (5),
// BENCH_ROUNDS (3), BENCH_RATE (1000), BENCH_PRODUCERS (32), BENCH_BATCH (10).
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { channelCredentials } from '../common/grpc/credentials';
import type { ChannelCredentials } from '@grpc/grpc-js';
import type { BrokerOptionsInput } from '../common/broker-options';
import { createCa, issue } from '../operator/ca/ca';
import { loadProtos } from '../proto/load';
import type { BrokerClient } from '../proto/gen/herald/v1/Broker';
import type { SubscribeResponse } from '../proto/gen/herald/v1/SubscribeResponse';
import { metricValue, spawnBroker } from '../test/integration/broker/helpers';
import type { BrokerProcess } from '../test/integration/broker/helpers';
import { cpuSeconds, loadAverage } from './proc';
import { benchDatabase, databaseUrl, dropDatabases, runBenchmark, writeResults } from './results';

// broker/main.ts lets HERALD_MYSQL_URL override the config's database: each broker gets its own
// (results.ts has read it already).
delete process.env.HERALD_MYSQL_URL;
const KUBECONFIG = process.env.KUBECONFIG ?? join(process.env.HOME ?? '', '.local/state/herald/kubeconfig');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const PRODUCERS = Number(process.env.BENCH_PRODUCERS ?? 32);
const BATCH = Number(process.env.BENCH_BATCH ?? 10);
const PARTITIONS = 8;
const BODY = Buffer.alloc(1024, 'x');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** kubectl from PATH (source ~/.local/state/herald/env.sh first). */
function kubectl(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('kubectl', args, { env: { ...process.env, KUBECONFIG } }, (err, stdout, stderr) =>
      err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : resolve(stdout.trim()),
    );
    child.stdin?.end(input ?? '');
  });
}

function publish(client: BrokerClient, topic: string, partition: number, messages: number): Promise<void> {
  return new Promise((resolve, reject) =>
    client.Publish(
      { topic, partition, messages: Array.from({ length: messages }, () => ({ body: BODY })) },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

async function throughput(client: BrokerClient): Promise<number> {
  let sent = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async (_, i) => {
      while (Date.now() < end) {
        await publish(client, 'bench', i % PARTITIONS, BATCH);
        sent += BATCH;
      }
    }),
  );
  return sent / SECONDS;
}

/** What the latency phase cost, to tell computing from waiting. */
interface Breakdown {
  /** CPU of this process (the publisher and the subscriber) and of the broker, % of one core. */
  clientCpuPercent: number;
  brokerCpuPercent: number;
  /** This process's event-loop delay: how late its timers and socket reads ran. */
  clientLoopDelayP99Ms: number;
  /** Secure broker only (herald_auth_seconds): TokenReviews sent, calls that waited for one. */
  tokenReviews?: number;
  authWaits?: number;
  authWaitedMs?: number;
}

const AUTH = 'herald_auth_seconds';
async function authCounts(metricsAddress: string) {
  const [reviews, waits, waited] = await Promise.all([
    metricValue(metricsAddress, `${AUTH}_count{step="token_review"}`),
    metricValue(metricsAddress, `${AUTH}_count{step="wait"}`),
    metricValue(metricsAddress, `${AUTH}_sum{step="wait"}`),
  ]);
  // A step never taken has no line yet.
  return { reviews: reviews || 0, waits: waits || 0, waited: waited || 0 };
}

/** Publish one message every 1/RATE s to partition 0 (body: send time); receipt on Subscribe. */
async function latency(
  client: BrokerClient,
  topic: string,
  broker: BrokerProcess,
  secure: boolean,
): Promise<{ p50: number; p99: number; breakdown: Breakdown }> {
  const times: number[] = [];
  const stream = client.Subscribe();
  stream.on('data', (r: SubscribeResponse) => {
    const sentAt = Number(r.delivery?.body.toString('utf8'));
    times.push(performance.timeOrigin + performance.now() - sentAt);
    stream.write({ credits: 1 });
  });
  stream.on('error', () => undefined);
  stream.write({ start: { group: 'bench', topic, partition: 0, credits: 1000, ackTimeoutMs: 600_000 } });
  await new Promise((r) => setTimeout(r, 500));
  const total = RATE * SECONDS;
  const auth = secure ? await authCounts(broker.metricsAddress) : undefined;
  const pid = broker.child.pid!;
  const brokerCpu = cpuSeconds(pid);
  const clientCpu = process.cpuUsage();
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      new Promise<void>((resolve, reject) =>
        client.Publish(
          {
            topic,
            partition: 0,
            messages: [{ body: Buffer.from(String(performance.timeOrigin + performance.now())) }],
          },
          (err) => (err ? reject(err) : resolve()),
        ),
      ),
    );
  }
  await Promise.all(pending);
  const deadline = Date.now() + 5_000;
  while (times.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const seconds = (performance.now() - start) / 1000;
  loop.disable();
  const used = process.cpuUsage(clientCpu);
  const breakdown: Breakdown = {
    clientCpuPercent: (100 * (used.user + used.system)) / 1e6 / seconds,
    brokerCpuPercent: (100 * (cpuSeconds(pid) - brokerCpu)) / seconds,
    clientLoopDelayP99Ms: loop.percentile(99) / 1e6,
  };
  if (auth) {
    const after = await authCounts(broker.metricsAddress);
    breakdown.tokenReviews = after.reviews - auth.reviews;
    breakdown.authWaits = after.waits - auth.waits;
    breakdown.authWaitedMs = (after.waited - auth.waited) * 1000;
  }
  stream.cancel();
  const sorted = times.sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), breakdown };
}

async function main(): Promise<void> {
  const ns = `bench-sec-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-sec-'));
  const ca = await createCa('bench CA', 1);
  const pair = await issue(ca, {
    commonName: 'herald:server:broker:bench:pool',
    ipAddresses: ['127.0.0.1'],
    server: true,
    days: 1,
  });
  const files = {
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
  };
  writeFileSync(files.caFile, ca.cert);
  writeFileSync(files.certFile, pair.cert);
  writeFileSync(files.keyFile, pair.key);

  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(__dirname, '..', 'crds')]);
  await kubectl(['create', 'namespace', ns]);
  await kubectl(['-n', ns, 'create', 'serviceaccount', 'bench']);
  await kubectl(
    ['-n', ns, 'apply', '-f', '-'],
    `apiVersion: herald.dev/v1alpha1
kind: AccessPolicy
metadata: {name: bench}
spec:
  subjects: [{kind: ServiceAccount, name: bench}]
  rules: [{operations: [publish, consume], topics: [{prefix: ""}], groups: [{prefix: ""}]}]
`,
  );
  const token = await kubectl([
    '-n',
    ns,
    'create',
    'token',
    'bench',
    '--audience',
    'herald',
    '--duration',
    '1h',
  ]);

  const brokers: {
    name: string;
    secure: boolean;
    broker: BrokerProcess;
    credentials: ChannelCredentials;
  }[] = [];
  const databases: string[] = [];
  try {
    for (const secure of [false, true]) {
      // Created by the broker that uses it.
      const database = benchDatabase(`herald_bench_sec_${secure ? 'on' : 'off'}`);
      databases.push(database);
      const options: BrokerOptionsInput = {
        listen: '127.0.0.1:0',
        metricsListen: '127.0.0.1:0',
        httpListen: '127.0.0.1:0',
        mysql: { url: databaseUrl(database), poolSize: PARTITIONS + 4 },
        topics: [
          { name: 'bench', partitions: PARTITIONS },
          // One per round, so each round's subscriber reads only its own messages.
          ...Array.from({ length: ROUNDS }, (_, i) => ({ name: `latency-${i + 1}`, partitions: 1 })),
        ],
        trace: { enabled: false },
        ...(secure
          ? { security: { tls: files, authentication: true, authorization: true, kubeconfig: KUBECONFIG } }
          : {}),
      };
      const broker = await spawnBroker(options);
      process.on('exit', () => broker.child.kill());
      brokers.push({
        name: secure ? 'tls+authn+authz' : 'plain',
        secure,
        broker,
        credentials: channelCredentials(
          secure ? { tls: { caFile: files.caFile }, auth: { token } } : undefined,
        ),
      });
    }
    const v1 = loadProtos().grpc.herald.v1;
    const results: Record<
      string,
      { throughput: number[]; p50: number[]; p99: number[]; breakdown: Breakdown[] }
    > = {};
    const loadBefore = loadAverage();
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate the order too: plain first in odd rounds, secure first in even ones.
      const order = round % 2 === 1 ? brokers : [...brokers].reverse();
      for (const b of order) {
        const client = new v1.Broker(b.broker.address, b.credentials);
        // Connect (and authenticate) before measuring; a loaded apiserver may answer late.
        for (let tries = 1; ; tries++) {
          try {
            await publish(client, 'bench', 0, 1);
            break;
          } catch (err) {
            if (tries >= 10) throw err;
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
        const rate = await throughput(client);
        const lat = await latency(client, `latency-${round}`, b.broker, b.secure);
        client.close();
        const r = (results[b.name] ??= { throughput: [], p50: [], p99: [], breakdown: [] });
        r.throughput.push(rate);
        r.p50.push(lat.p50);
        r.p99.push(lat.p99);
        r.breakdown.push(lat.breakdown);
        const d = lat.breakdown;
        console.log(
          `round ${round} ${b.name}: publish ${rate.toFixed(0)} msg/s (${PRODUCERS} x ${BATCH}); e2e at ${RATE} msg/s p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms` +
            ` (CPU client ${d.clientCpuPercent.toFixed(0)} %, broker ${d.brokerCpuPercent.toFixed(0)} %; client loop delay p99 ${d.clientLoopDelayP99Ms.toFixed(1)} ms` +
            (d.tokenReviews === undefined
              ? ')'
              : `; ${d.tokenReviews} TokenReviews, ${d.authWaits} calls waited for one, ${d.authWaitedMs!.toFixed(0)} ms in all)`),
        );
      }
    }
    const load = loadAverage();
    const plain = results.plain;
    const secure = results['tls+authn+authz'];
    const summary = {
      plain: { throughput: median(plain.throughput), p50: median(plain.p50), p99: median(plain.p99) },
      secure: { throughput: median(secure.throughput), p50: median(secure.p50), p99: median(secure.p99) },
    };
    const ratio = summary.secure.throughput / summary.plain.throughput;
    // The issue's limits: security may cost at most 15 % of publish throughput and 2 ms of p99.
    const limits = { throughputCostMax: 0.15, p99AddedMsMax: 2 };
    const cost = {
      throughputRatio: ratio,
      throughputCost: 1 - ratio,
      p99AddedMs: summary.secure.p99 - summary.plain.p99,
      p50AddedMs: summary.secure.p50 - summary.plain.p50,
    };
    const verdict = {
      throughput: cost.throughputCost <= limits.throughputCostMax ? 'within' : 'over',
      p99: cost.p99AddedMs <= limits.p99AddedMsMax ? 'within' : 'over',
    };
    const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
    console.log(
      [
        '',
        row(['', 'plain', 'tls+authn+authz', 'cost', 'limit', '']),
        row(['---', '---:', '---:', '---:', '---:', '---']),
        row([
          'publish msg/s',
          summary.plain.throughput.toFixed(0),
          summary.secure.throughput.toFixed(0),
          `${(cost.throughputCost * 100).toFixed(1)} %`,
          '15 %',
          verdict.throughput,
        ]),
        row([
          'e2e p50 ms',
          summary.plain.p50.toFixed(2),
          summary.secure.p50.toFixed(2),
          `${cost.p50AddedMs >= 0 ? '+' : ''}${cost.p50AddedMs.toFixed(2)} ms`,
          '',
          '',
        ]),
        row([
          'e2e p99 ms',
          summary.plain.p99.toFixed(2),
          summary.secure.p99.toFixed(2),
          `${cost.p99AddedMs >= 0 ? '+' : ''}${cost.p99AddedMs.toFixed(2)} ms`,
          '2 ms',
          verdict.p99,
        ]),
        '',
        `medians of ${ROUNDS} alternating rounds of ${SECONDS} s; throughput ratio ${ratio.toFixed(3)}`,
        `load average (1, 5, 15 min) before ${loadBefore.map((l) => l.toFixed(1)).join(' ')}, after ${load.map((l) => l.toFixed(1)).join(' ')}`,
      ].join('\n'),
    );
    writeResults('security', {
      seconds: SECONDS,
      rounds: ROUNDS,
      rate: RATE,
      producers: PRODUCERS,
      batch: BATCH,
      load: { before: loadBefore, after: load },
      results,
      summary,
      cost,
      limits,
      verdict,
    });
  } finally {
    for (const b of brokers) {
      b.broker.child.kill('SIGTERM');
      await b.broker.exited;
    }
    await dropDatabases(...databases);
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  }
}

runBenchmark(main);
