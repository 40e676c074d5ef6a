// Broadcast groups against the real environment (apiserver, operator as meta-server, brokers as
// processes, MariaDB): every consumer reads every partition with offsets, retries and lag of its
// own; a consumer that comes back under its id resumes from its own offsets; one that leaves
// loses its offsets spec.broadcast.offsetRetentionSeconds after it was last seen.
import type { RowDataPacket } from 'mysql2/promise';
import { Admin, Consumer, Producer } from '../../../client';
import type { Delivery } from '../../../client';
import { api, failure, sql, testLogger } from '../broker/helpers';
import { getGroup, installCrds, kube, kubectlApply } from '../operator/helpers';
import { groupManifest } from '../operator/fixture';
import { runTool } from '../exec';
import { waitFor } from '../wait';
import { startLeaseCluster } from './helpers';
import type { LeaseCluster } from './helpers';

jest.setTimeout(300_000);

const RETENTION_SECONDS = 12;
const PARTITIONS = 3;

const GROUP = {
  name: 'fanout',
  topic: 'feed',
  spec: `mode: broadcast, startFrom: earliest, retry: {delaysSeconds: [1]}, broadcast: {offsetRetentionSeconds: ${RETENTION_SECONDS}}`,
};

let cluster: LeaseCluster;
const closers: { close(): unknown }[] = [];

afterAll(async () => {
  for (const c of closers.reverse()) await c.close();
  await cluster?.stop();
});

/** What one consumer received: message id -> delivery attempts seen. */
type Seen = Map<string, number[]>;

function consumer(id: string, seen: Seen, failOnce?: string): Consumer {
  const c = new Consumer({
    meta: cluster.operator.metaAddress,
    namespace: cluster.ns.name,
    group: 'fanout',
    consumerId: id,
    logger: testLogger,
  });
  closers.push(c);
  void c.run({
    eachMessage: (m: Delivery) => {
      seen.set(m.messageId, [...(seen.get(m.messageId) ?? []), m.deliveryAttempt]);
      if (m.body.toString() === failOnce && m.deliveryAttempt === 1) throw new Error('first attempt fails');
    },
  });
  return c;
}

/**
 * The apiserver and its CRDs are shared with other worktrees, whose tests install their own
 * (older) CRDs, which prune this branch's fields. Puts ours back when they are missing, and the
 * group with them.
 */
async function ownSchema(): Promise<void> {
  const r = await runTool('kubectl', [
    'get',
    'crd',
    'consumergroups.herald.dev',
    '-o',
    'jsonpath={.spec.versions[0].schema.openAPIV3Schema.properties.status.properties.broadcastConsumers.type}',
  ]);
  if (r.code === 0 && r.stdout.trim() === 'array') {
    const g = await getGroup(cluster.ns.name, 'fanout');
    if (g.spec.broadcast?.offsetRetentionSeconds === RETENTION_SECONDS) return;
  } else {
    process.stdout.write(
      "the ConsumerGroup CRD lacks broadcastConsumers (another worktree's): installing ours\n",
    );
    await installCrds();
  }
  await applyGroup();
}

/** Applies the group, with this branch's CRDs (again) while the apiserver refuses its fields. */
async function applyGroup(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await kubectlApply(cluster.ns.name, groupManifest(GROUP));
      return;
    } catch (err) {
      if (attempt >= 10 || !String(err).includes('unknown field')) throw err;
      process.stdout.write(`the apiserver has another worktree's CRDs (${String(err)}); installing ours\n`);
      await installCrds();
    }
  }
}

async function offsetRows(key: string): Promise<number> {
  const rows = await sql<RowDataPacket>(
    cluster.ns.database,
    'SELECT COUNT(*) AS n FROM consumer_offsets WHERE group_name = ?',
    [key],
  );
  return Number(rows[0].n);
}

test('3 consumers each get every message once; one resumes from its own offset; one that left loses its offsets and, back later, starts afresh', async () => {
  cluster = await startLeaseCluster({
    prefix: 'broadcast',
    brokers: 2,
    topics: [{ name: 'feed', partitions: PARTITIONS }],
    operatorArgs: ['--lag-interval-ms', '1000', '--assignment-poll-ms', '500'],
    // Brokers close a gone consumer's cursors soon, so a later return reads its offsets anew.
    brokerOverrides: [0, 1].map(() => ({ delivery: { idleCursorMs: 2_000 } })),
  });
  const c = cluster;
  const ns = c.ns.name;
  await c.waitBalanced('feed', ['b0', 'b1']);
  await applyGroup();
  await waitFor('the group is ready', async () => (await getGroup(ns, 'fanout')).status?.observedGeneration, {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  await ownSchema();

  // Refused: a consumer id that cannot key offsets, and a broadcast pull naming no consumer.
  const bad = await failure(
    c.meta.call((m, cb) => m.joinGroup({ namespace: ns, group: 'fanout', consumerId: 'not an id!' }, cb)),
  );
  expect(bad.info?.reason).toBe('INVALID_NAME');
  const owner0 = (await c.routes('feed')).find((r) => r.partition === 0)!;
  const b0 = c.brokers.find((b) => b.id === owner0.brokerId)!;
  const anonymous = await failure(api(b0.clients).pull({ group: 'fanout', topic: 'feed', partition: 0 }));
  expect(anonymous.info?.reason).toBe('INVALID_REQUEST');
  expect(anonymous.message).toContain('broadcast group');

  const seen: Record<string, Seen> = { 'pod-0': new Map(), 'pod-1': new Map(), 'pod-2': new Map() };
  // pod-0 fails m-5 once: its retry is its own, the others get m-5 once.
  const consumers: Record<string, Consumer> = {
    'pod-0': consumer('pod-0', seen['pod-0'], 'm-5'),
    'pod-1': consumer('pod-1', seen['pod-1']),
    'pod-2': consumer('pod-2', seen['pod-2']),
  };
  await waitFor(
    'every consumer holds every partition',
    () =>
      Promise.resolve(
        Object.values(consumers).every((x) => x.assignment().length === PARTITIONS) || undefined,
      ),
    { timeoutMs: 60_000, intervalMs: 100 },
  );

  const producer = new Producer({ meta: c.operator.metaAddress, namespace: ns });
  closers.push(producer);
  const first = await Promise.all(
    Array.from({ length: 30 }, (_, i) => producer.send('feed', { key: `k${i}`, body: `m-${i}` })),
  );
  expect(new Set(first.map((r) => r.partition)).size).toBe(PARTITIONS);
  const firstIds = first.map((r) => r.messageId).sort();
  const allSeen = (s: Seen, ids: string[]) => ids.every((id) => s.has(id));
  await waitFor(
    'every consumer got every message (and pod-0 its retry of m-5)',
    () =>
      Promise.resolve(
        (Object.values(seen).every((s) => allSeen(s, firstIds)) &&
          (seen['pod-0'].get(first[5].messageId)?.length ?? 0) >= 2) ||
          undefined,
      ),
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  const admin = new Admin({ meta: c.operator.metaAddress, namespace: ns });
  closers.push(admin);
  // Everything acked: each consumer's own lag is 0 on every partition.
  await waitFor(
    'each consumer acked everything',
    async () => {
      const lag = await admin.lag('fanout', 'feed');
      return lag.length === 3 * PARTITIONS && lag.every((l) => l.lag === 0) ? lag : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  for (const [id, s] of Object.entries(seen)) {
    expect([...s.keys()].sort()).toEqual(firstIds);
    for (const [messageId, attempts] of s) {
      const retried = id === 'pod-0' && messageId === first[5].messageId;
      expect([id, messageId, attempts]).toEqual([id, messageId, retried ? [1, 2] : [1]]);
    }
  }

  // pod-1 goes away (closes: leaves the group); 10 more messages; its own lag shows them.
  await consumers['pod-1'].close();
  const second = await Promise.all(
    Array.from({ length: 10 }, (_, i) => producer.send('feed', { key: `k${i}`, body: `n-${i}` })),
  );
  const secondIds = second.map((r) => r.messageId).sort();
  await waitFor(
    'pod-0 and pod-2 got the second batch',
    () =>
      Promise.resolve((allSeen(seen['pod-0'], secondIds) && allSeen(seen['pod-2'], secondIds)) || undefined),
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  const away = await waitFor(
    "pod-1's own lag of 10 in herald lag and in the group's status, the others' 0",
    async () => {
      const lag = await admin.lag('fanout', 'feed');
      const total = (id: string) => lag.filter((l) => l.consumer === id).reduce((n, l) => n + l.lag, 0);
      await ownSchema();
      const g = await getGroup(ns, 'fanout');
      const status = new Map((g.status?.broadcastConsumers ?? []).map((x) => [x.id, x.totalLag]));
      return total('pod-1') === 10 &&
        total('pod-0') === 0 &&
        total('pod-2') === 0 &&
        status.get('pod-1') === 10 &&
        status.get('pod-0') === 0 &&
        status.get('pod-2') === 0 &&
        g.status?.totalLag === 10
        ? g
        : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  expect(away.status?.activeConsumers).toBe(2);

  // pod-1 comes back under its id: it resumes from its own offsets, getting only what it missed.
  const before = new Set(seen['pod-1'].keys());
  consumers['pod-1'] = consumer('pod-1', seen['pod-1']);
  await waitFor('pod-1 caught up', () => Promise.resolve(allSeen(seen['pod-1'], secondIds) || undefined), {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  expect([...seen['pod-1'].keys()].filter((id) => !before.has(id)).sort()).toEqual(secondIds);
  expect([...seen['pod-1'].values()].every((attempts) => attempts.length === 1)).toBe(true);

  // pod-2 leaves for good: its offsets stay for offsetRetentionSeconds after it was last seen,
  // then the operator deletes them and says so.
  expect(await offsetRows('fanout.pod-2')).toBe(PARTITIONS);
  await consumers['pod-2'].close();
  const leftAt = Date.now();
  const removed = await waitFor(
    "pod-2's offsets deleted",
    async () => {
      await ownSchema();
      return (await offsetRows('fanout.pod-2')) === 0 ? Date.now() : undefined;
    },
    { timeoutMs: (RETENTION_SECONDS + 30) * 1000, intervalMs: 250 },
  );
  process.stdout.write(`pod-2's offsets were deleted ${removed - leftAt} ms after it left\n`);
  expect(removed - leftAt).toBeGreaterThanOrEqual((RETENTION_SECONDS - 2) * 1000);
  const g = await waitFor(
    'pod-2 gone from the status',
    async () => {
      await ownSchema();
      const group = await getGroup(ns, 'fanout');
      const ids = (group.status?.broadcastConsumers ?? []).map((x) => x.id).sort();
      return ids.join(',') === 'pod-0,pod-1' ? group : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 250 },
  );
  expect(g.status?.broadcastConsumers?.every((x) => x.totalLag === 0)).toBe(true);
  expect(await offsetRows('fanout.pod-0')).toBe(PARTITIONS);
  expect(await offsetRows('fanout.pod-1')).toBe(PARTITIONS);
  expect((await admin.lag('fanout', 'feed')).map((l) => l.consumer)).not.toContain('pod-2');
  const events = await kube().core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: 'involvedObject.name=fanout',
  });
  const removal = events.items.filter((e) => e.reason === 'ConsumerOffsetsRemoved');
  expect(removal.map((e) => e.message)).toEqual([
    `consumer pod-2 was gone for ${RETENTION_SECONDS}s: its offsets, retries and dead letters are deleted`,
  ]);

  // pod-2 comes back after that: it starts afresh by startFrom (earliest), all 40 messages again.
  const again: Seen = new Map();
  consumers['pod-2'] = consumer('pod-2', again);
  const everything = [...firstIds, ...secondIds].sort();
  await waitFor(
    'pod-2 read everything again',
    () => Promise.resolve(allSeen(again, everything) || undefined),
    {
      timeoutMs: 30_000,
      intervalMs: 100,
    },
  );
  expect([...again.keys()].sort()).toEqual(everything);
});
