// The meta-server's leases against a running operator: brokers (lease clients with the same
// code a broker uses) share partitions within one; a broker that stops renewing loses its
// partitions only after they expire and they move within the lease duration plus 5 s; a
// graceful leave hands over at once; consumers join and leave and the group rebalances within
// the consumer lease. A monitor samples every holder's own view throughout: no partition is
// ever held by two at once. grpcurl, with reflection alone, reads the routes.
import { runTool } from '../exec';
import { waitFor } from '../wait';
import type { BrokerLeaseClient, ConsumerLeaseClient } from '../../../common/meta-client';
import { SHORT_LEASES, startOperatorFixture } from './fixture';
import type { OperatorFixture } from './fixture';
import { fakeBroker, fakeConsumer, getGroup, kubectlApply, waitReady } from './helpers';
import type { OperatorProcess, TestNamespace } from './helpers';

// These tests wait through several lease periods: longer than the integration default (120 s).
jest.setTimeout(180_000);

const BROKER_LEASE_MS = SHORT_LEASES.brokerSeconds * 1000;
const CONSUMER_LEASE_MS = SHORT_LEASES.consumerSeconds * 1000;

let fixture: OperatorFixture | undefined;
let ns: TestNamespace;
let operator: OperatorProcess;
const brokers = new Map<string, BrokerLeaseClient>();
const consumers = new Map<string, ConsumerLeaseClient>();
const violations: string[] = [];
let monitor: NodeJS.Timeout | undefined;

/** Samples every holder's own belief every 10 ms and records any partition held twice. */
function startMonitor(): void {
  monitor = setInterval(() => {
    const seen = new Map<string, string>();
    const check = (key: string, holder: string) => {
      const other = seen.get(key);
      if (other !== undefined) violations.push(`${key} held by ${other} and ${holder} at ${Date.now()}`);
      seen.set(key, holder);
    };
    for (const [id, b] of brokers) for (const k of b.owned()) check(`broker:${k}`, id);
    for (const [id, c] of consumers) for (const p of c.partitions()) check(`group:${p}`, id);
  }, 10);
}

const counts = (ids: string[]) => ids.map((id) => brokers.get(id)?.owned().length ?? 0);
const consumerCounts = (ids: string[]) => ids.map((id) => consumers.get(id)?.partitions().length ?? 0);
const balanced = (n: number[], total: number) =>
  n.reduce((a, b) => a + b, 0) === total && Math.max(...n) - Math.min(...n) <= 1;

beforeAll(async () => {
  fixture = await startOperatorFixture({ prefix: 'leases', topics: [{ name: 'orders', partitions: 16 }] });
  ns = fixture.ns;
  operator = fixture.operators[0]!;
  for (const id of ['b0', 'b1', 'b2']) brokers.set(id, fakeBroker([operator.metaAddress], ns.name, id));
  startMonitor();
});

afterAll(async () => {
  clearInterval(monitor);
  await Promise.all([...brokers.values()].map((b) => b.stop({ release: false })));
  await Promise.all([...consumers.values()].map((c) => c.stop({ leave: false })));
  await fixture?.stop();
});

afterEach(() => {
  expect(violations).toEqual([]);
});

test('three brokers share 16 partitions within one', async () => {
  await waitReady(ns.name, 'orders');
  const n = await waitFor('a balanced spread', () => {
    const c = counts(['b0', 'b1', 'b2']);
    return Promise.resolve(balanced(c, 16) ? c : undefined);
  });
  expect(n.sort()).toEqual([5, 5, 6]);
});

test('grpcurl lists the Meta service through reflection and reads the routes', async () => {
  const list = await runTool('grpcurl', ['-plaintext', operator.metaAddress, 'list']);
  expect(list.stdout).toContain('herald.v1.Meta');
  expect(list.stdout).toContain('grpc.health.v1.Health');
  const routes = await runTool('grpcurl', [
    '-plaintext',
    '-d',
    JSON.stringify({ namespace: ns.name, topic: 'orders' }),
    operator.metaAddress,
    'herald.v1.Meta/GetRoutes',
  ]);
  expect(routes.code).toBe(0);
  const body = JSON.parse(routes.stdout) as {
    routes: { brokerId: string; address: string; epoch: string }[];
  };
  expect(body.routes).toHaveLength(16);
  for (const r of body.routes) expect(r.address).toBe(`${r.brokerId}.test:7600`);
  const health = await runTool('grpcurl', [
    '-plaintext',
    '-d',
    '{"service":"herald.v1.Meta"}',
    operator.metaAddress,
    'grpc.health.v1.Health/Check',
  ]);
  expect(JSON.parse(health.stdout)).toEqual({ status: 'SERVING' });
});

test('a broker that stops renewing loses its partitions after expiry; they move within the lease + 5 s', async () => {
  const victim = brokers.get('b2');
  const held = victim?.owned() ?? [];
  expect(held.length).toBeGreaterThanOrEqual(5);
  const stoppedAt = Date.now();
  await victim?.stop({ release: false }); // as kill -9: no release, it just goes silent
  const movedAt = await waitFor(
    'b0 and b1 to serve all 16',
    () => Promise.resolve(balanced(counts(['b0', 'b1']), 16) ? Date.now() : undefined),
    { timeoutMs: BROKER_LEASE_MS + 15_000, intervalMs: 20 },
  );
  brokers.delete('b2');
  // They cannot move before the meta-server's lease ended (duration after b2's last renewal).
  expect(movedAt - stoppedAt).toBeLessThanOrEqual(BROKER_LEASE_MS + 5_000);
});

test('a joining broker takes its share; a leaving one hands over at once', async () => {
  brokers.set('b3', fakeBroker([operator.metaAddress], ns.name, 'b3'));
  await waitFor(
    'b0, b1, b3 balanced',
    () => Promise.resolve(balanced(counts(['b0', 'b1', 'b3']), 16) ? true : undefined),
    {
      timeoutMs: 30_000,
      intervalMs: 20,
    },
  );
  const leaving = brokers.get('b3');
  const start = Date.now();
  await leaving?.stop({ release: true });
  brokers.delete('b3');
  await waitFor(
    'b0 and b1 serve all again',
    () => Promise.resolve(balanced(counts(['b0', 'b1']), 16) ? true : undefined),
    {
      timeoutMs: 30_000,
      intervalMs: 20,
    },
  );
  // Far faster than expiry: the next renewal round of the others picks them up.
  expect(Date.now() - start).toBeLessThan(BROKER_LEASE_MS);
});

test('consumers join and leave; the group rebalances within the consumer lease', async () => {
  await kubectlApply(
    ns.name,
    `apiVersion: herald.dev/v1alpha1\nkind: ConsumerGroup\nmetadata: {name: billing}\nspec: {topic: orders}\n`,
  );
  const addresses = [operator.metaAddress];
  await waitFor('the group is known to the meta-server', async () => {
    const probe = fakeConsumer(addresses, ns.name, 'billing', 'probe');
    try {
      await probe.sync();
      return true;
    } catch {
      return undefined;
    } finally {
      await probe.stop({ leave: true }).catch(() => undefined);
    }
  });
  for (const id of ['c0', 'c1']) consumers.set(id, fakeConsumer(addresses, ns.name, 'billing', id));
  await waitFor(
    'c0 and c1 share 16',
    () => Promise.resolve(balanced(consumerCounts(['c0', 'c1']), 16) ? true : undefined),
    {
      timeoutMs: 30_000,
      intervalMs: 20,
    },
  );

  let start = Date.now();
  consumers.set('c2', fakeConsumer(addresses, ns.name, 'billing', 'c2'));
  await waitFor(
    'c0, c1 and c2 share 16',
    () => Promise.resolve(balanced(consumerCounts(['c0', 'c1', 'c2']), 16) ? true : undefined),
    {
      timeoutMs: CONSUMER_LEASE_MS + 10_000,
      intervalMs: 20,
    },
  );
  expect(Date.now() - start).toBeLessThanOrEqual(CONSUMER_LEASE_MS);

  start = Date.now();
  await consumers.get('c1')?.stop({ leave: true });
  consumers.delete('c1');
  await waitFor(
    'c0 and c2 share 16',
    () => Promise.resolve(balanced(consumerCounts(['c0', 'c2']), 16) ? true : undefined),
    {
      timeoutMs: CONSUMER_LEASE_MS + 10_000,
      intervalMs: 20,
    },
  );
  expect(Date.now() - start).toBeLessThanOrEqual(CONSUMER_LEASE_MS);

  // The group's status shows the checkpointed membership and assignment.
  const group = await waitFor('the group status', async () => {
    const g = await getGroup(ns.name, 'billing');
    const holders = new Set(g.status?.assignment?.map((a) => a.consumer));
    return g.status?.activeConsumers === 2 && g.status.assignment?.length === 16 && holders.size === 2
      ? g
      : undefined;
  });
  expect(group.status?.consumers?.map((c) => c.id)).toEqual(['c0', 'c2']);
});
