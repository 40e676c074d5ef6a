// Takeover. kill -9 one of three brokers while producers publish through every broker: the
// others serve its partitions within the broker lease plus 5 s, every acked publish is stored
// exactly once, and the write trace shows one writer per partition at a time. And a stale
// owner (a paused broker whose lease expired and was taken over) has its write refused by the
// storage fence when it reaches MariaDB late: it collides on the primary key with the new owner's.
import * as grpc from '@grpc/grpc-js';
import { FORWARDED_BY } from '../../../broker/server/forwarding';
import { readErrorInfo } from '../../../common/errors';
import type { PublishRequest__Input } from '../../../proto/gen/herald/v1/PublishRequest';
import type { PublishResponse } from '../../../proto/gen/herald/v1/PublishResponse';
import type { RowDataPacket } from 'mysql2/promise';
import { body, mysqlProxy, sql, unary, until } from '../broker/helpers';
import type { TcpProxy } from '../broker/helpers';
import { waitFor } from '../wait';
import { partitionHistoryProblems, startLeaseCluster } from './helpers';
import type { Acked, LeaseBroker, LeaseCluster } from './helpers';

jest.setTimeout(240_000);

const TRACE = { HERALD_DEBUG: 'broker.publish' };
const clusters: LeaseCluster[] = [];
const proxies: TcpProxy[] = [];

/** Running producer loops, stopped even when a test fails half-way. */
const loads = new Set<{ stop(): Promise<void> }>();

afterAll(async () => {
  for (const l of loads) await l.stop();
  for (const c of clusters.splice(0)) await c.stop();
  for (const p of proxies) await p.stop();
});

async function stopCluster(c: LeaseCluster): Promise<void> {
  clusters.splice(clusters.indexOf(c), 1);
  await c.stop();
}

function publish(
  b: LeaseBroker,
  req: PublishRequest__Input,
  md = new grpc.Metadata(),
): Promise<PublishResponse> {
  const c = b.clients.broker;
  return unary(
    (r: PublishRequest__Input, cb) => c.Publish(r, md, { deadline: Date.now() + 30_000 }, cb),
    req,
  );
}

/** Producers that publish one message per call, call i to partitionOf(i), through `targets()`. */
function producers(
  n: number,
  partitionOf: (i: number) => number,
  targets: () => LeaseBroker[],
  md?: () => grpc.Metadata,
) {
  const acked: Acked[] = [];
  const errors = new Map<string, number>();
  const fenced: string[] = [];
  /** Per partition, the last acked publish: when it was sent and when its ack came. */
  const lastOk = new Map<number, { sent: number; acked: number }>();
  let running = true;
  let seq = 0;
  const loops = Array.from({ length: n }, async (_, w) => {
    while (running) {
      const i = seq++;
      const partition = partitionOf(i);
      const list = targets();
      const target = list[i % list.length];
      const text = `w${w}-${i}`;
      const sent = Date.now();
      try {
        const res = await publish(target, { topic: 'orders', partition, messages: [body(text)] }, md?.());
        acked.push({ partition, offset: Number(res.results[0].offset), body: text });
        lastOk.set(partition, { sent, acked: Date.now() });
      } catch (err) {
        const reason =
          readErrorInfo(err as grpc.ServiceError)?.reason ?? `code ${(err as grpc.ServiceError).code}`;
        errors.set(reason, (errors.get(reason) ?? 0) + 1);
        if (reason === 'PARTITION_FENCED') fenced.push(text);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });
  const load = {
    acked,
    errors,
    fenced,
    lastOk,
    stop: async () => {
      running = false;
      loads.delete(load);
      await Promise.all(loops);
    },
  };
  loads.add(load);
  return load;
}

test('kill -9 a broker: the others serve its partitions within the lease + 5 s; nothing acked is lost', async () => {
  const cluster = await startLeaseCluster({
    prefix: 'kill',
    brokers: 3,
    topics: [{ name: 'orders', partitions: 16 }],
    brokerEnv: TRACE,
  });
  clusters.push(cluster);
  const ids = cluster.brokers.map((b) => b.id);
  const before = await cluster.waitBalanced('orders', ids);
  const victim = cluster.brokers[2];
  const orphaned = before.filter((r) => r.brokerId === victim.id).map((r) => r.partition);
  expect(orphaned.length).toBeGreaterThanOrEqual(5);

  let killed = false;
  const load = producers(
    8,
    (i) => i % 16,
    () => (killed ? cluster.brokers.slice(0, 2) : cluster.brokers),
  );
  await waitFor('300 acked publishes', () => Promise.resolve(load.acked.length >= 300 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
  });
  victim.process.child.kill('SIGKILL');
  await victim.process.exited;
  killed = true;
  const t0 = Date.now();
  // Served again: an acked publish on every orphaned partition, sent after the victim died (so
  // to a survivor: the victim may still have acked what it got before the kill landed).
  const servedAt = await waitFor(
    "the victim's partitions served again",
    () => {
      const last = orphaned.map((p) => load.lastOk.get(p));
      return Promise.resolve(
        last.every((l) => l !== undefined && l.sent > t0)
          ? Math.max(...last.map((l) => l!.acked))
          : undefined,
      );
    },
    { timeoutMs: cluster.brokerLeaseMs + 20_000, intervalMs: 20 },
  );
  const takeoverMs = servedAt - t0;
  const ackedAtKill = load.acked.length;
  await waitFor('300 more acked publishes', () =>
    Promise.resolve(load.acked.length >= ackedAtKill + 300 ? true : undefined),
  );
  await load.stop();
  process.stdout.write(
    `kill -9 takeover: ${takeoverMs} ms for ${orphaned.length} partitions (lease ${cluster.brokerLeaseMs} ms); ` +
      `${load.acked.length} acked, errors ${JSON.stringify(Object.fromEntries(load.errors))}\n`,
  );
  expect(takeoverMs).toBeLessThanOrEqual(cluster.brokerLeaseMs + 5_000);
  const after = await cluster.routes('orders');
  expect(after.every((r) => r.brokerId === 'b0' || r.brokerId === 'b1')).toBe(true);
  for (const p of orphaned) expect(Number(after[p].epoch)).toBeGreaterThan(Number(before[p].epoch));
  expect(
    await partitionHistoryProblems(cluster.ns.database, 'orders', 16, cluster.brokers, load.acked),
  ).toEqual([]);
  await stopCluster(cluster);
});

test('a stale owner (paused past its lease) is fenced: its write, held on the way to MariaDB, collides and stores nothing', async () => {
  const cluster = await startLeaseCluster({
    prefix: 'stale',
    brokers: 1,
    topics: [{ name: 'orders', partitions: 4 }],
    brokerEnv: TRACE,
  });
  clusters.push(cluster);
  // b1 reaches MariaDB through a proxy the test can hold: a commit then leaves b1 but waits on
  // the way to the store. Its query timeout outlasts the pause, so b1 waits for the store's
  // answer instead of giving up when it resumes.
  const { proxy, url } = await mysqlProxy(cluster.ns.database);
  proxies.push(proxy);
  const b1 = await cluster.addBroker('b1', { mysql: { url, queryTimeoutMs: 120_000 } });
  const [b0] = cluster.brokers;
  const before = await cluster.waitBalanced('orders', ['b0', 'b1']);
  const staleParts = before.filter((r) => r.brokerId === 'b1').map((r) => r.partition);
  expect(staleParts.length).toBeGreaterThan(0);
  const p = staleParts[0];

  // Producers write to b1 directly (marked forwarded, so b1 never passes them on).
  const direct = () => {
    const md = new grpc.Metadata();
    md.set(FORWARDED_BY, 'test');
    return md;
  };
  const load = producers(
    4,
    () => p,
    () => [b1],
    direct,
  );
  await until('acked publishes on b1', () => load.acked.length >= 4);
  // Hold b1's traffic to MariaDB until a commit of partition p is on its way, then pause b1.
  proxy.hold();
  await until(`a commit of orders/${p} held`, () => proxy.held().includes(`INSERT INTO \`m_orders_${p}\``));
  b1.process.child.kill('SIGSTOP');
  try {
    // b0 takes the partition over once b1's lease has expired at the meta-server, and writes:
    // from the end it reads, which lacks b1's held rows, so at the offsets b1's commit holds.
    await cluster.waitAssigned('orders', ['b0'], cluster.brokerLeaseMs + 20_000);
    let n = 0;
    const res = await waitFor(
      `b0 writes partition ${p}`,
      async () => {
        const text = `new-owner-${n++}`;
        try {
          const r = await publish(b0, { topic: 'orders', partition: p, messages: [body(text)] }, direct());
          return { offset: Number(r.results[0].offset), body: text };
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    load.acked.push({ partition: p, ...res });
  } finally {
    // The stale write reaches MariaDB after the new owner's; then b1 runs on and gets the answer.
    proxy.release();
    b1.process.child.kill('SIGCONT');
  }
  await waitFor(
    'a fenced publish',
    () => {
      if ((load.errors.get('PARTITION_FENCED') ?? 0) > 0) return Promise.resolve(true);
      throw new Error(
        `errors so far ${JSON.stringify(Object.fromEntries(load.errors))}, ${load.acked.length} acked`,
      );
    },
    { timeoutMs: 30_000 },
  );
  await load.stop();
  process.stdout.write(
    `stale owner: ${load.acked.length} acked, errors ${JSON.stringify(Object.fromEntries(load.errors))}\n`,
  );
  // The fenced publishes stored nothing.
  const leaked = await sql<RowDataPacket>(
    cluster.ns.database,
    `SELECT COUNT(*) AS n FROM \`m_orders_${p}\` WHERE body IN (?)`,
    [load.fenced.map((f) => Buffer.from(f))],
  );
  expect(Number(leaked[0].n)).toBe(0);
  expect(
    await partitionHistoryProblems(cluster.ns.database, 'orders', 4, cluster.brokers, load.acked),
  ).toEqual([]);
  await stopCluster(cluster);
});
