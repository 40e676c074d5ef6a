// The operator's governance gauges (operator/metrics.ts): partitions without an owner per topic,
// live consumers against minConsumers per group, and each group's backlog with the age of its
// oldest message, from a real MetaCore and a real prom-client registry.
import { Registry } from 'prom-client';
import { MetaCore } from '../../../operator/meta/meta-core';
import { backlogOf, GovernanceMetrics, governanceSamples } from '../../../operator/metrics';
import type { ConsumerGroup } from '../../../operator/gen/crds';

const durations = {
  broker: { durationMs: 10_000, safetyMarginMs: 2_000 },
  consumer: { durationMs: 20_000, safetyMarginMs: 2_000 },
};

function core(): MetaCore {
  const c = new MetaCore();
  c.setPool('shop', 'default', durations);
  c.setTopic({ namespace: 'shop', name: 'orders', pool: 'default', partitions: 3 });
  c.setGroup({ namespace: 'shop', name: 'billing', topic: 'orders', mode: 'clustering' });
  return c;
}

function group(name: string, alerts?: object): ConsumerGroup {
  return {
    apiVersion: 'herald.dev/v1alpha1',
    kind: 'ConsumerGroup',
    metadata: { namespace: 'shop', name },
    spec: { topic: 'orders', ...(alerts ? { alerts } : {}) },
  } as unknown as ConsumerGroup;
}

test('partitions without an owner: all before a broker holds them, none while it does, all once its leases expire', () => {
  const c = core();
  const unowned = (now: number) =>
    governanceSamples({ ownership: c.ownership(now), membership: [], groups: [], backlogs: [] }, now).filter(
      (s) => s.name === 'herald_topic_unowned_partitions',
    );
  expect(unowned(0)).toEqual([
    {
      name: 'herald_topic_unowned_partitions',
      labels: { namespace: 'shop', topic: 'orders', pool: 'default' },
      value: 3,
    },
  ]);
  c.acquireBrokerLeases('shop', 'default', { id: 'b0', address: 'b0:7600', zone: '', weight: 1 }, 0);
  expect(unowned(1)[0].value).toBe(0);
  expect(unowned(60_000)[0].value).toBe(3);
});

test('consumers online against minConsumers, and the backlog with its oldest message aging', () => {
  const c = core();
  c.joinGroup('shop', 'billing', 'w-a', 'zone-a', 0);
  c.joinGroup('shop', 'billing', 'w-b', 'zone-b', 0);
  const backlog = {
    namespace: 'shop',
    group: 'billing',
    topic: 'orders',
    consumers: [
      backlogOf(
        '',
        [
          { partition: 0, messages: 4, oldestAgeSeconds: 7 },
          { partition: 1, messages: 0 },
        ],
        10_000,
      ),
    ],
  };
  const groups = [group('billing', { minConsumers: 3, offlineSeconds: 60 }), group('audit')];
  const at = (now: number) =>
    governanceSamples({ ownership: [], membership: c.membership(), groups, backlogs: [backlog] }, now);
  const labels = { namespace: 'shop', group: 'billing', topic: 'orders' };
  expect(at(10_000)).toEqual([
    { name: 'herald_group_consumers', labels, value: 2 },
    // audit sets no minimum, so it has no series.
    { name: 'herald_group_min_consumers', labels, value: 3 },
    { name: 'herald_group_lag_messages', labels: { ...labels, consumer: '' }, value: 4 },
    { name: 'herald_group_oldest_message_age_seconds', labels: { ...labels, consumer: '' }, value: 7 },
  ]);
  // The age grows with the clock between resyncs, from the message's publish time.
  expect(at(25_000).find((s) => s.name === 'herald_group_oldest_message_age_seconds')?.value).toBe(22);
  // Both consumers gone for a lease: none online.
  c.tick(30_000);
  expect(at(30_000).find((s) => s.name === 'herald_group_consumers')?.value).toBe(0);
  // Nothing waiting: age 0, not the age of a message already acknowledged.
  expect(backlogOf('pod-0', [{ partition: 0, messages: 0, oldestAgeSeconds: 5 }], 0)).toEqual({
    consumer: 'pod-0',
    messages: 0,
    oldestPublishedAt: undefined,
  });
});

test('the gauges on a registry: set each tick, emptied when the replica stops leading', async () => {
  const registry = new Registry();
  const m = new GovernanceMetrics(registry);
  // A second owner on the same registry (two servers of one process) shares the gauges.
  expect(() => new GovernanceMetrics(registry)).not.toThrow();
  const c = core();
  m.recordBacklog({
    namespace: 'shop',
    group: 'billing',
    topic: 'orders',
    consumers: [backlogOf('', [], 0)],
  });
  m.update(c, [group('billing', { minConsumers: 1, offlineSeconds: 60 })], 0);
  let text = await registry.metrics();
  expect(text).toContain('herald_topic_unowned_partitions{namespace="shop",topic="orders",pool="default"} 3');
  expect(text).toContain('herald_group_min_consumers{namespace="shop",group="billing",topic="orders"} 1');
  expect(text).toContain(
    'herald_group_lag_messages{namespace="shop",group="billing",topic="orders",consumer=""} 0',
  );
  m.forgetGroup('shop', 'billing');
  c.removeTopic('shop', 'orders');
  m.update(c, [], 1);
  text = await registry.metrics();
  expect(text).not.toContain('herald_group_lag_messages{');
  expect(text).not.toContain('herald_topic_unowned_partitions{');
  m.recordBacklog({
    namespace: 'shop',
    group: 'billing',
    topic: 'orders',
    consumers: [backlogOf('', [], 0)],
  });
  m.update(core(), [], 2);
  m.clear();
  text = await registry.metrics();
  expect(text).not.toMatch(/^herald_(topic|group)_\w+\{/m);
  // The names stay declared for scrapers (HELP and TYPE lines).
  expect(text).toContain('# TYPE herald_group_consumers gauge');
});
