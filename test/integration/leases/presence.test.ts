// Consumer presence: a group's status lists each consumer (identity, zone, partitions, last
// heartbeat), and once all its consumers are gone while messages wait, ConsumersOnline turns
// False with a Warning event within spec.alerts.offlineSeconds plus one resync. The operator's
// gauges (operator/metrics.ts), scraped from its /metrics, move with it: consumers online and
// minConsumers, the backlog and the age of its oldest message, partitions without an owner once
// the broker is gone. Every metric the chart's alerts and dashboard query is on a real broker's
// or the operator's /metrics.
import { silentLogger } from '../../../common/logger';
import { ConsumerLeaseClient } from '../../../common/meta-client';
import { api, body, metricValue } from '../broker/helpers';
import { declaredIn, monitoredMetricNames } from '../chart/render';
import { condition, getGroup, kube } from '../operator/helpers';
import { waitFor } from '../wait';
import { startLeaseCluster } from './helpers';
import type { LeaseCluster } from './helpers';

jest.setTimeout(240_000);

let cluster: LeaseCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
});

const RESYNC_MS = 1_000;
const OFFLINE_SECONDS = 3;

test('all consumers killed: ConsumersOnline=False and a Warning event within offlineSeconds plus one resync', async () => {
  cluster = await startLeaseCluster({
    prefix: 'presence',
    brokers: 1,
    topics: [{ name: 'jobs', partitions: 2 }],
    groups: [
      {
        name: 'workers',
        topic: 'jobs',
        spec: `startFrom: earliest, alerts: {minConsumers: 2, offlineSeconds: ${OFFLINE_SECONDS}}`,
      },
    ],
    operatorArgs: ['--lag-interval-ms', String(RESYNC_MS), '--assignment-poll-ms', '500'],
  });
  const c = cluster;
  const ns = c.ns.name;
  await c.waitAssigned('jobs', ['b0']);
  const gauge = (name: string, labels: string) =>
    metricValue(c.operator.metricsAddress, `${name}{${labels}}`);
  const topicLabels = `namespace="${ns}",topic="jobs",pool="default"`;
  const groupLabels = `namespace="${ns}",group="workers",topic="jobs"`;
  const gaugeIs = (name: string, labels: string, want: (v: number) => boolean) =>
    waitFor(
      `${name}{${labels}} as expected`,
      async () => {
        const v = await gauge(name, labels);
        return want(v) ? v : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  await gaugeIs('herald_topic_unowned_partitions', topicLabels, (v) => v === 0);
  expect(await gauge('herald_topic_partitions', topicLabels)).toBe(2);
  const consumers = ['w-a', 'w-b'].map((id, i) => {
    const client = new ConsumerLeaseClient({
      metaAddresses: [c.operator.metaAddress],
      safetyMarginMs: 1_000,
      logger: silentLogger,
      namespace: ns,
      group: 'workers',
      consumerId: id,
      zone: `zone-${'ab'[i]}`,
    });
    client.start();
    return client;
  });

  // Status shows each consumer with its zone, partitions and last heartbeat; two are enough.
  const online = await waitFor(
    'both consumers in status with partitions and heartbeats, ConsumersOnline=True',
    async () => {
      const g = await getGroup(ns, 'workers');
      const list = g.status?.consumers ?? [];
      const ok =
        list.length === 2 &&
        list.every((x) => x.lastHeartbeat && (x.partitions ?? []).length === 1) &&
        condition(g, 'ConsumersOnline')?.status === 'True';
      return ok ? g : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  expect(online.status?.consumers?.map((x) => [x.id, x.zone])).toEqual([
    ['w-a', 'zone-a'],
    ['w-b', 'zone-b'],
  ]);
  expect(online.status?.activeConsumers).toBe(2);
  await gaugeIs('herald_group_consumers', groupLabels, (v) => v === 2);
  expect(await gauge('herald_group_min_consumers', groupLabels)).toBe(2);
  const firstBeat = Date.parse(online.status!.consumers![0].lastHeartbeat!);
  await waitFor(
    'a later heartbeat in status',
    async () => {
      const g = await getGroup(ns, 'workers');
      const beat = Date.parse(g.status?.consumers?.[0]?.lastHeartbeat ?? '');
      return beat > firstBeat ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );

  // A backlog, then every consumer dies (no LeaveGroup).
  const beforePublish = Date.now();
  await api(c.brokers[0].clients).publish({ topic: 'jobs', messages: [body('1'), body('2'), body('3')] });
  await waitFor(
    'the backlog in status',
    async () => ((await getGroup(ns, 'workers')).status?.totalLag ?? 0) >= 3 || undefined,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  const lagLabels = `${groupLabels},consumer=""`;
  await gaugeIs('herald_group_lag_messages', lagLabels, (v) => v === 3);
  // The age is the oldest message's, by its publish time: it grows with the clock between
  // resyncs and is never older than the publish (whole seconds from storage: up to 1 s less).
  const age = await gaugeIs('herald_group_oldest_message_age_seconds', lagLabels, (v) => v >= 2);
  expect(age).toBeLessThanOrEqual((Date.now() - beforePublish) / 1000 + 0.1);
  for (const x of consumers) await x.stop({ leave: false });
  await gaugeIs('herald_group_consumers', groupLabels, (v) => v === 0);

  const offline = await waitFor(
    'ConsumersOnline=False',
    async () => {
      const g = await getGroup(ns, 'workers');
      return condition(g, 'ConsumersOnline')?.status === 'False' ? { g, seenAt: Date.now() } : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  const since = Date.parse(offline.g.status!.consumersBelowMinimumSince!);
  const turned = offline.seenAt - since;
  process.stdout.write(
    `ConsumersOnline=False ${turned} ms after the meta-server counted the consumers gone\n`,
  );
  // offlineSeconds plus one resync, plus the status write and this poll.
  expect(turned).toBeGreaterThanOrEqual(OFFLINE_SECONDS * 1000);
  expect(turned).toBeLessThanOrEqual(OFFLINE_SECONDS * 1000 + RESYNC_MS + 1_500);
  expect(offline.g.status?.activeConsumers).toBe(0);
  expect(condition(offline.g, 'ConsumersOnline')).toMatchObject({ reason: 'ConsumersOffline' });

  const events = await waitFor(
    'a Warning event ConsumersOffline',
    async () => {
      const list = await kube().core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: 'involvedObject.name=workers',
      });
      const found = list.items.filter((e) => e.reason === 'ConsumersOffline');
      return found.length > 0 ? found : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 250 },
  );
  expect(events).toHaveLength(1);
  expect(events[0].type).toBe('Warning');
  expect(events[0].message).toContain('0 of at least 2 consumers online');
});

test("every metric the chart's alerts and dashboard query is on a broker's or the operator's /metrics", async () => {
  const c = cluster!;
  const names = await monitoredMetricNames();
  // The operator's gauges and the brokers' own, at least.
  expect(names).toEqual(
    expect.arrayContaining(['herald_topic_unowned_partitions', 'herald_handling_seconds_bucket']),
  );
  const scrape = async (address: string) => (await fetch(`http://${address}/metrics`)).text();
  const [broker, operator] = await Promise.all([
    scrape(c.brokers[0].process.metricsAddress),
    scrape(c.operator.metricsAddress),
  ]);
  const found = new Set([...declaredIn(broker, names), ...declaredIn(operator, names)]);
  expect(names.filter((n) => !found.has(n))).toEqual([]);
  // A name no one exports is not found (the check can fail).
  expect(declaredIn(operator + broker, ['herald_no_such_metric', 'herald_no_such_metric_bucket'])).toEqual(
    [],
  );
});

test('partitions without an owner: the broker gone, its partitions count once their leases end', async () => {
  const c = cluster!;
  const b0 = c.brokers[0].process;
  b0.child.kill('SIGKILL');
  await b0.exited;
  const labels = `namespace="${c.ns.name}",topic="jobs",pool="default"`;
  const unowned = await waitFor(
    'herald_topic_unowned_partitions 2',
    async () => {
      const v = await metricValue(c.operator.metricsAddress, `herald_topic_unowned_partitions{${labels}}`);
      return v === 2 ? v : undefined;
    },
    { timeoutMs: c.brokerLeaseMs + 10_000, intervalMs: 200 },
  );
  expect(unowned).toBe(2);
});
