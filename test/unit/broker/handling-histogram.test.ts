// herald_handling_seconds is Herald's own FixedHistogram (an observe is an increment); /metrics
// must show it exactly as prom-client's Histogram of the same name, labels and buckets did.
import { Histogram, Registry } from 'prom-client';
import type { MetricValueWithName } from 'prom-client';
import { BrokerMetrics, FixedHistogram, HANDLING_SECONDS } from '../../../broker/metrics';

const HELP =
  'From a delivery to its ack, per group (first deliveries and in-place redeliveries; retries from the resend table are not timed)';

/** Values on, between, below and above the bounds, for two label sets. */
const OBSERVED: [string, string, number][] = [
  ['orders', 'billing', 0],
  ['orders', 'billing', 0.005],
  ['orders', 'billing', 0.0051],
  ['orders', 'billing', 9.99],
  ['orders', 'billing', 10],
  ['orders', 'billing', 300],
  ['orders', 'billing', 301],
  ['orders', 'billing', 0.1 + 0.2],
  ['orders', 're"ports\\', 42],
  ['orders', 're"ports\\', 0.007],
];

function reference(): Registry {
  const registry = new Registry();
  const h = new Histogram({
    name: 'herald_handling_seconds',
    help: HELP,
    labelNames: ['topic', 'group'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  for (const [topic, group, v] of OBSERVED) h.labels(topic, group).observe(v);
  return registry;
}

test("the broker's herald_handling_seconds shows as prom-client's Histogram did, text and JSON", async () => {
  const metrics = new BrokerMetrics(() => []);
  // A label set with no observation yet is not shown, as in prom-client.
  metrics.handlingTime.labels('orders', 'idle');
  for (const [topic, group, v] of OBSERVED) metrics.handlingTime.labels(topic, group).observe(v);
  const want = reference();
  expect(await metrics.registry.getSingleMetricAsString('herald_handling_seconds')).toBe(
    await want.getSingleMetricAsString('herald_handling_seconds'),
  );
  // prom-client's JSON also names an exemplar (null: none) per value; Herald keeps none.
  const theirs = await want.getSingleMetric('herald_handling_seconds')!.get();
  expect(await metrics.registry.getSingleMetric('herald_handling_seconds')!.get()).toEqual({
    ...theirs,
    values: (theirs.values as MetricValueWithName<string>[]).map((v) => ({
      labels: v.labels,
      value: v.value,
      metricName: v.metricName,
    })),
  });
  // And in the whole exposition, as scraped.
  const text = await metrics.registry.metrics();
  expect(text).toContain((await want.metrics()).trim());
  expect(text).toContain('herald_handling_seconds_bucket{le="+Inf",topic="orders",group="billing"} 8');
  expect(text).not.toContain('group="idle"');
});

test('reset empties it; buckets must increase; label values must match the names', async () => {
  const registry = new Registry();
  const h = new FixedHistogram({
    name: 'x_seconds',
    help: 'x',
    labelNames: ['a'],
    buckets: HANDLING_SECONDS,
    registers: [registry],
  });
  h.labels('1').observe(1);
  registry.resetMetrics();
  expect(await registry.metrics()).toBe('# HELP x_seconds x\n# TYPE x_seconds histogram\n');
  expect(() => h.labels('1', '2')).toThrow('x_seconds: 1 label values expected, got 2');
  expect(
    () => new FixedHistogram({ name: 'y', help: 'y', labelNames: [], buckets: [1, 1], registers: [] }),
  ).toThrow('y: buckets must increase');
});
