// What a Kafka produce request costs to encode, per message, in this process (a script, not a
// test): npm run bench:kafka-encode
//
// The Herald broker's publish profile is half kafkajs' produce encoding (docs/benchmarks.md,
// "Kafka topics"). This measures that encoding on its own (kafkajs' Produce v3 request, as the
// producer builds it: 2 partitions of 100 records of 1 KiB, Herald's record shape and kafkajs
// direct's) against a record batch written into one buffer sized in advance, with kafkajs' own
// CRC32C: the cost a Herald-built produce request would have. Alternating rounds, so the
// machine's load falls on both alike. Environment: BENCH_ROUNDS (default 6).
import { createRequire } from 'node:module';
import { writeResults, runBenchmark } from './results';
import { loadAverage } from './proc';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const REQUESTS = 300;
const PARTITIONS = 2;
const RECORDS = 100;
const BODY = Buffer.alloc(1024, 'x');

// kafkajs' internal modules: no typings of their own.
type Encode = () => Promise<unknown>;
type ProduceRequest = (args: Record<string, unknown>) => { encode: Encode };
const internal = createRequire(require.resolve('kafkajs'));
const produceV3 = internal('./src/protocol/requests/produce/v3/request.js') as ProduceRequest;
const crc32C = internal('./src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;

const shapes: Record<string, () => Record<string, unknown>> = {
  'kafkajs direct records': () => ({ value: BODY }),
  'Herald records (encodeRecord)': () => ({
    key: null,
    value: BODY,
    headers: {},
    timestamp: String(Date.now()),
  }),
};

/** Zig-zag varint, as Kafka's record fields are written. */
function writeVarint(buf: Buffer, at: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v > 0x7f) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

const varintSize = (value: number) => writeVarint(Buffer.allocUnsafe(5), 0, value);

/**
 * A v2 record batch (61-byte header, records without key or headers) in one buffer. Of the
 * header only the CRC is written here: the other fixed fields are a few stores each.
 */
function recordBatch(values: Buffer[]): Buffer {
  let size = 61;
  for (const v of values) size += 5 + 12 + 5 + v.length;
  const buf = Buffer.allocUnsafe(size);
  let at = 61;
  values.forEach((v, i) => {
    const body = 1 + 1 + varintSize(i) + 1 + varintSize(v.length) + v.length + 1;
    at = writeVarint(buf, at, body);
    buf[at++] = 0; // attributes
    at = writeVarint(buf, at, 0); // timestamp delta
    at = writeVarint(buf, at, i); // offset delta
    at = writeVarint(buf, at, -1); // no key
    at = writeVarint(buf, at, v.length);
    at += v.copy(buf, at);
    at = writeVarint(buf, at, 0); // no headers
  });
  buf.writeUInt32BE(crc32C(buf.subarray(21, at)) >>> 0, 17);
  return buf.subarray(0, at);
}

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

function oneBufferMicros(): number {
  const values = Array.from({ length: RECORDS }, () => BODY);
  const started = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) for (let p = 0; p < PARTITIONS; p++) recordBatch(values);
  return Number(process.hrtime.bigint() - started) / 1e3 / (REQUESTS * PARTITIONS * RECORDS);
}

async function main(): Promise<void> {
  const load = loadAverage()[0];
  const rounds: Record<string, number>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round: Record<string, number> = {};
    for (const [name, shape] of Object.entries(shapes)) round[name] = await kafkajsMicros(shape);
    round['one buffer, kafkajs CRC32C'] = oneBufferMicros();
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
