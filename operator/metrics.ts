// The operator's governance gauges on its /metrics: what only the meta-server and the
// ConsumerGroup controller know, for the chart's alerts (docs/governance.md). Only the leader
// has the state, so only the leader exports these series; a follower's are empty.
//
//   herald_topic_partitions{namespace,topic,pool}                 the topic's partitions
//   herald_topic_unowned_partitions{namespace,topic,pool}         of those, held by no broker now
//   herald_group_consumers{namespace,group,topic}                 live consumers (meta-server members)
//   herald_group_min_consumers{namespace,group,topic}             spec.alerts.minConsumers, where set
//   herald_group_lag_messages{namespace,group,topic,consumer}     unacknowledged messages (last resync)
//   herald_group_oldest_message_age_seconds{...same}              age now of the oldest of them
//
// `consumer` is a broadcast group's consumer, '' for a clustering group (as on the brokers'
// herald_consumer_lag_messages). The lag is read from storage at each resync of the group, so
// it holds also when no broker has the group's cursors open (all its consumers gone).
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { metricOf } from '../common/metric-of';
import type { ConsumerGroup, ConsumerGroupStatus } from './gen/crds';
import type { MetaCore } from './meta/meta-core';

type Lag = NonNullable<ConsumerGroupStatus['lag']>;

/** One consumer's (or a clustering group's) backlog as a resync read it. */
export interface ConsumerBacklog {
  consumer: string;
  messages: number;
  /** Publish time (ms) of the oldest unacknowledged message; undefined: none waits. */
  oldestPublishedAt: number | undefined;
}

export interface GroupBacklog {
  namespace: string;
  group: string;
  topic: string;
  consumers: ConsumerBacklog[];
}

/** What the gauges are computed from (the leader's state at one moment). */
export interface GovernanceState {
  ownership: ReturnType<MetaCore['ownership']>;
  membership: ReturnType<MetaCore['membership']>;
  groups: ConsumerGroup[];
  backlogs: GroupBacklog[];
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const TOPIC_PARTITIONS = 'herald_topic_partitions';
const UNOWNED_PARTITIONS = 'herald_topic_unowned_partitions';
const GROUP_CONSUMERS = 'herald_group_consumers';
const GROUP_MIN_CONSUMERS = 'herald_group_min_consumers';
const GROUP_LAG = 'herald_group_lag_messages';
const GROUP_OLDEST_AGE = 'herald_group_oldest_message_age_seconds';

const GAUGES: { name: string; help: string; labels: string[] }[] = [
  { name: TOPIC_PARTITIONS, help: "The Topic's partitions", labels: ['namespace', 'topic', 'pool'] },
  {
    name: UNOWNED_PARTITIONS,
    help: 'Partitions of the topic no broker holds a lease on now (publishes and reads of them fail)',
    labels: ['namespace', 'topic', 'pool'],
  },
  {
    name: GROUP_CONSUMERS,
    help: "The group's live consumers: members of the meta-server, dropped one consumer lease after their last heartbeat",
    labels: ['namespace', 'group', 'topic'],
  },
  {
    name: GROUP_MIN_CONSUMERS,
    help: "The ConsumerGroup's spec.alerts.minConsumers (only groups that set it)",
    labels: ['namespace', 'group', 'topic'],
  },
  {
    name: GROUP_LAG,
    help: "Unacknowledged messages of the group (a broadcast group's: of each consumer), read from storage at the group's last resync",
    labels: ['namespace', 'group', 'topic', 'consumer'],
  },
  {
    name: GROUP_OLDEST_AGE,
    help: 'Age now, by its publish time, of the oldest unacknowledged message found at the last resync (0: none waits)',
    labels: ['namespace', 'group', 'topic', 'consumer'],
  },
];

/** The gauges' samples for one moment. Pure. */
export function governanceSamples(state: GovernanceState, now: number): Sample[] {
  const out: Sample[] = [];
  for (const t of state.ownership) {
    const labels = { namespace: t.namespace, topic: t.topic, pool: t.pool };
    out.push({ name: TOPIC_PARTITIONS, labels, value: t.partitions });
    out.push({ name: UNOWNED_PARTITIONS, labels, value: t.partitions - t.owned });
  }
  for (const g of state.membership) {
    out.push({
      name: GROUP_CONSUMERS,
      labels: { namespace: g.namespace, group: g.group, topic: g.topic },
      value: g.consumers,
    });
  }
  for (const g of state.groups) {
    const min = g.spec.alerts?.minConsumers;
    if (min === undefined) continue;
    const labels = {
      namespace: g.metadata?.namespace ?? '',
      group: g.metadata?.name ?? '',
      topic: g.spec.topic,
    };
    out.push({ name: GROUP_MIN_CONSUMERS, labels, value: min });
  }
  for (const b of state.backlogs) {
    for (const c of b.consumers) {
      const labels = { namespace: b.namespace, group: b.group, topic: b.topic, consumer: c.consumer };
      out.push({ name: GROUP_LAG, labels, value: c.messages });
      const age = c.oldestPublishedAt === undefined ? 0 : Math.max(0, (now - c.oldestPublishedAt) / 1000);
      out.push({ name: GROUP_OLDEST_AGE, labels, value: age });
    }
  }
  return out;
}

/** A consumer's backlog from the lag a resync read at `readAt` (ages in whole seconds). Pure. */
export function backlogOf(consumer: string, lag: Lag, readAt: number): ConsumerBacklog {
  const ages = lag.flatMap((l) =>
    l.messages > 0 && l.oldestAgeSeconds !== undefined ? [l.oldestAgeSeconds] : [],
  );
  return {
    consumer,
    messages: lag.reduce((sum, l) => sum + l.messages, 0),
    oldestPublishedAt: ages.length > 0 ? readAt - Math.max(...ages) * 1000 : undefined,
  };
}

export class GovernanceMetrics {
  private readonly gauges: Map<string, Gauge>;
  private readonly backlogs = new Map<string, GroupBacklog>();

  constructor(registry: Registry) {
    this.gauges = new Map(
      GAUGES.map((g) => [
        g.name,
        metricOf(
          registry,
          g.name,
          () => new Gauge({ name: g.name, help: g.help, labelNames: g.labels, registers: [registry] }),
        ),
      ]),
    );
  }

  /** What the group's last resync read (the ConsumerGroup controller). */
  recordBacklog(backlog: GroupBacklog): void {
    this.backlogs.set(`${backlog.namespace}/${backlog.group}`, backlog);
  }

  forgetGroup(namespace: string, group: string): void {
    this.backlogs.delete(`${namespace}/${group}`);
  }

  /** Sets every gauge from the leader's state now (called each tick of the leader). */
  update(meta: MetaCore, groups: ConsumerGroup[], now: number): void {
    const samples = governanceSamples(
      {
        ownership: meta.ownership(now),
        membership: meta.membership(),
        groups,
        backlogs: [...this.backlogs.values()],
      },
      now,
    );
    for (const g of this.gauges.values()) g.reset();
    for (const s of samples) this.gauges.get(s.name)!.set(s.labels, s.value);
  }

  /** No series: this replica stopped leading. */
  clear(): void {
    this.backlogs.clear();
    for (const g of this.gauges.values()) g.reset();
  }
}
