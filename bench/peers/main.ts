// Herald side by side with the durable queues people would pick instead (a script, not a
// test): npm run bench:peers. Issue #15's four workloads, 1 KiB messages, every publish
// acknowledged only once durable, each system with its own Node client idiom:
//  batch    16 producers, each sends 100 messages and awaits all of them, in a loop;
//  each     64 producers, each sends one message and awaits it, in a loop;
//  latency  one producer at a fixed rate (1,000 and 5,000 msg/s), a consumer acking;
//           end-to-end latency from send to receipt, same process clock;
//  backlog  200,000 messages produced as in `batch`, then drained by a consumer with acks.
// After every workload everything published is consumed and checked: each message once.
// The script starts every system itself (RabbitMQ as a private node, nats-server, a Herald
// broker on a fresh database of the shared MariaDB), records CPU per process and peak RSS,
// prints one table with the ratios Herald / best peer, writes JSON to bench/results/ and
// stops everything it started. Environment:
//   BENCH_SECONDS    duration of each throughput and latency run (default 10)
//   BENCH_BACKLOG    backlog size (default 200000)
//   BENCH_RATES      latency rates (default 1000,5000)
//   BENCH_WARMUP_SECONDS how long each latency run first sends at its rate unmeasured (default 2):
//                    the first second of a fresh process is its JIT's, not its steady state
//   BENCH_SYSTEMS    subset of herald-sdk,herald-grpc,rabbitmq,nats (default all, in this order)
//   BENCH_WORKLOADS  subset of batch,each,latency,backlog (default all)
//   BENCH_OPTIONS    JSON merged into the Herald broker's options
//   BENCH_SDK_OPTIONS JSON merged into the SDK Producer's options (e.g. {"maxInFlight":2})
//   BENCH_MEMORY_LIMIT the broker's container memory limit whose V8 heap flags it runs with,
//                    as the operator sets them (default 512Mi, the chart's default pool; none:
//                    V8's own sizing)
//   BENCH_NODE_ARGS  node flags for the Herald broker (e.g. --cpu-prof --cpu-prof-dir=...)
//                    (summarise the profile with bench/cpuprofile.ts)
//   BENCH_ACK_LINGER_MS how long the gRPC consumer's acks wait for company per partition (default
//                    5, as the SDK's); measures what the Ack calls cost the broker
//   BENCH_GRPC_ACKS  stream (default: deliveries several to a Subscribe response, acks on the
//                    stream) or unary (one delivery per response, unary Acks)
//   HERALD_MYSQL_URL MariaDB to use (default the local environment's, 127.0.0.1:13306)
//   BENCH_PORT       first of the loopback ports for the peers (default 25670; uses 4)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Ledger, bodyOrigin, makeBody, sentAt } from './driver';
import type { Driver, Producer } from './driver';
import { startHerald } from './herald';
import type { Herald } from './herald';
import { startNats } from './nats';
import { startRabbitmq } from './rabbitmq';
import { cpuMeter, loadAverage, microsPerMessage, rssMiB } from '../proc';
import { loops, percentile } from '../load';
import { benchDatabase, databaseUrl, dropDatabases, runBenchmark, writeResults } from '../results';
import { profileDelta } from './profile';
import { brokerHeapFlags, memoryBytes } from '../../common/broker-heap';
import type { BrokerProfile, MetricsSnapshot } from './profile';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 200_000);
const RATES = (process.env.BENCH_RATES ?? '1000,5000').split(',').map(Number);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const SYSTEMS = (process.env.BENCH_SYSTEMS ?? 'herald-sdk,herald-grpc,rabbitmq,nats').split(',');
const WORKLOADS = new Set((process.env.BENCH_WORKLOADS ?? 'batch,each,latency,backlog').split(','));
const BASE_PORT = Number(process.env.BENCH_PORT ?? 25670);
const MEMORY_LIMIT = process.env.BENCH_MEMORY_LIMIT ?? '512Mi';
/** The broker's V8 heap flags in a container of MEMORY_LIMIT (operator/controllers/broker-pool-objects.ts). */
const heapFlags = () =>
  MEMORY_LIMIT === 'none' ? [] : brokerHeapFlags(memoryBytes(MEMORY_LIMIT, 'BENCH_MEMORY_LIMIT'));
/** How long the check after a workload waits for the last messages to arrive. */
const DRAIN_TIMEOUT_MS = 120_000;

type Cpu = Record<string, number>;

interface Check {
  published: number;
  consumed: number;
  missing: number;
  duplicates: number;
  unexpected: number;
}

interface ThroughputResult {
  rate: number;
  cpu: Cpu;
  check: Check;
  /** Publish calls per message (Herald SDK only). */
  callsPerMessage?: number;
  /** CPU of the benchmark process (the clients) per message published, µs. */
  clientCpuUsPerMessage: number;
}

interface LatencyResult {
  rate: number;
  achieved: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** The highest p99 of any one second of the run (by send time), ms: how steady the tail is. */
  worstSecondP99: number;
  ackP50: number;
  ackP99: number;
  /**
   * Where the system says when it stored each message (Herald: the commit's start), e2e split
   * there: send -> stored (the producer's side) and stored -> receipt (commit, delivery and the
   * consumer's side), ms, one process clock against the server's wall clock.
   */
  split?: { storedP50: number; storedP99: number; receiptP50: number; receiptP99: number };
  /** Event-loop delay of this process (producer and consumer) during the run, ms. */
  clientLoopP99: number;
  clientLoopMax: number;
  cpu: Cpu;
  check: Check;
  broker?: BrokerProfile;
}

interface BacklogResult {
  produceRate: number;
  drainRate: number;
  produceCpu: Cpu;
  drainCpu: Cpu;
  check: Check;
}

interface SystemResult {
  name: string;
  batch?: ThroughputResult;
  each?: ThroughputResult;
  latency: LatencyResult[];
  backlog?: BacklogResult;
  /** Peak RSS of the server processes over the system's whole run, MiB (summed per group). */
  peakRssMiB: Record<string, number>;
  /** The same per workload (latency-<rate>, batch, each, backlog), of the largest group. */
  peakRssByWorkload: Record<string, number>;
}

function queueName(system: string, workload: string): string {
  return `${system}-${workload}`.replace(/[^a-z0-9-]/g, '-');
}

function workloadQueues(system: string): string[] {
  return ['batch', 'each', ...RATES.map((r) => `latency-${r}`), 'backlog'].map((w) => queueName(system, w));
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Consumes the queue until every published message arrived (or the timeout); returns the check. */
async function drainAndCheck(driver: Driver, queue: string, ledger: Ledger): Promise<Check> {
  const consumption = await driver.consume(queue, (b) => ledger.consumed(b));
  await until(() => ledger.missing() === 0, DRAIN_TIMEOUT_MS);
  // A little longer: duplicates would arrive now.
  await new Promise((r) => setTimeout(r, 300));
  await consumption.stop();
  return ledger.check();
}

async function producers(driver: Driver, queue: string, n: number): Promise<Producer[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => driver.producer(queue, i)));
}

async function throughput(
  driver: Driver,
  workload: 'batch' | 'each',
  meter: () => () => Cpu,
  publishCalls: () => number,
): Promise<ThroughputResult> {
  const [count, batch] = workload === 'batch' ? [16, 100] : [64, 1];
  const queue = queueName(driver.id, workload);
  await driver.createQueue(queue);
  const ps = await producers(driver, queue, count);
  const ledger = new Ledger();
  const seq = new Array<number>(count).fill(0);
  const calls = publishCalls();
  const cpu = meter();
  const rate = await loops(count, SECONDS, async (i) => {
    const bodies = Array.from({ length: batch }, () => makeBody(i, seq[i]++));
    await ps[i].publish(bodies, `p${i}`);
    ledger.publishedOk(bodies);
    return batch;
  });
  const cpuShare = cpu();
  const callsMade = publishCalls() - calls;
  for (const p of ps) await p.close();
  const check = await drainAndCheck(driver, queue, ledger);
  await driver.deleteQueue(queue);
  return {
    rate,
    cpu: cpuShare,
    clientCpuUsPerMessage: microsPerMessage(cpuShare.client, rate),
    check,
    ...(callsMade > 0 ? { callsPerMessage: callsMade / ledger.publishedCount } : {}),
  };
}

/** The producer id in the bodies of a latency run's measured messages. */
const MEASURED = 2;

/**
 * Sends `total` single-message publishes at `rate` msg/s (body producer id `from`, keys over 64),
 * recording each acked body in the ledger and its ack time (undefined: failed) in `onAck`;
 * resolves when the last has been sent, with the publishes still pending.
 */
async function paced(
  producer: Producer,
  rate: number,
  total: number,
  from: number,
  ledger: Ledger,
  onAck: (ms: number | undefined) => void,
): Promise<Promise<void>[]> {
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
      for (; sent < due; sent++) {
        const body = makeBody(from, sent);
        const at = performance.now();
        pending.push(
          producer.publish([body], `s${sent % 64}`).then(
            () => {
              onAck(performance.now() - at);
              ledger.publishedOk([body]);
            },
            () => onAck(undefined),
          ),
        );
      }
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  return pending;
}

async function latency(
  driver: Driver,
  rate: number,
  meter: () => () => Cpu,
  profile: (() => Promise<MetricsSnapshot>) | undefined,
): Promise<LatencyResult> {
  const queue = queueName(driver.id, `latency-${rate}`);
  await driver.createQueue(queue);
  const [producer] = await producers(driver, queue, 1);
  const ledger = new Ledger();
  /** The measured messages' latencies by the second of the run in which they were sent. */
  const bySecond: number[][] = [];
  const toStored: number[] = [];
  const toReceipt: number[] = [];
  const consumption = await driver.consume(queue, (b, storedAtMs) => {
    const now = performance.now();
    ledger.consumed(b);
    const { producer: from, seq } = bodyOrigin(b);
    if (from !== MEASURED) return;
    const sent = sentAt(b);
    (bySecond[Math.floor(seq / rate)] ??= []).push(now - sent);
    if (storedAtMs !== undefined) {
      toStored.push(storedAtMs - (performance.timeOrigin + sent));
      toReceipt.push(performance.timeOrigin + now - storedAtMs);
    }
  });
  // Warm-up, consumed but not measured: the first messages open streams and caches, then
  // WARMUP_SECONDS at the rate bring every process to its steady state (JIT, pools, heap).
  const warm = Array.from({ length: 50 }, (_, i) => makeBody(1, i));
  for (const b of warm) await producer.publish([b], `w${b.readUInt32LE(12) % 64}`);
  ledger.publishedOk(warm);
  await Promise.all(await paced(producer, rate, rate * WARMUP_SECONDS, 3, ledger, () => {}));
  await until(() => ledger.missing() === 0, DRAIN_TIMEOUT_MS);
  const before = profile ? await profile() : undefined;
  const total = rate * SECONDS;
  const acks: number[] = [];
  let failed = 0;
  const cpu = meter();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const started = performance.now();
  const pending = await paced(producer, rate, total, MEASURED, ledger, (ms) => {
    if (ms === undefined) failed++;
    else acks.push(ms);
  });
  const sendSeconds = (performance.now() - started) / 1000;
  await Promise.all(pending);
  await until(() => ledger.missing() === 0, DRAIN_TIMEOUT_MS);
  loop.disable();
  const cpuShare = cpu();
  const after = profile ? await profile() : undefined;
  await new Promise((r) => setTimeout(r, 300));
  await consumption.stop();
  await producer.close();
  const check = ledger.check();
  await driver.deleteQueue(queue);
  if (failed > 0) console.error(`${driver.name}: ${failed} publishes failed at ${rate} msg/s`);
  const sorted = bySecond.flat().sort((a, b) => a - b);
  const ackSorted = acks.sort((a, b) => a - b);
  const storedSorted = toStored.sort((a, b) => a - b);
  const receiptSorted = toReceipt.sort((a, b) => a - b);
  return {
    rate,
    achieved: total / sendSeconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted[sorted.length - 1] ?? NaN,
    worstSecondP99: Math.max(
      ...bySecond.map((ls) =>
        percentile(
          ls.sort((a, b) => a - b),
          99,
        ),
      ),
    ),
    ackP50: percentile(ackSorted, 50),
    ackP99: percentile(ackSorted, 99),
    ...(storedSorted.length > 0
      ? {
          split: {
            storedP50: percentile(storedSorted, 50),
            storedP99: percentile(storedSorted, 99),
            receiptP50: percentile(receiptSorted, 50),
            receiptP99: percentile(receiptSorted, 99),
          },
        }
      : {}),
    clientLoopP99: loop.percentile(99) / 1e6,
    clientLoopMax: loop.max / 1e6,
    cpu: cpuShare,
    check,
    ...(before && after ? { broker: profileDelta(before, after) } : {}),
  };
}

async function backlog(driver: Driver, meter: () => () => Cpu): Promise<BacklogResult> {
  const queue = queueName(driver.id, 'backlog');
  await driver.createQueue(queue);
  const ps = await producers(driver, queue, 16);
  const ledger = new Ledger();
  let produced = 0;
  const produceCpu = meter();
  const produceStart = performance.now();
  await Promise.all(
    ps.map(async (p, i) => {
      let seq = 0;
      while (produced < BACKLOG) {
        const n = Math.min(100, BACKLOG - produced);
        produced += n;
        const bodies = Array.from({ length: n }, () => makeBody(100 + i, seq++));
        await p.publish(bodies, `p${i}`);
        ledger.publishedOk(bodies);
      }
    }),
  );
  const produceRate = ledger.publishedCount / ((performance.now() - produceStart) / 1000);
  const produceCpuShare = produceCpu();
  for (const p of ps) await p.close();
  const drainCpu = meter();
  const drainStart = performance.now();
  const consumption = await driver.consume(queue, (b) => ledger.consumed(b));
  await until(() => ledger.missing() === 0, DRAIN_TIMEOUT_MS * 3);
  const drainRate = ledger.consumedCount / ((performance.now() - drainStart) / 1000);
  const drainCpuShare = drainCpu();
  await new Promise((r) => setTimeout(r, 300));
  await consumption.stop();
  const check = ledger.check();
  await driver.deleteQueue(queue);
  return { produceRate, drainRate, produceCpu: produceCpuShare, drainCpu: drainCpuShare, check };
}

async function runSystem(driver: Driver): Promise<SystemResult> {
  const groups = Object.keys(driver.serverProcesses());
  // Process trees are read again at each sample: a peer may start helpers on the way.
  const meter = () => cpuMeter(Object.fromEntries(groups.map((g) => [g, () => driver.serverProcesses()[g]])));
  const peak: Record<string, number> = {};
  const byWorkload: Record<string, number> = {};
  let workload = '';
  const sample = () => {
    for (const [name, pids] of Object.entries(driver.serverProcesses())) {
      if (name === 'mariadb') continue; // shared with the rest of the machine
      const rss = pids.reduce((s, pid) => s + (rssMiB(pid) || 0), 0);
      peak[name] = Math.max(peak[name] ?? 0, rss);
      if (workload) byWorkload[workload] = Math.max(byWorkload[workload] ?? 0, rss);
    }
  };
  const sampler = setInterval(sample, 200);
  const out: SystemResult = {
    name: driver.name,
    latency: [],
    peakRssMiB: peak,
    peakRssByWorkload: byWorkload,
  };
  const calls = () => driver.publishCalls?.() ?? 0;
  const log = (what: string, v: unknown) =>
    console.log(`${driver.name} ${what}: ${JSON.stringify(v)}; peak RSS ${fmt(byWorkload[workload])} MiB`);
  try {
    if (WORKLOADS.has('latency')) {
      for (const rate of RATES) {
        workload = `latency-${rate}`;
        const r = await latency(driver, rate, meter, driver.profile?.bind(driver));
        out.latency.push(r);
        log(`latency ${rate}`, r);
      }
    }
    workload = 'batch';
    if (WORKLOADS.has('batch')) log('batch', (out.batch = await throughput(driver, 'batch', meter, calls)));
    workload = 'each';
    if (WORKLOADS.has('each')) log('each', (out.each = await throughput(driver, 'each', meter, calls)));
    workload = 'backlog';
    if (WORKLOADS.has('backlog')) log('backlog', (out.backlog = await backlog(driver, meter)));
  } finally {
    clearInterval(sampler);
    sample();
  }
  return out;
}

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cpuCell(c: Cpu | undefined): string {
  if (!c) return '';
  return Object.entries(c)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');
}

function checkCell(c: Check | undefined): string {
  if (!c) return '';
  const ok = c.missing === 0 && c.duplicates === 0 && c.unexpected === 0;
  return ok
    ? `${c.consumed} once`
    : `${c.consumed} of ${c.published}: ${c.missing} not consumed within the drain timeout, ${c.duplicates} twice, ${c.unexpected} unknown`;
}

interface Row {
  workload: string;
  /** Per system: the figure shown, and the number compared (higher is better unless `lower`). */
  cells: Record<string, { text: string; value: number }>;
  lower?: boolean;
}

function rows(results: Record<string, SystemResult>): Row[] {
  const out: Row[] = [];
  const map = (
    workload: string,
    get: (r: SystemResult) => { text: string; value: number } | undefined,
    lower = false,
  ) => {
    const cells: Row['cells'] = {};
    for (const [id, r] of Object.entries(results)) {
      const c = get(r);
      if (c) cells[id] = c;
    }
    if (Object.keys(cells).length > 0) out.push({ workload, cells, lower });
  };
  const rate = (
    t: ThroughputResult | BacklogResult | undefined,
    field: 'rate' | 'drainRate' | 'produceRate',
  ) => {
    const v = t && (t as unknown as Record<string, number>)[field];
    return v === undefined ? undefined : { text: `${fmt(v)} msg/s`, value: v };
  };
  map('16 producers × 100, await all (msg/s)', (r) => rate(r.batch, 'rate'));
  map('64 producers, await each (msg/s)', (r) => rate(r.each, 'rate'));
  for (const rateMsgs of RATES) {
    map(
      `e2e at ${fmt(rateMsgs)} msg/s: p50 / p99 / p999 ms (ratio of p99)`,
      (r) => {
        const l = r.latency.find((x) => x.rate === rateMsgs);
        return l
          ? { text: `${fmt(l.p50, 2)} / ${fmt(l.p99, 2)} / ${fmt(l.p999, 2)}`, value: l.p99 }
          : undefined;
      },
      true,
    );
  }
  map('backlog: produce (msg/s)', (r) => rate(r.backlog, 'produceRate'));
  map(`drain a ${fmt(BACKLOG)} backlog with acks (msg/s)`, (r) => rate(r.backlog, 'drainRate'));
  map(
    'server RSS, peak (MiB)',
    (r) => {
      const v = Math.max(...Object.values(r.peakRssMiB));
      return Number.isFinite(v) ? { text: `${fmt(v)}`, value: v } : undefined;
    },
    true,
  );
  for (const w of [...RATES.map((r) => `latency-${r}`), 'batch', 'each', 'backlog'])
    map(
      `server RSS, peak in ${w} (MiB)`,
      (r) => {
        const v = r.peakRssByWorkload[w];
        return v === undefined ? undefined : { text: fmt(v), value: v };
      },
      true,
    );
  return out;
}

/** Herald ÷ the best peer for each row (for "lower is better" rows: the best peer ÷ Herald is not used; the ratio stays Herald ÷ peer). */
function table(results: Record<string, SystemResult>): string {
  const ids = Object.keys(results);
  const heralds = ids.filter((i) => i.startsWith('herald'));
  const peers = ids.filter((i) => !i.startsWith('herald'));
  const head = [
    'workload',
    ...ids.map((i) => results[i].name),
    ...heralds.map((h) => `${results[h].name} ÷ best peer`),
  ];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const row of rows(results)) {
    const peerValues = peers.map((p) => row.cells[p]?.value).filter((v): v is number => v !== undefined);
    const best =
      peerValues.length === 0 ? NaN : row.lower ? Math.min(...peerValues) : Math.max(...peerValues);
    const ratios = heralds.map((h) => {
      const v = row.cells[h]?.value;
      return v === undefined || Number.isNaN(best) ? '-' : `${(v / best).toFixed(2)}`;
    });
    lines.push(`| ${[row.workload, ...ids.map((i) => row.cells[i]?.text ?? '-'), ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

function detail(results: Record<string, SystemResult>): string {
  const lines = [
    '| system | workload | CPU % of a core (client = this process) | consumed-once check | notes |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const r of Object.values(results)) {
    const t = (w: string, x: ThroughputResult | undefined) => {
      if (!x) return;
      const notes = [
        `client CPU ${fmt(x.clientCpuUsPerMessage)} µs per message`,
        ...(x.callsPerMessage === undefined
          ? []
          : [`${x.callsPerMessage.toFixed(3)} Publish calls per message`]),
      ].join('; ');
      lines.push(`| ${r.name} | ${w} | ${cpuCell(x.cpu)} | ${checkCell(x.check)} | ${notes} |`);
    };
    t('batch', r.batch);
    t('each', r.each);
    for (const l of r.latency) {
      const b = l.broker;
      const notes = [
        `achieved ${fmt(l.achieved)} msg/s; publish acked p50 ${fmt(l.ackP50, 2)} / p99 ${fmt(l.ackP99, 2)} ms; max ${fmt(l.max, 1)} ms; worst second's p99 ${fmt(l.worstSecondP99, 1)} ms; client loop delay p99 ${fmt(l.clientLoopP99, 1)} / max ${fmt(l.clientLoopMax, 1)} ms`,
        ...(l.split
          ? [
              `send -> stored p50 ${fmt(l.split.storedP50, 1)} / p99 ${fmt(l.split.storedP99, 1)} ms, stored -> receipt p50 ${fmt(l.split.receiptP50, 1)} / p99 ${fmt(l.split.receiptP99, 1)} ms`,
            ]
          : []),
        ...(b ? [profileText(b)] : []),
      ].join('; ');
      lines.push(`| ${r.name} | latency ${l.rate} | ${cpuCell(l.cpu)} | ${checkCell(l.check)} | ${notes} |`);
    }
    if (r.backlog) {
      lines.push(`| ${r.name} | backlog produce | ${cpuCell(r.backlog.produceCpu)} | | |`);
      lines.push(
        `| ${r.name} | backlog drain | ${cpuCell(r.backlog.drainCpu)} | ${checkCell(r.backlog.check)} | |`,
      );
    }
  }
  return lines.join('\n');
}

function profileText(b: BrokerProfile): string {
  return Object.entries(b)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v, 2) : v}`)
    .join(', ');
}

async function main(): Promise<void> {
  // Installs what is missing (idempotent: a warm run only checks stamps).
  const root = join(__dirname, '..', '..');
  execFileSync('bash', [join(root, 'test', 'env', 'tools.sh'), 'peers'], { stdio: 'inherit' });
  // The broker runs compiled, as in the image (npm run build's tsc step).
  console.log('compiling the broker (tsc -p tsconfig.build.json)');
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  const load = { before: loadAverage(), after: [NaN, NaN, NaN] as number[] };
  console.log(
    `load average before: ${load.before.join(' ')}; ${SECONDS} s per run, backlog ${BACKLOG}; broker heap flags ${heapFlags().join(' ') || '(none)'}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'herald-peers-'));
  const started: { close(): Promise<void> }[] = [];
  const database = benchDatabase('herald_peers');
  const results: Record<string, SystemResult> = {};
  let herald: Herald | undefined;
  const stopAll = async () => {
    for (const s of started.splice(0).reverse()) await s.close().catch((err: unknown) => console.error(err));
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    for (const id of SYSTEMS) {
      let driver: Driver;
      if (id === 'herald-sdk' || id === 'herald-grpc') {
        if (!herald) {
          herald = await startHerald(
            databaseUrl(database),
            ['herald-sdk', 'herald-grpc'].flatMap(workloadQueues),
            JSON.parse(process.env.BENCH_OPTIONS ?? '{}') as object,
            [...heapFlags(), ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)],
            join(root, 'dist', 'broker', 'main.js'),
            JSON.parse(process.env.BENCH_SDK_OPTIONS ?? '{}') as object,
          );
          started.push(herald);
          console.log(
            `Herald broker pid ${herald.broker.child.pid} at ${herald.broker.address}, database ${database}`,
          );
        }
        driver = id === 'herald-sdk' ? herald.sdk : herald.grpc;
      } else if (id === 'rabbitmq') {
        driver = await startRabbitmq(join(dir, 'rabbitmq'), BASE_PORT);
        started.push(driver);
      } else if (id === 'nats') {
        driver = await startNats(join(dir, 'nats'), BASE_PORT + 3);
        started.push(driver);
      } else {
        throw new Error(`unknown system ${id} (expected herald-sdk, herald-grpc, rabbitmq or nats)`);
      }
      console.log(`\n== ${driver.name}`);
      results[id] = await runSystem(driver);
      // Peers are stopped as soon as they are done, so they do not compete with the next one.
      if (!id.startsWith('herald')) {
        started.splice(started.indexOf(driver), 1);
        await driver.close();
      }
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    await dropDatabases(database);
  }
  load.after = loadAverage();
  console.log(`\n${table(results)}\n\n${detail(results)}`);
  console.log(`\nload average before ${load.before.join(' ')}, after ${load.after.join(' ')}`);
  writeResults('peers', { seconds: SECONDS, backlog: BACKLOG, load, results });
}

runBenchmark(main);
