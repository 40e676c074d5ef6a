// Faults of a Kafka topic's Kafka, on a private Kafka this file starts and stops itself (the
// shared one is never touched): Kafka stopped while producers publish (fail fast, readiness,
// recovery without a broker restart, nothing acked lost); a publish whose outcome is unknown
// (Kafka frozen mid-request) followed by another, which must be stored at the offset returned;
// and messages near maxMessageBytes on several partitions of one Kafka leader, none starving.
import { status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { readErrorInfo } from '../../../common/errors';
import { uniqueName } from '../env';
import { waitFor } from '../wait';
import {
  api,
  body,
  brokerOptions,
  dropTestDatabases,
  healthStatus,
  runBroker,
  testDatabase,
} from './helpers';
import type { Running } from './helpers';
import { PrivateKafka } from './private-kafka';

// One private Kafka for the file: its start (30-60 s) and one restart dominate the run.
jest.setTimeout(240_000);

let kafka: PrivateKafka;
let running: Running | undefined;
beforeAll(async () => {
  kafka = await PrivateKafka.start();
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
});
afterAll(async () => {
  await kafka?.destroy();
  await dropTestDatabases();
});

async function kafkaBroker(topic: string, partitions: number): Promise<ReturnType<typeof api>> {
  running = await runBroker(
    brokerOptions(testDatabase('kfault'), [{ name: topic, partitions, storage: 'kafka' }], {
      kafka: { bootstrapServers: kafka.bootstrapServers },
    }),
  );
  return api(running.clients);
}

const reasonOf = (err: unknown) =>
  readErrorInfo(err as ServiceError)?.reason ?? `code ${(err as ServiceError).code}`;

const serving = (want: string) =>
  waitFor(
    `readiness ${want}`,
    async () => ((await healthStatus(running!.broker.address)) === want ? true : undefined),
    { timeoutMs: 90_000, intervalMs: 100 },
  );

/** Every message of a partition from offset 1, by a group of its own: offset -> body. */
async function readAll(call: ReturnType<typeof api>, topic: string, partition: number, end: number) {
  const group = uniqueName('audit');
  const seen = new Map<number, string>();
  await waitFor(
    `${topic}/${partition} read to ${end}`,
    async () => {
      const r = await call.pull({ group, topic, partition, maxMessages: 1000, maxWaitMs: 500 });
      for (const m of r.messages) seen.set(Number(m.offset), m.body.toString());
      if (r.messages.length > 0)
        await call.ack({ group, topic, partition, offsets: r.messages.map((m) => m.offset) });
      return [...seen.keys()].filter((o) => o <= end).length >= end ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 10 },
  );
  return seen;
}

test('Kafka stopped while publishing: fail fast, not ready, recover without a restart, nothing acked lost', async () => {
  const topic = uniqueName('kstop');
  const call = await kafkaBroker(topic, 2);
  const acked: { partition: number; offset: number; text: string }[] = [];
  const failures: { reason: string; ms: number }[] = [];
  let running = true;
  let seq = 0;
  const loops = [0, 1, 2, 3].map(async () => {
    while (running) {
      const i = seq++;
      const partition = i % 2;
      const text = `m-${i}`;
      const started = Date.now();
      try {
        const res = await call.publish({ topic, partition, messages: [body(text)] });
        acked.push({ partition, offset: Number(res.results[0].offset), text });
      } catch (err) {
        failures.push({ reason: reasonOf(err), ms: Date.now() - started });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  const atLeast = (n: () => number, what: string) =>
    waitFor(what, () => Promise.resolve(n() ? true : undefined), { timeoutMs: 90_000, intervalMs: 20 });
  try {
    await atLeast(() => Number(acked.length >= 100), '100 acked publishes');
    await kafka.stop();
    await serving('NOT_SERVING');
    await atLeast(() => Number(failures.length >= 10), '10 failed publishes');
    const ackedWhileDown = acked.length;
    await kafka.restart();
    await serving('SERVING');
    await atLeast(() => Number(acked.length >= ackedWhileDown + 100), '100 more acked publishes');
  } finally {
    running = false;
    await Promise.all(loops);
  }
  // Every failure said what it was, and none waited long: the publish timeout is 1.5 s.
  expect(new Set(failures.map((f) => f.reason))).toEqual(new Set(['STORAGE_UNAVAILABLE']));
  expect(Math.max(...failures.map((f) => f.ms))).toBeLessThan(4_000);
  // Every acked publish is stored at its offset, once per offset.
  for (const partition of [0, 1]) {
    const mine = acked.filter((a) => a.partition === partition);
    expect(new Set(mine.map((a) => a.offset)).size).toBe(mine.length);
    const seen = await readAll(call, topic, partition, Math.max(...mine.map((a) => a.offset)));
    const lost = mine.filter((a) => seen.get(a.offset) !== a.text);
    expect(lost).toEqual([]);
  }
});

test('a publish whose outcome is unknown, then another: the second is stored at the offset returned', async () => {
  const topic = uniqueName('kunknown');
  const call = await kafkaBroker(topic, 1);
  expect((await call.publish({ topic, partition: 0, messages: [body('before-0')] })).results[0].offset).toBe(
    1,
  );
  // Kafka frozen: the request reaches its socket but no answer comes; the publish times out.
  kafka.pause();
  let frozen: unknown;
  const started = Date.now();
  try {
    await call.publish({ topic, partition: 0, messages: [body('unknown-1')] });
  } catch (err) {
    frozen = err;
  } finally {
    kafka.resume();
  }
  expect(frozen).toBeDefined();
  expect((frozen as ServiceError).code).toBe(status.UNAVAILABLE);
  expect(reasonOf(frozen)).toBe('STORAGE_UNAVAILABLE');
  expect(Date.now() - started).toBeLessThan(4_000);
  await serving('SERVING');
  // The same size as the unknown one: kafkajs' rolled-back sequence would make Kafka take it for
  // a duplicate, acknowledge it at the old offset and store nothing.
  const second = await waitFor('a publish after Kafka resumed', async () =>
    call.publish({ topic, partition: 0, messages: [body('second-2')] }).catch(() => undefined),
  );
  const offset = Number(second.results[0].offset);
  const seen = await readAll(call, topic, 0, offset);
  expect(seen.get(offset)).toBe('second-2');
  expect(seen.get(1)).toBe('before-0');
  // The unknown one is stored at most once (here: once, Kafka took it when it woke up).
  expect([...seen.values()].filter((b) => b === 'unknown-1').length).toBeLessThanOrEqual(1);
  expect([...seen.values()].filter((b) => b === 'second-2')).toHaveLength(1);
});

test('messages near maxMessageBytes on several partitions of one Kafka leader: none starves', async () => {
  const topic = uniqueName('kbig');
  const call = await kafkaBroker(topic, 3);
  // Near 1 MiB each (the default maxMessageBytes, and a partition's share of a fetch): a record
  // batch of several is larger than the share, and Kafka returns such a batch only for the first
  // partition of a fetch that has data.
  const big = (tag: string) => ({ body: Buffer.concat([Buffer.from(tag), Buffer.alloc(1_000_000, 'x')]) });
  const batch = (partition: number, i: number) =>
    call.publish({
      topic,
      partition,
      messages: [0, 1, 2].map((j) => big(`p${partition}-${i * 3 + j}`)),
    });
  let busy = true;
  // Partition 0 always has a backlog of such batches.
  // (Their publishes may time out on a loaded machine; they are only the load.)
  let stored = 0;
  const loops = [0, 1].map(async () => {
    for (let i = 0; busy; i++) if (await batch(0, i).catch(() => undefined)) stored++;
  });
  try {
    await waitFor('partition 0 under way', () => Promise.resolve(stored >= 4 ? true : undefined), {
      intervalMs: 10,
    });
    // Waiting pulls on partitions 1 and 2: what wakes them is their leader's long poll, the same
    // fetch that carries partition 0's stream.
    const delivered = [1, 2].map(async (partition) => {
      const group = uniqueName('g');
      const got: string[] = [];
      await waitFor(
        `partition ${partition} delivered while partition 0 is busy`,
        async () => {
          const r = await call.pull({ group, topic, partition, maxMessages: 1, maxWaitMs: 1000 });
          got.push(...r.messages.map((m) => m.body.subarray(0, 4).toString()));
          if (r.messages.length > 0)
            await call.ack({ group, topic, partition, offsets: r.messages.map((m) => m.offset) });
          return got.length >= 3 ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 10 },
      );
      return got;
    });
    for (const partition of [1, 2]) await batch(partition, 0);
    expect(await Promise.all(delivered)).toEqual([1, 2].map((p) => [0, 1, 2].map((i) => `p${p}-${i}`)));
  } finally {
    busy = false;
    await Promise.all(loops);
  }
});
