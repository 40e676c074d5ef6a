// What the console shows, as pure functions of the custom resources, the caller's access rules
// and the brokers' answers: who may see or change what, the overview's summaries, and the
// preview of an offset reset. Unit-tested; the I/O is in api.ts.
import { OPERATIONS } from '../../common/security/access-rules';
import type { AccessRules, Resource } from '../../common/security/access-rules';
import type { PartitionLag } from '../../proto/gen/herald/v1/PartitionLag';
import type { BrokerPool, ConsumerGroup, Topic } from '../gen/crds';

/** The caller and the rules that bind them; `rules` undefined: access rules are not enforced. */
export interface Caller {
  subject: string;
  rules: AccessRules | undefined;
}

/** A topic or group is shown when one of the caller's rules covers it, for any operation. */
export function mayView(caller: Caller, resource: Resource): boolean {
  const rules = caller.rules;
  if (!rules) return true;
  return OPERATIONS.some((operation) => rules.allows(caller.subject, { operation, resources: [resource] }));
}

export function mayAdmin(caller: Caller, resources: Resource[]): boolean {
  return caller.rules?.allows(caller.subject, { operation: 'admin', resources }) ?? true;
}

const ready = (o: Topic | ConsumerGroup | BrokerPool) =>
  o.status?.conditions?.find((c) => c.type === 'Ready');

export interface TopicSummary {
  name: string;
  partitions: number;
  storage: string;
  ready: string;
  reason: string;
}

export const topicSummary = (t: Topic): TopicSummary => ({
  name: t.metadata?.name ?? '',
  partitions: t.spec.partitions,
  storage: t.spec.storage ?? 'mysql',
  ready: ready(t)?.status ?? 'Unknown',
  reason: ready(t)?.reason ?? '',
});

export interface GroupSummary {
  name: string;
  topic: string;
  mode: string;
  ready: string;
  reason: string;
  totalLag: number;
  activeConsumers: number;
}

export const groupSummary = (g: ConsumerGroup): GroupSummary => ({
  name: g.metadata?.name ?? '',
  topic: g.spec.topic,
  mode: g.spec.mode ?? 'clustering',
  ready: ready(g)?.status ?? 'Unknown',
  reason: ready(g)?.reason ?? '',
  totalLag: g.status?.totalLag ?? 0,
  activeConsumers: g.status?.activeConsumers ?? 0,
});

export interface NotReady {
  kind: string;
  name: string;
  type: string;
  status: string;
  reason: string;
  message: string;
}

/**
 * Conditions that call for a look: Ready other than True, and any other condition that is True
 * but names a problem (a group's LagHigh alert), or False where True is the healthy state.
 */
export function notReady(kind: string, o: Topic | ConsumerGroup | BrokerPool): NotReady[] {
  const conditions = o.status?.conditions ?? [];
  const name = o.metadata?.name ?? '';
  const shown =
    conditions.length === 0
      ? [
          {
            type: 'Ready',
            status: 'Unknown',
            reason: 'NoStatus',
            message: 'the operator has not reported on it yet',
          },
        ]
      : conditions;
  return shown
    .filter((c) =>
      c.type === 'Ready'
        ? c.status !== 'True'
        : c.status === (HEALTHY_WHEN_FALSE.has(c.type) ? 'True' : 'False'),
    )
    .map((c) => ({ kind, name, type: c.type, status: c.status, reason: c.reason, message: c.message }));
}

/** Conditions that are alerts: True is the problem. */
const HEALTHY_WHEN_FALSE = new Set(['LagAlert']);

export interface BrokerView {
  name: string;
  pool: string;
  address: string;
  zone: string;
  partitions: number;
}

/** Brokers as the Topics' assignments name them, with how many partitions each holds. */
export function brokersOf(topics: Topic[]): Omit<BrokerView, 'zone'>[] {
  const byName = new Map<string, Omit<BrokerView, 'zone'>>();
  for (const t of topics) {
    for (const a of t.status?.assignment ?? []) {
      const b = byName.get(a.broker) ?? {
        name: a.broker,
        pool: t.spec.pool ?? 'default',
        address: a.address ?? '',
        partitions: 0,
      };
      b.partitions += 1;
      if (a.address) b.address = a.address;
      byName.set(a.broker, b);
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Where a reset moves a group, as ResetOffsetsRequest's oneof. */
export type ResetTarget =
  { earliest: true } | { latest: true } | { timestampMs: number } | { offset: number };

export interface ResetPreview {
  partition: number;
  consumer: string;
  lag: number;
  /** The lag after the reset; absent when only the broker can tell (a time). */
  newLag?: number;
  /** True when newLag is an upper bound (earliest: retention may have dropped older messages). */
  atMost?: boolean;
}

/** The lag a reset would leave, from the group's current lag (GetLag). */
export function previewReset(lag: PartitionLag[], target: ResetTarget, partitions: number[]): ResetPreview[] {
  return lag
    .filter((p) => partitions.length === 0 || partitions.includes(p.partition))
    .map((p) => {
      const base = { partition: p.partition, consumer: p.consumer, lag: Number(p.lag) };
      const end = Number(p.endOffset);
      if ('latest' in target) return { ...base, newLag: 0 };
      if ('earliest' in target) return { ...base, newLag: end, atMost: true };
      if ('offset' in target) return { ...base, newLag: Math.max(0, end - target.offset) };
      return base;
    });
}

/** A ResetTarget from a request body, or a message naming what is wrong. */
export function parseTarget(v: unknown): ResetTarget | string {
  if (typeof v !== 'object' || v === null) return 'target must be an object';
  const t = v as Record<string, unknown>;
  const keys = Object.keys(t);
  if (keys.length !== 1) return 'target must have exactly one of earliest, latest, timestampMs, offset';
  if (t.earliest === true) return { earliest: true };
  if (t.latest === true) return { latest: true };
  for (const k of ['timestampMs', 'offset'] as const) {
    const n = t[k];
    if (n !== undefined) {
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
        return `target.${k} must be a non-negative integer`;
      return k === 'offset' ? { offset: n } : { timestampMs: n };
    }
  }
  return 'target must have exactly one of earliest, latest, timestampMs, offset';
}
