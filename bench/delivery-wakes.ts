// The delivery path alone, as the e2e latency phase drives it (a script, not a test): one
// Delivery on the memory store, a Subscribe per partition whose consumer acks each partition's
// deliveries after ACK_LINGER_MS (as the SDK does), and a writer appending one message per
// commit at RATE msg/s across the partitions. No gRPC, no MySQL: what it reports is the
// delivery path's own cost per delivered message, which the machine's load moves far less than
// it moves latencies:
//   CPU µs (process.cpuUsage), bytes allocated (v8.GCProfiler: the heap's growth between
//   collections), takes and empty takes per message.
//
//   node -r ts-node/register/transpile-only bench/delivery-wakes.ts
// Environment: BENCH_RATE (1000), BENCH_SECONDS (10), BENCH_PARTITIONS (16), BENCH_ACK_LINGER_MS (5).
import { GCProfiler } from 'node:v8';
import { Delivery } from '../broker/delivery/delivery';
import { GroupCursor } from '../broker/delivery/group-cursor';
import type { Delivered } from '../broker/delivery/group-cursor';
import { PartitionLog } from '../broker/delivery/partition-log';
import { Signal } from '../broker/delivery/signal';
import { DEFAULTS } from '../common/broker-options';
import { createMemoryStore } from '../storage/memory/memory-store';
import type { PartitionRef, StoredMessage } from '../storage/storage';
import { allocatedBytes, loadAverage } from './proc';
import { standaloneDeliveryContext } from '../test/unit/broker/standalone-delivery';

const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 16);
const ACK_LINGER_MS = Number(process.env.BENCH_ACK_LINGER_MS ?? 5);
const BODY = Buffer.alloc(1024, 7);

/** Takes, and takes that found nothing, counted by wrapping GroupCursor.take. */
function countTakes(): { takes: number; empty: number } {
  const counts = { takes: 0, empty: 0 };
  const proto = GroupCursor.prototype;
  const take = Object.getOwnPropertyDescriptor(proto, 'take')!.value as GroupCursor['take'];
  proto.take = async function (this: GroupCursor, max: number, ackTimeoutMs: number) {
    const taken = await take.call(this, max, ackTimeoutMs);
    counts.takes++;
    if (taken.length === 0) counts.empty++;
    return taken;
  };
  return counts;
}

async function main(): Promise<void> {
  const counts = countTakes();
  const topic = 'wakes';
  const refs: PartitionRef[] = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition }));
  const logs = new Map(
    refs.map((r) => [
      `${topic}/${r.partition}`,
      new PartitionLog(r, 0, { maxMessages: 10_000, maxBytes: 1 << 26 }),
    ]),
  );
  const store = createMemoryStore();
  const delivery = new Delivery(
    standaloneDeliveryContext({ name: topic, partitions: PARTITIONS, maxMessageBytes: 1 << 20 }, logs, store),
    DEFAULTS.delivery,
  );
  const consumer = { id: '', epoch: 0 };
  const stop = new AbortController();
  let delivered = 0;
  const subscriptions = refs.map((ref) => {
    const credits = { available: 2000, signal: new Signal() };
    let acks: number[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      const offsets = acks;
      acks = [];
      void delivery.ack('g', topic, ref.partition, offsets, consumer);
    };
    const sink = {
      send: (ds: Delivered[]) => {
        delivered += ds.length;
        credits.available += ds.length;
        for (const d of ds) acks.push(d.message.offset);
        timer ??= setTimeout(flush, ACK_LINGER_MS);
        return Promise.resolve();
      },
    };
    const start = { group: 'g', topic, partition: ref.partition, ackTimeoutMs: 0, consumer };
    return delivery.subscribe(start, credits, sink, stop.signal);
  });
  // Warm-up: cursors open, code is optimised; not measured.
  const next = refs.map(() => 1);
  const write = (n: number) => {
    for (let i = 0; i < n; i++) {
      const p = (written + i) % PARTITIONS;
      const m: StoredMessage = {
        offset: next[p]++,
        publishedAt: Date.now(),
        key: '',
        refKey: '',
        tags: [],
        properties: {},
        body: BODY,
        priority: false,
      };
      logs.get(`${topic}/${p}`)!.appended([m]);
    }
    written += n;
  };
  let written = 0;
  const run = async (seconds: number) => {
    const started = performance.now();
    const first = written;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const due = Math.min(RATE * seconds, Math.floor(((performance.now() - started) / 1000) * RATE));
        write(first + due - written);
        if (due >= RATE * seconds) {
          clearInterval(tick);
          resolve();
        }
      }, 1);
    });
    while (delivered < written) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 2 * ACK_LINGER_MS));
  };
  await run(2);
  const base = { delivered, takes: counts.takes, empty: counts.empty };
  const profiler = new GCProfiler();
  const startUsed = process.memoryUsage().heapUsed;
  profiler.start();
  const cpu = process.cpuUsage();
  await run(SECONDS);
  const used = process.cpuUsage(cpu);
  const endUsed = process.memoryUsage().heapUsed;
  const gc = profiler.stop();
  const n = delivered - base.delivered;
  stop.abort();
  await Promise.all(subscriptions);
  await delivery.stop();
  const allocated = allocatedBytes(gc.statistics, startUsed, endUsed);
  const out = {
    rate: RATE,
    seconds: SECONDS,
    partitions: PARTITIONS,
    delivered: n,
    'CPU µs per message': (used.user + used.system) / n,
    'bytes allocated per message': allocated / n,
    'allocation MB/s': allocated / 1e6 / SECONDS,
    collections: gc.statistics.length,
    'takes per message': (counts.takes - base.takes) / n,
    'empty takes per message': (counts.empty - base.empty) / n,
    load: loadAverage(),
  };
  console.log(JSON.stringify(out));
}

main()
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
