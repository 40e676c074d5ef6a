// The encoding of Subscribe's deliveries alone (a script, not a test): the same taken messages
// (1 KiB bodies, batches of 500 of one partition, as a drain's responses carry them) encoded
// two ways in alternating rounds: through toDelivery's Delivery__Input objects (a response
// forwarded from another broker takes this way; a broker's own deliveries did until session
// 11) and straight from the stored messages (StoredDeliveries). Reports CPU µs (process.cpuUsage)
// and bytes allocated (v8.GCProfiler) per message, and checks both give the same bytes.
//
//   npm run bench:delivery-encode
// Environment: BENCH_ROUNDS (6), BENCH_MESSAGES per round (500000).
import { GCProfiler } from 'node:v8';
import { brokerServiceDefinition, StoredDeliveries, toDelivery } from '../broker/server/delivery-encoding';
import type { Delivered } from '../broker/delivery/group-cursor';
import { allocatedBytes, loadAverage } from './proc';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 500_000);
const BATCH = 500;
const ref = { topic: 'bench-delivery-encode', partition: 11 };
const serialize = brokerServiceDefinition().Subscribe.responseSerialize;

const batches: Delivered[][] = Array.from({ length: MESSAGES / BATCH }, (_, b) =>
  Array.from({ length: BATCH }, (_, i) => ({
    message: {
      offset: 1_000_000 + b * BATCH + i,
      publishedAt: 1_764_000_000_000 + i,
      key: '',
      refKey: '',
      tags: [],
      properties: {},
      priority: false,
      body: Buffer.alloc(1024, 'x'),
    },
    attempt: 1,
  })),
);

const ways: Record<string, (ds: Delivered[]) => Buffer> = {
  objects: (ds) => serialize({ deliveries: ds.map((d) => toDelivery(ref, d)) }),
  stored: (ds) => serialize(new StoredDeliveries(ref, ds, 'deliveries')),
};

function round(encode: (ds: Delivered[]) => Buffer): { us: number; bytes: number } {
  const gc = new GCProfiler();
  gc.start();
  const startUsed = process.memoryUsage().heapUsed;
  const cpu = process.cpuUsage();
  let size = 0;
  for (const ds of batches) size += encode(ds).length;
  const used = process.cpuUsage(cpu);
  const endUsed = process.memoryUsage().heapUsed;
  const stats = gc.stop();
  if (size === 0) throw new Error('nothing encoded');
  return {
    us: (used.user + used.system) / MESSAGES,
    bytes: allocatedBytes(stats.statistics, startUsed, endUsed) / MESSAGES,
  };
}

function main(): void {
  for (const ds of batches.slice(0, 3))
    if (!ways.objects(ds).equals(ways.stored(ds))) throw new Error('the two ways differ');
  process.stdout.write(`load average ${loadAverage().join(' ')}\n`);
  const results: Record<string, { us: number; bytes: number }[]> = { objects: [], stored: [] };
  for (let r = 0; r < ROUNDS; r++)
    for (const [name, encode] of r % 2 === 0 ? Object.entries(ways) : Object.entries(ways).reverse())
      results[name].push(round(encode));
  for (const [name, rs] of Object.entries(results)) {
    // The first round of each warms the JIT.
    const kept = rs.slice(1);
    const us = kept.map((x) => x.us.toFixed(2)).join(' ');
    const bytes = kept.map((x) => Math.round(x.bytes)).join(' ');
    process.stdout.write(`${name.padEnd(8)} µs/msg ${us}   bytes allocated/msg ${bytes}\n`);
  }
  process.stdout.write(`load average ${loadAverage().join(' ')}\n`);
}

main();
