// A push group's side of the ConsumerGroup controller: its signing key, read from the Secret
// spec.push.signingSecretRef names (never copied into a status, a ConfigMap or a log), the CA
// bundle of spec.push.caSecretRef, both from the operator's Secret cache (a watch), and its
// status.push and EndpointHealthy condition from what the partitions' owners report to the
// meta-server.
import type { ConsumerGroup, ConsumerGroupStatus } from '../gen/crds';
import type { ConditionInput } from '../reconcile/conditions';
import type { PushPartitionReport } from '../meta/meta-core';
import type { V1Secret } from '@kubernetes/client-node';
import { MIN_SIGNING_KEY_BYTES, caBundleProblem } from '../../common/group-policy';
import type { PushSecrets } from '../meta/from-crds';

export type PushStatus = NonNullable<ConsumerGroupStatus['push']>;

/** Reports older than this no longer count (owners report every few seconds). */
export const PUSH_REPORT_MAX_AGE_MS = 15_000;
/** How often a push group's status is refreshed. */
export const PUSH_STATUS_INTERVAL_MS = 5_000;
const RECENT_FAILURES = 10;

/**
 * What the group's Secrets hold (its signing key; the CA bundle when spec.push.caSecretRef is
 * set), or why it cannot be pushed (Ready=False with this reason). `secret` looks a Secret of
 * the group's namespace up by name in the operator's Secret cache: no apiserver call. Pure.
 */
export function pushSecretsOf(
  secret: (name: string) => V1Secret | undefined,
  group: ConsumerGroup,
): { secrets: PushSecrets } | { problem: ConditionInput } {
  const { signingSecretRef: ref, caSecretRef } = group.spec.push!;
  const found = secret(ref.name);
  if (!found) return missing(`Secret ${ref.name} (spec.push.signingSecretRef) does not exist`);
  const value = found.data?.[ref.key];
  if (value === undefined)
    return missing(`Secret ${ref.name} has no key ${ref.key} (spec.push.signingSecretRef.key)`);
  const signingKey = Buffer.from(value, 'base64');
  if (signingKey.length < MIN_SIGNING_KEY_BYTES) {
    return {
      problem: {
        type: 'Ready',
        status: 'False',
        reason: 'SigningSecretTooShort',
        message: `the signing key in Secret ${ref.name} has ${signingKey.length} bytes; at least ${MIN_SIGNING_KEY_BYTES} are needed`,
      },
    };
  }
  if (!caSecretRef) return { secrets: { signingKey } };
  const ca = secret(caSecretRef.name)?.data?.[caSecretRef.key];
  const caPem = ca === undefined ? undefined : Buffer.from(ca, 'base64').toString();
  const problem =
    caPem === undefined
      ? `Secret ${caSecretRef.name} (spec.push.caSecretRef) does not exist or has no key ${caSecretRef.key}`
      : caBundleProblem(caPem);
  if (problem !== undefined) {
    const message = caPem === undefined ? problem : `the CA bundle in Secret ${caSecretRef.name} ${problem}`;
    return { problem: { type: 'Ready', status: 'False', reason: 'CaSecretInvalid', message } };
  }
  return { secrets: { signingKey, caPem } };
}

/** pushSecretsOf, the Secrets looked up in the group's namespace of a namespace/name cache. */
export function pushSecretsIn(cache: { get(key: string): V1Secret | undefined }, group: ConsumerGroup) {
  const namespace = group.metadata?.namespace ?? '';
  return pushSecretsOf((name) => cache.get(`${namespace}/${name}`), group);
}

/** The group's PushSecrets when it can be pushed (what groupInfoOf takes). */
export function usablePushSecrets(
  result: ReturnType<typeof pushSecretsOf> | undefined,
): PushSecrets | undefined {
  return result && 'secrets' in result ? result.secrets : undefined;
}

function missing(message: string): { problem: ConditionInput } {
  return { problem: { type: 'Ready', status: 'False', reason: 'SigningSecretMissing', message } };
}

/** The Secrets a push group reads (its signing key's, its CA's), as namespace/name keys. */
export function pushSecretKeys(group: ConsumerGroup): string[] {
  const push = group.spec.push;
  if (!push) return [];
  const ns = group.metadata?.namespace ?? '';
  return [push.signingSecretRef.name, ...(push.caSecretRef ? [push.caSecretRef.name] : [])].map(
    (name) => `${ns}/${name}`,
  );
}

/**
 * status.push and the EndpointHealthy condition from the owners' reports; `previous` (the status
 * written) is kept while pushStatusChanged says nothing moved. Pure.
 */
export function pushStatusOf(
  reports: PushPartitionReport[],
  previous?: PushStatus | null,
  now = Date.now(),
): {
  status: PushStatus;
  condition: ConditionInput;
} {
  if (reports.length === 0) {
    return {
      status: { partitions: [], recentFailures: [] },
      condition: {
        type: 'EndpointHealthy',
        status: 'Unknown',
        reason: 'NoReports',
        message: 'no broker has reported pushing this group yet',
      },
    };
  }
  const failures = reports
    .flatMap(({ report: r }) =>
      r.recentFailures.map((f) => ({
        at: Number(f.atMs),
        row: {
          time: new Date(Number(f.atMs)).toISOString(),
          partition: r.partition,
          offset: Number(f.offset),
          attempt: f.attempt,
          status: f.status,
          error: f.error.slice(0, 1024),
        },
      })),
    )
    .sort((a, b) => b.at - a.at)
    .slice(0, RECENT_FAILURES)
    .map((f) => f.row);
  const rate = reports.reduce((sum, r) => sum + r.report.rate, 0);
  const fresh: PushStatus = {
    rate: Math.round(rate * 100) / 100,
    reportedAt: new Date(Math.max(...reports.map((r) => r.at))).toISOString(),
    partitions: reports.map(({ broker, report: r }) => ({
      partition: r.partition,
      broker,
      rate: Math.round(r.rate * 100) / 100,
      state: r.state,
      inFlight: r.inFlight,
    })),
    recentFailures: failures,
  };
  // The status (and the condition's rate) stay as written unless something moved that matters.
  const status = previous && !pushStatusChanged(previous, fresh, now) ? previous : fresh;
  const down = reports.filter((r) => r.report.state === 'down').map((r) => r.report.partition);
  const failing = reports.filter((r) => !r.report.healthy).map((r) => r.report.partition);
  const last = failures[0] ? ` (last: ${failures[0].error})` : '';
  const condition: ConditionInput =
    down.length > 0
      ? {
          type: 'EndpointHealthy',
          status: 'False',
          reason: 'EndpointDown',
          message: `the endpoint fails every request; partitions ${down.join(', ')} send only a heartbeat${last}`,
        }
      : failing.length > 0
        ? {
            type: 'EndpointHealthy',
            status: 'False',
            reason: 'EndpointFailing',
            message: `the endpoint fails many requests; partitions ${failing.join(', ')} slow down${last}`,
          }
        : {
            type: 'EndpointHealthy',
            status: 'True',
            reason: 'Succeeding',
            message: `pushing at ${status.rate} messages/s`,
          };
  return { status, condition };
}

/** A written status.push is refreshed at least this often (its reportedAt shows the owners report). */
export const PUSH_STATUS_REFRESH_MS = 60_000;

/**
 * Whether `next` says something `old` does not, so status.push is worth a write: a partition
 * added, gone, moved or in another state, a new failure, a rate that moved by more than 10 %
 * (and 0.5 message/s), requests in flight starting or ending, or `old` older than
 * PUSH_STATUS_REFRESH_MS. A steady push group then writes its status about once a minute
 * rather than at every resync. Pure.
 */
export function pushStatusChanged(old: PushStatus, next: PushStatus, now: number): boolean {
  const moved = (a = 0, b = 0) => Math.abs(a - b) > Math.max(0.5, 0.1 * Math.max(a, b));
  const before = new Map((old.partitions ?? []).map((p) => [p.partition, p]));
  const partitions = next.partitions ?? [];
  if (before.size !== partitions.length || moved(old.rate, next.rate)) return true;
  for (const p of partitions) {
    const o = before.get(p.partition);
    if (!o || o.broker !== p.broker || o.state !== p.state || moved(o.rate, p.rate)) return true;
    if ((o.inFlight === 0) !== (p.inFlight === 0)) return true;
  }
  const failure = (f: NonNullable<PushStatus['recentFailures']>[number] | undefined) =>
    f ? `${f.time}/${f.partition}/${f.offset}/${f.attempt}` : '';
  if (failure(old.recentFailures?.[0]) !== failure(next.recentFailures?.[0])) return true;
  const writtenAt = old.reportedAt ? Date.parse(old.reportedAt) : NaN;
  return !(now - writtenAt < PUSH_STATUS_REFRESH_MS);
}
