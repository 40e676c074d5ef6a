// What a Kafka produce request costs to encode, per message, in this process (a script, not a
// test): npm run bench:kafka-encode
//
// kafkajs' Produce v3 request, as its producer builds it (2 partitions of 100 records of 1 KiB,
// Herald's record shape and kafkajs direct's), against Herald's own Produce request
// (storage/kafka/produce.ts: the whole request sized in advance and written into one buffer,
// native CRC32C), which the Kafka store sends. Alternating rounds, so the machine's load falls
// on all alike. Environment: BENCH_ROUNDS (default 6).
import { createRequire } from 'node:module';
import { writeResults, runBenchmark } from './results';
import { loadAverage } from './proc';
import { encodeProduceRequest } from '../storage/kafka/produce';
import { encodeRecord } from '../storage/kafka/records';
import type { NewMessage } from '../storage/storage';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const REQUESTS = 300;
const PARTITIONS = 2;
const RECORDS = 100;
const BODY = Buffer.alloc(1024, 'x');
const message: NewMessage = { key: '', refKey: '', tags: [], properties: {}, body: BODY, priority: false };

// kafkajs' internal modules: no typings of their own.
type Encode = () => Promise<unknown>;
type ProduceRequest = (args: Record<string, unknown>) => { encode: Encode };
const internal = createRequire(require.resolve('kafkajs'));
const produceV3 = internal('./src/protocol/requests/produce/v3/request.js') as ProduceRequest;

const shapes: Record<string, () => Record<string, unknown>> = {
  'kafkajs direct records': () => ({ value: BODY }),
  'Herald records (encodeRecord)': () => ({
    key: null,
    value: BODY,
    headers: {},
    timestamp: String(Date.now()),
  }),
};

async function kafkajsMicros(shape: () => Record<string, unknown>): Promise<number> {
  const topicData = [
    {
      topic: 't',
      partitions: Array.from({ length: PARTITIONS }, (_, partition) => ({
        partition,
        firstSequence: 0,
        messages: Array.from({ length: RECORDS }, shape),
      })),
    },
  ];
  const started = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++)
    await produceV3({
      acks: -1,
      timeout: 1000,
      compression: 0,
      topicData,
      producerId: 1,
      producerEpoch: 0,
    }).encode();
  return Number(process.hrtime.bigint() - started) / 1e3 / (REQUESTS * PARTITIONS * RECORDS);
}

/** Herald's own Produce request (storage/kafka/produce.ts), the same partitions and records. */
function heraldMicros(): number {
  const records = Array.from({ length: RECORDS }, () => encodeRecord(message, Date.now()));
  const request = {
    acks: -1,
    timeoutMs: 1000,
    producer: { producerId: 1n, producerEpoch: 0 },
    topics: [
      {
        topic: 't',
        partitions: Array.from({ length: PARTITIONS }, (_, partition) => ({
          partition,
          baseSequence: 0,
          records,
        })),
      },
    ],
  };
  const started = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) encodeProduceRequest(request);
  return Number(process.hrtime.bigint() - started) / 1e3 / (REQUESTS * PARTITIONS * RECORDS);
}

async function main(): Promise<void> {
  const load = loadAverage()[0];
  const rounds: Record<string, number>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round: Record<string, number> = {};
    for (const [name, shape] of Object.entries(shapes)) round[name] = await kafkajsMicros(shape);
    round["Herald's Produce (produce.ts)"] = heraldMicros();
    rounds.push(round);
  }
  // The first round warms the JIT up: the median of the others.
  const median = (name: string) => {
    const v = rounds
      .slice(1)
      .map((r) => r[name])
      .sort((a, b) => a - b);
    return +v[Math.floor(v.length / 2)].toFixed(2);
  };
  const names = Object.keys(rounds[0]);
  const result = Object.fromEntries(names.map((n) => [n, median(n)]));
  process.stdout.write(
    `produce encoding, µs per 1 KiB message (median of ${ROUNDS - 1} rounds; load ${load}):\n`,
  );
  for (const n of names) process.stdout.write(`  ${n.padEnd(32)} ${result[n]}\n`);
  writeResults('kafka-encode', { loadAverage: load, microsPerMessage: result, rounds });
}

runBenchmark(main);
