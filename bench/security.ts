// Benchmark of security's cost (a script, not a test): npm run bench:security
//
// Two brokers on the same MariaDB, one plain and one with TLS, authentication (a real
// ServiceAccount token, reviewed by the local apiserver) and authorization (an AccessPolicy)
// on, measured in alternating rounds so that machine noise falls on both alike:
//  - publish throughput: PRODUCERS concurrent unary Publish calls of BATCH 1 KB messages;
//  - end-to-end latency: Publish at RATE msg/s, receipt on a Subscribe stream, p50/p99.
// Prints each round, then a table of the medians, the costs and the issue's limits (at most 15 %
// of throughput, 2 ms of p99); writes the same as JSON to bench/results/.
// Environment: HERALD_MYSQL_URL, KUBECONFIG (the local environment's), BENCH_SECONDS (5),
// BENCH_ROUNDS (3), BENCH_RATE (1000), BENCH_PRODUCERS (32), BENCH_BATCH (10).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { channelCredentials } from '../common/grpc/credentials';
import type { ChannelCredentials } from '@grpc/grpc-js';
import type { BrokerOptionsInput } from '../common/broker-options';
import { createCa, issue } from '../operator/ca/ca';
import { loadProtos } from '../proto/load';
import type { BrokerClient } from '../proto/gen/herald/v1/Broker';
import type { SubscribeResponse } from '../proto/gen/herald/v1/SubscribeResponse';
import { spawnBroker } from '../test/integration/broker/helpers';
import type { BrokerProcess } from '../test/integration/broker/helpers';

const SERVER = process.env.HERALD_MYSQL_URL ?? 'mysql://herald:herald@127.0.0.1:13306/herald';
// broker/main.ts lets HERALD_MYSQL_URL override the config's database: each broker gets its own.
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

/** Publish one message every 1/RATE s to partition 0 (body: send time); receipt on Subscribe. */
async function latency(client: BrokerClient, topic: string): Promise<{ p50: number; p99: number }> {
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
  stream.cancel();
  const sorted = times.sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function main(): Promise<void> {
  const run = Date.now().toString(36);
  const ns = `bench-sec-${run}`;
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

  const admin = await mysql.createConnection(SERVER);
  const brokers: {
    name: string;
    broker: BrokerProcess;
    credentials: ChannelCredentials;
    database: string;
  }[] = [];
  try {
    for (const secure of [false, true]) {
      const database = `herald_bench_sec_${secure ? 'on' : 'off'}_${run}`;
      await admin.query(`CREATE DATABASE \`${database}\``);
      const url = new URL(SERVER);
      url.pathname = `/${database}`;
      const options: BrokerOptionsInput = {
        listen: '127.0.0.1:0',
        metricsListen: '127.0.0.1:0',
        httpListen: '127.0.0.1:0',
        mysql: { url: url.toString(), poolSize: PARTITIONS + 4 },
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
        broker,
        database,
        credentials: channelCredentials(
          secure ? { tls: { caFile: files.caFile }, auth: { token } } : undefined,
        ),
      });
    }
    const v1 = loadProtos().grpc.herald.v1;
    const results: Record<string, { throughput: number[]; p50: number[]; p99: number[] }> = {};
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
        const lat = await latency(client, `latency-${round}`);
        client.close();
        const r = (results[b.name] ??= { throughput: [], p50: [], p99: [] });
        r.throughput.push(rate);
        r.p50.push(lat.p50);
        r.p99.push(lat.p99);
        console.log(
          `round ${round} ${b.name}: publish ${rate.toFixed(0)} msg/s (${PRODUCERS} x ${BATCH}); e2e at ${RATE} msg/s p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`,
        );
      }
    }
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
      ].join('\n'),
    );
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    writeFileSync(
      join(__dirname, 'results', `security-${run}.json`),
      JSON.stringify(
        {
          seconds: SECONDS,
          rounds: ROUNDS,
          rate: RATE,
          producers: PRODUCERS,
          batch: BATCH,
          results,
          summary,
          cost,
          limits,
          verdict,
        },
        null,
        2,
      ),
    );
  } finally {
    for (const b of brokers) {
      b.broker.child.kill('SIGTERM');
      await admin.query(`DROP DATABASE IF EXISTS \`${b.database}\``);
    }
    await admin.end();
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
