// A push group's side of the ConsumerGroup controller: its signing key, read from the Secret
// spec.push.signingSecretRef names (never copied into a status, a ConfigMap or a log), and its
// status.push and EndpointHealthy condition from what the partitions' owners report to the
// meta-server.
import type { ConsumerGroup, ConsumerGroupStatus } from '../gen/crds';
import type { ConditionInput } from '../reconcile/conditions';
import type { PushPartitionReport } from '../meta/meta-core';
import { MIN_SIGNING_KEY_BYTES } from '../../common/group-policy';
import { readIfExists } from '../kube/client';
import type { ControllerContext } from './context';

export type PushStatus = NonNullable<ConsumerGroupStatus['push']>;

/** Reports older than this no longer count (owners report every few seconds). */
export const PUSH_REPORT_MAX_AGE_MS = 15_000;
/** How often a push group's status is refreshed. */
export const PUSH_STATUS_INTERVAL_MS = 5_000;
const RECENT_FAILURES = 10;

/** The signing key, or why the group cannot be pushed (Ready=False with this reason). */
export async function signingKeyOf(
  ctx: Pick<ControllerContext, 'core'>,
  group: ConsumerGroup,
): Promise<{ key: Buffer } | { problem: ConditionInput }> {
  const ref = group.spec.push!.signingSecretRef;
  const namespace = group.metadata?.namespace ?? '';
  const secret = await readIfExists(() => ctx.core.readNamespacedSecret({ namespace, name: ref.name }));
  if (!secret) return missing(`Secret ${ref.name} (spec.push.signingSecretRef) does not exist`);
  const value = secret.data?.[ref.key];
  if (value === undefined)
    return missing(`Secret ${ref.name} has no key ${ref.key} (spec.push.signingSecretRef.key)`);
  const key = Buffer.from(value, 'base64');
  if (key.length < MIN_SIGNING_KEY_BYTES) {
    return {
      problem: {
        type: 'Ready',
        status: 'False',
        reason: 'SigningSecretTooShort',
        message: `the signing key in Secret ${ref.name} has ${key.length} bytes; at least ${MIN_SIGNING_KEY_BYTES} are needed`,
      },
    };
  }
  return { key };
}

function missing(message: string): { problem: ConditionInput } {
  return { problem: { type: 'Ready', status: 'False', reason: 'SigningSecretMissing', message } };
}

/** status.push and the EndpointHealthy condition from the owners' reports. Pure. */
export function pushStatusOf(reports: PushPartitionReport[]): {
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
  const status: PushStatus = {
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
