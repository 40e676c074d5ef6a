import type { V1Secret } from '@kubernetes/client-node';
import { caBundleProblem } from '../../../common/group-policy';
import { createCa } from '../../../operator/ca/ca';
import {
  PUSH_STATUS_REFRESH_MS,
  pushSecretKeys,
  pushSecretsIn,
  pushStatusChanged,
  pushStatusOf,
  usablePushSecrets,
} from '../../../operator/controllers/group-push';
import type { PushStatus } from '../../../operator/controllers/group-push';
import type { ConsumerGroup } from '../../../operator/gen/crds';
import type { PushPartitionReport } from '../../../operator/meta/meta-core';

const report = (
  partition: number,
  state: string,
  healthy: boolean,
  failures: { atMs: number; status: number; error: string }[] = [],
): PushPartitionReport => ({
  broker: `b${partition}`,
  at: 1_000_000 + partition,
  report: {
    group: 'hook',
    topic: 'orders',
    partition,
    rate: 10.123 * (partition + 1),
    state,
    healthy,
    inFlight: partition,
    recentFailures: failures.map((f, i) => ({
      ...f,
      atMs: String(f.atMs),
      offset: String(i + 1),
      attempt: 2,
    })),
  } as unknown as PushPartitionReport['report'],
});

describe('push status', () => {
  test('no reports: Unknown', () => {
    expect(pushStatusOf([]).condition).toMatchObject({
      type: 'EndpointHealthy',
      status: 'Unknown',
      reason: 'NoReports',
    });
  });

  test('healthy partitions: True, with the summed rate and each partition', () => {
    const { status, condition } = pushStatusOf([report(0, 'rising', true), report(1, 'holding', true)]);
    expect(condition).toMatchObject({ status: 'True', reason: 'Succeeding' });
    expect(status.rate).toBeCloseTo(30.37, 2);
    expect(status.partitions).toEqual([
      { partition: 0, broker: 'b0', rate: 10.12, state: 'rising', inFlight: 0 },
      { partition: 1, broker: 'b1', rate: 20.25, state: 'holding', inFlight: 1 },
    ]);
    expect(status.reportedAt).toBe(new Date(1_000_001).toISOString());
  });

  test('a failing or down partition: False, with the newest failures first (at most 10)', () => {
    const many = Array.from({ length: 8 }, (_, i) => ({ atMs: 100 + i, status: 503, error: 'HTTP 503' }));
    const failing = pushStatusOf([report(0, 'falling', false, many), report(1, 'rising', true, many)]);
    expect(failing.condition).toMatchObject({ status: 'False', reason: 'EndpointFailing' });
    expect(failing.condition.message).toContain('partitions 0');
    expect(failing.status.recentFailures).toHaveLength(10);
    expect(failing.status.recentFailures?.[0]).toMatchObject({
      time: new Date(107).toISOString(),
      status: 503,
    });
    const down = pushStatusOf([
      report(0, 'down', false, [{ atMs: 5, status: 0, error: 'timeout after 100 ms' }]),
    ]);
    expect(down.condition).toMatchObject({ status: 'False', reason: 'EndpointDown' });
    expect(down.condition.message).toContain('timeout after 100 ms');
  });
});

describe('the signing key and the CA bundle, from the Secret cache', () => {
  let caPem: string;
  beforeAll(async () => {
    caPem = (await createCa('push test CA', 1)).cert;
  });
  const group = (key?: string, ca?: { name: string; key: string }) =>
    ({
      metadata: { name: 'hook', namespace: 'ns' },
      spec: { push: { signingSecretRef: { name: 'hook-key', key: key ?? 'secret' }, caSecretRef: ca } },
    }) as unknown as ConsumerGroup;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const cache = (secrets: Record<string, Record<string, string>>) => ({
    get: (k: string): V1Secret | undefined => (secrets[k] ? { data: secrets[k] } : undefined),
  });
  const key = { 'ns/hook-key': { secret: b64('sixteen-bytes-key!') } };

  test("read from the cache, in the group's namespace; the Secrets it names", () => {
    expect(pushSecretsIn(cache(key), group())).toEqual({
      secrets: { signingKey: Buffer.from('sixteen-bytes-key!') },
    });
    expect(pushSecretKeys(group())).toEqual(['ns/hook-key']);
    const withCa = group(undefined, { name: 'hook-ca', key: 'ca.crt' });
    expect(pushSecretKeys(withCa)).toEqual(['ns/hook-key', 'ns/hook-ca']);
    const both = cache({ ...key, 'ns/hook-ca': { 'ca.crt': b64(caPem) } });
    expect(usablePushSecrets(pushSecretsIn(both, withCa))).toEqual({
      signingKey: Buffer.from('sixteen-bytes-key!'),
      caPem,
    });
  });

  test('a missing Secret, a missing key or a short key: the reason, never the key', () => {
    const missing = pushSecretsIn(cache({ 'other/hook-key': key['ns/hook-key'] }), group());
    expect(missing).toMatchObject({ problem: { status: 'False', reason: 'SigningSecretMissing' } });
    expect(usablePushSecrets(missing)).toBeUndefined();
    const noKey = pushSecretsIn(cache({ 'ns/hook-key': { other: b64('x') } }), group());
    expect(noKey).toMatchObject({ problem: { reason: 'SigningSecretMissing' } });
    expect(JSON.stringify(noKey)).toContain('has no key secret');
    const short = pushSecretsIn(cache({ 'ns/hook-key': { secret: b64('tiny-key') } }), group());
    expect(short).toMatchObject({ problem: { reason: 'SigningSecretTooShort' } });
    expect(JSON.stringify(short)).not.toContain('tiny-key');
  });

  test('a CA Secret that is missing or holds no certificate: CaSecretInvalid, not pushed', () => {
    const withCa = group(undefined, { name: 'hook-ca', key: 'ca.crt' });
    const gone = pushSecretsIn(cache(key), withCa);
    expect(gone).toMatchObject({ problem: { status: 'False', reason: 'CaSecretInvalid' } });
    expect(JSON.stringify(gone)).toContain('hook-ca');
    const garbage = pushSecretsIn(
      cache({ ...key, 'ns/hook-ca': { 'ca.crt': b64('not a certificate') } }),
      withCa,
    );
    expect(garbage).toMatchObject({ problem: { reason: 'CaSecretInvalid' } });
    expect(JSON.stringify(garbage)).toContain('holds no PEM certificate');
    const broken = caPem.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!');
    expect(caBundleProblem(broken)).toBe('certificate 1 does not parse');
    expect(caBundleProblem(caPem + caPem)).toBeUndefined();
  });
});

describe('status.push is written when something moved that matters', () => {
  const status = (
    over: Partial<NonNullable<PushStatus['partitions']>[number]> = {},
    rest: Partial<PushStatus> = {},
  ): PushStatus => ({
    rate: 100,
    reportedAt: new Date(1_000_000).toISOString(),
    partitions: [{ partition: 0, broker: 'b0', rate: 100, state: 'rising', inFlight: 2, ...over }],
    recentFailures: [],
    ...rest,
  });
  const at = 1_000_000 + 5_000;

  test('jitter of the rates and in-flight counts is not a change', () => {
    const old = status();
    expect(
      pushStatusChanged(old, status({ rate: 104, inFlight: 5 }, { rate: 104, reportedAt: 'later' }), at),
    ).toBe(false);
    expect(
      pushStatusChanged(status({ rate: 0.2 }, { rate: 0.2 }), status({ rate: 0.6 }, { rate: 0.6 }), at),
    ).toBe(false);
  });

  test('a moved rate, state, owner, partition set, in-flight start or end, a new failure, or age is', () => {
    const old = status();
    expect(pushStatusChanged(old, status({ rate: 80 }, { rate: 80 }), at)).toBe(true);
    expect(pushStatusChanged(old, status({ state: 'falling' }), at)).toBe(true);
    expect(pushStatusChanged(old, status({ broker: 'b1' }), at)).toBe(true);
    expect(pushStatusChanged(old, status({ partition: 1 }), at)).toBe(true);
    expect(pushStatusChanged(old, status({ inFlight: 0 }), at)).toBe(true);
    const failure = { time: 't', partition: 0, offset: 4, attempt: 1, status: 503, error: 'HTTP 503' };
    expect(pushStatusChanged(old, status({}, { recentFailures: [failure] }), at)).toBe(true);
    expect(pushStatusChanged(old, status(), 1_000_000 + PUSH_STATUS_REFRESH_MS)).toBe(true);
  });

  test('pushStatusOf keeps the written status and its rate in the condition while nothing moved', () => {
    const reports = [report(0, 'rising', true)];
    const first = pushStatusOf(reports, undefined, at);
    const jitter = [
      { ...reports[0], at: reports[0].at + 4000, report: { ...reports[0].report, rate: 10.5 } },
    ];
    const second = pushStatusOf(jitter, first.status, at);
    expect(second.status).toBe(first.status);
    expect(second.condition.message).toBe(first.condition.message);
    const fallen = [{ ...jitter[0], report: { ...jitter[0].report, rate: 2, state: 'falling' } }];
    expect(pushStatusOf(fallen, first.status, at).status.partitions?.[0]).toMatchObject({
      rate: 2,
      state: 'falling',
    });
  });
});
