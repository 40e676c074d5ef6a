// A Kafka topic in lease mode (operator, three broker processes, the environment's Kafka):
// kill -9 one broker while producers publish through every broker: the others take its
// partitions, every acked publish is delivered at its offset, and no partition is served by two
// brokers at once (each broker's own "serving"/"stopped serving" log). Then partitions are added
// to the Topic: a publish to a new partition is stored, or refused with a reason, never lost.
import type { ServiceError } from '@grpc/grpc-js';
import { readErrorInfo } from '../../../common/errors';
import { api, body } from '../broker/helpers';
import { uniqueName } from '../env';
import { kubectlApply, topicManifest } from '../operator/helpers';
import { waitFor } from '../wait';
import { startLeaseCluster } from './helpers';
import type { Acked, LeaseBroker, LeaseCluster } from './helpers';

jest.setTimeout(240_000);

const PARTITIONS = 8;
const topic = uniqueName('kfail');
let cluster: LeaseCluster;

beforeAll(async () => {
  cluster = await startLeaseCluster({
    prefix: 'kfail',
    brokers: 3,
    kafka: true,
    topics: [{ name: topic, partitions: PARTITIONS, extra: '  storage: kafka\n  deletionPolicy: delete' }],
    groups: [{ name: 'audit', topic }],
  });
});
afterAll(() => cluster?.stop());

const reasonOf = (err: unknown) =>
  readErrorInfo(err as ServiceError)?.reason ?? `code ${(err as ServiceError).code}`;

/** Each broker's serving intervals per partition, from its log ("serving partition" lines). */
function servingIntervals(b: LeaseBroker, endOf: number): Map<number, [number, number][]> {
  const out = new Map<number, [number, number][]>();
  const open = new Map<number, number>();
  for (const line of b.process.logs) {
    let l: { msg?: string; topic?: string; partition?: number; time?: string };
    try {
      l = JSON.parse(line) as typeof l;
    } catch {
      continue;
    }
    if (l.topic !== topic || l.partition === undefined || l.time === undefined) continue;
    const at = Date.parse(l.time);
    if (l.msg === 'serving partition') open.set(l.partition, at);
    if (l.msg === 'stopped serving partition' && open.has(l.partition)) {
      out.set(l.partition, [...(out.get(l.partition) ?? []), [open.get(l.partition)!, at]]);
      open.delete(l.partition);
    }
  }
  for (const [p, from] of open) out.set(p, [...(out.get(p) ?? []), [from, endOf]]);
  return out;
}

test('kill -9 a broker under load: the others take its partitions, every acked message is delivered', async () => {
  const ids = cluster.brokers.map((b) => b.id);
  const before = await cluster.waitBalanced(topic, ids);
  const victim = cluster.brokers[2];
  const orphaned = before.filter((r) => r.brokerId === victim.id).map((r) => r.partition);
  expect(orphaned.length).toBeGreaterThanOrEqual(2);

  let killed = false;
  let running = true;
  let seq = 0;
  const acked: Acked[] = [];
  const errors = new Map<string, number>();
  const lastOk = new Map<number, number>();
  const loops = Array.from({ length: 6 }, async () => {
    while (running) {
      const i = seq++;
      const partition = i % PARTITIONS;
      // Sent to a survivor: only such an ack shows the partition served again (the victim may
      // still ack what it got before the kill landed).
      const afterKill = killed;
      const targets = afterKill ? cluster.brokers.slice(0, 2) : cluster.brokers;
      const text = `m-${i}`;
      try {
        const res = await api(targets[i % targets.length].clients).publish({
          topic,
          partition,
          messages: [body(text)],
        });
        acked.push({ partition, offset: Number(res.results[0].offset), body: text });
        if (afterKill) lastOk.set(partition, Date.now());
      } catch (err) {
        errors.set(reasonOf(err), (errors.get(reasonOf(err)) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  const atLeast = (n: number, what: string, timeoutMs = 60_000) =>
    waitFor(what, () => Promise.resolve(acked.length >= n ? true : undefined), { timeoutMs, intervalMs: 20 });
  let killedAt = 0;
  try {
    await atLeast(150, '150 acked publishes');
    killedAt = Date.now();
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    killed = true;
    // Every partition, not only those the victim held in `before`: the operator may still have
    // moved one to it after that snapshot, and that one's lease also has to run out.
    await waitFor(
      'every partition served again',
      () =>
        Promise.resolve(
          Array.from({ length: PARTITIONS }, (_, p) => p).every((p) => (lastOk.get(p) ?? 0) > killedAt)
            ? true
            : undefined,
        ),
      { timeoutMs: cluster.brokerLeaseMs + 20_000, intervalMs: 20 },
    );
    await atLeast(acked.length + 150, '150 more acked publishes');
  } finally {
    running = false;
    await Promise.all(loops);
  }
  process.stdout.write(
    `kafka kill -9: ${acked.length} acked, errors ${JSON.stringify(Object.fromEntries(errors))}\n`,
  );
  const after = await cluster.routes(topic);
  expect(after.filter((r) => r.brokerId !== 'b0' && r.brokerId !== 'b1')).toEqual([]);

  // Never two brokers serving one partition: the victim's serving ended when it was killed.
  const end = Date.now();
  const intervals = cluster.brokers.map((b) => servingIntervals(b, b === victim ? killedAt : end));
  const overlaps: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const all = intervals.flatMap((m, i) => (m.get(p) ?? []).map(([a, b]) => ({ a, b, id: ids[i] })));
    all.sort((x, y) => x.a - y.a);
    for (let i = 1; i < all.length; i++)
      if (all[i].a < all[i - 1].b && all[i].id !== all[i - 1].id)
        overlaps.push(`${topic}/${p}: ${all[i - 1].id} until ${all[i - 1].b}, ${all[i].id} from ${all[i].a}`);
  }
  expect(overlaps).toEqual([]);

  // Every acked publish is delivered at its offset (read through a surviving broker).
  const reader = api(cluster.brokers[0].clients);
  const group = 'audit';
  const missing: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const mine = acked.filter((a) => a.partition === p);
    const end = Math.max(0, ...mine.map((a) => a.offset));
    const seen = new Map<number, string>();
    await waitFor(
      `${topic}/${p} read to ${end}`,
      async () => {
        const r = await reader.pull({ group, topic, partition: p, maxMessages: 1000, maxWaitMs: 500 });
        for (const m of r.messages) seen.set(Number(m.offset), m.body.toString());
        if (r.messages.length > 0)
          await reader.ack({ group, topic, partition: p, offsets: r.messages.map((m) => m.offset) });
        return [...seen.keys()].filter((o) => o <= end).length >= end ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 10 },
    );
    for (const a of mine) if (seen.get(a.offset) !== a.body) missing.push(`${a.body} at ${p}/${a.offset}`);
  }
  expect(missing).toEqual([]);
});

test('partitions added to the Topic: a publish to a new partition is stored or refused clearly', async () => {
  await kubectlApply(
    cluster.ns.name,
    topicManifest(topic, PARTITIONS + 2, '  storage: kafka\n  deletionPolicy: delete'),
  );
  const call = api(cluster.brokers[0].clients);
  const partition = PARTITIONS + 1;
  const refusals = new Set<string>();
  const res = await waitFor(
    'a publish to the new partition',
    () =>
      call.publish({ topic, partition, messages: [body('on-a-new-partition')] }).catch((err: unknown) => {
        refusals.add(reasonOf(err));
        return undefined;
      }),
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  // While the partition is being added, only reasons that say so, never a silent success.
  for (const r of refusals) expect(['PARTITION_OUT_OF_RANGE', 'NOT_PARTITION_OWNER']).toContain(r);
  const offset = Number(res.results[0].offset);
  expect(offset).toBe(1);
  const got = await waitFor('the message on the new partition', async () => {
    const r = await call.pull({ group: 'audit', topic, partition, maxMessages: 10, maxWaitMs: 1000 });
    return r.messages.length > 0 ? r.messages : undefined;
  });
  expect(got.map((m) => [Number(m.offset), m.body.toString()])).toEqual([[1, 'on-a-new-partition']]);
});
