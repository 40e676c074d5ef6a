// Metrics on a registry that several servers of one process share (tests run a broker and a
// meta-server, or several brokers, in one process): the first to ask creates a metric, the
// others get that one, since prom-client refuses a second metric of the same name.
import type { Metric, Registry } from 'prom-client';

/** The registry's metric called `name`, or the one `create` makes (and registers in `registry`). */
export function metricOf<T extends Metric>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
