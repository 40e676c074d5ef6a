// What decoding a Kafka fetch costs, per message, in this process (a script, not a test):
// npm run bench:kafka-decode
//
// One Fetch v11 response of 16 partitions × 1,000 Herald records of 1 KiB (in record batches of
// 100, as Herald's produce writes them), decoded by kafkajs' own Fetch v11 decoder and parse (what
// Broker#fetch ran; it gives record objects, which Herald then still had to map to messages)
// and by Herald's own (storage/kafka/fetch.ts: straight into messages). Alternating rounds, so
// the machine's load falls on both alike; GC time from perf_hooks' gc entries.
// Environment: BENCH_ROUNDS (default 8).
import { createRequire } from 'node:module';
import { PerformanceObserver } from 'node:perf_hooks';
import { writeResults, runBenchmark } from './results';
import { loadAverage } from './proc';
import { decodeFetchResponse } from '../storage/kafka/fetch';
import { encodeProduceRequest } from '../storage/kafka/produce';
import { encodeRecord } from '../storage/kafka/records';
import type { NewMessage } from '../storage/storage';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const PARTITIONS = 16;
const BATCHES = 10;
const RECORDS = 100;
const MESSAGES = PARTITIONS * BATCHES * RECORDS;
const message: NewMessage = {
  key: '',
  refKey: '',
  tags: [],
  properties: {},
  body: Buffer.alloc(1024, 'x'),
  priority: false,
};

// kafkajs' internal modules: no typings of their own.
const internal = createRequire(require.resolve('kafkajs'));
const fetchV11 = internal('./src/protocol/requests/fetch/v11/response.js') as {
  decode(b: Buffer): Promise<unknown>;
  parse(d: unknown): Promise<unknown>;
};

/** One batch of RECORDS at Kafka offset `first`, as Herald's produce writes it. */
function batch(first: number): Buffer {
  const records = Array.from({ length: RECORDS }, () => encodeRecord(message, Date.now()));
  const body = encodeProduceRequest({
    acks: -1,
    timeoutMs: 1000,
    producer: { producerId: 1n, producerEpoch: 0 },
    topics: [{ topic: 't', partitions: [{ partition: 0, baseSequence: first, records }] }],
  });
  // transactional id, acks, timeout, topics count, topic 't', partitions count, partition, set size
  const set = Buffer.from(body.subarray(2 + 2 + 4 + 4 + 3 + 4 + 4 + 4));
  set.writeBigInt64BE(BigInt(first), 0); // base offset (outside the CRC)
  return set;
}

function response(): Buffer {
  const parts: Buffer[] = [];
  const int = (n: number, bytes: 2 | 4 | 8) => {
    const b = Buffer.alloc(bytes);
    if (bytes === 2) b.writeInt16BE(n);
    else if (bytes === 4) b.writeInt32BE(n);
    else b.writeBigInt64BE(BigInt(n));
    parts.push(b);
  };
  int(0, 4); // throttle
  int(0, 2); // error
  int(0, 4); // session
  int(1, 4); // topics
  int(1, 2);
  parts.push(Buffer.from('t'));
  int(PARTITIONS, 4);
  for (let p = 0; p < PARTITIONS; p++) {
    int(p, 4);
    int(0, 2);
    for (let i = 0; i < 3; i++) int(BATCHES * RECORDS, 8); // high watermark, last stable, log start
    int(-1, 4); // aborted transactions: null
    int(-1, 4); // preferred read replica
    const set = Buffer.concat(Array.from({ length: BATCHES }, (_, b) => batch(b * RECORDS)));
    int(set.length, 4);
    parts.push(set);
  }
  return Buffer.concat(parts);
}

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

/** µs per message and GC ms per 1,000 messages of `decode` over REPEATS responses. */
async function measure(decode: () => unknown): Promise<[number, number]> {
  const repeats = 5;
  await new Promise((r) => setTimeout(r, 50));
  const gcBefore = gcMs;
  const started = process.hrtime.bigint();
  for (let i = 0; i < repeats; i++) await decode();
  const micros = Number(process.hrtime.bigint() - started) / 1e3 / (repeats * MESSAGES);
  await new Promise((r) => setTimeout(r, 50));
  return [micros, ((gcMs - gcBefore) / (repeats * MESSAGES)) * 1000];
}

async function main(): Promise<void> {
  const load = loadAverage()[0];
  const buf = response();
  const sides: Record<string, () => unknown> = {
    "kafkajs' Fetch v11 decode + parse (records, not yet messages)": async () =>
      fetchV11.parse(await fetchV11.decode(buf)),
    "Herald's decodeFetchResponse (messages)": () => decodeFetchResponse(buf, () => 1),
  };
  const rounds: Record<string, [number, number]>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round: Record<string, [number, number]> = {};
    for (const [name, decode] of Object.entries(sides)) round[name] = await measure(decode);
    rounds.push(round);
  }
  // The first round warms the JIT up: the median of the others.
  const median = (name: string, i: 0 | 1) => {
    const v = rounds
      .slice(1)
      .map((r) => r[name][i])
      .sort((a, b) => a - b);
    return +v[Math.floor(v.length / 2)].toFixed(3);
  };
  const result = Object.fromEntries(
    Object.keys(sides).map((n) => [n, { microsPerMessage: median(n, 0), gcMsPerThousand: median(n, 1) }]),
  );
  process.stdout.write(
    `fetch decoding, 1 KiB messages (median of ${ROUNDS - 1} rounds; load ${load}): µs per message, GC ms per 1,000\n`,
  );
  for (const [n, v] of Object.entries(result))
    process.stdout.write(`  ${n.padEnd(62)} ${v.microsPerMessage}  ${v.gcMsPerThousand}\n`);
  writeResults('kafka-decode', { loadAverage: load, result, rounds });
}

runBenchmark(main);
