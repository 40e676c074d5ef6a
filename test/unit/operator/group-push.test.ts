import { ApiException } from '@kubernetes/client-node';
import { pushStatusOf, signingKeyOf } from '../../../operator/controllers/group-push';
import type { ControllerContext } from '../../../operator/controllers/context';
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

describe('the signing key', () => {
  const group = (key?: string) =>
    ({
      metadata: { name: 'hook', namespace: 'ns' },
      spec: { push: { signingSecretRef: { name: 'hook-key', key: key ?? 'secret' } } },
    }) as unknown as ConsumerGroup;
  const core = (read: () => Promise<{ data?: Record<string, string> }>) =>
    ({ core: { readNamespacedSecret: read } }) as unknown as Pick<ControllerContext, 'core'>;
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  test('read from the Secret', async () => {
    const r = await signingKeyOf(
      core(() => Promise.resolve({ data: { secret: b64('sixteen-bytes-key!') } })),
      group(),
    );
    expect(r).toEqual({ key: Buffer.from('sixteen-bytes-key!') });
  });

  test('a missing Secret, a missing key or a short key: the reason, never the key', async () => {
    const missing = await signingKeyOf(
      core(() => Promise.reject(new ApiException(404, 'not found', {}, {}))),
      group(),
    );
    expect(missing).toMatchObject({ problem: { status: 'False', reason: 'SigningSecretMissing' } });
    const noKey = await signingKeyOf(
      core(() => Promise.resolve({ data: { other: b64('x') } })),
      group(),
    );
    expect(noKey).toMatchObject({ problem: { reason: 'SigningSecretMissing' } });
    expect(JSON.stringify(noKey)).toContain('has no key secret');
    const short = await signingKeyOf(
      core(() => Promise.resolve({ data: { secret: b64('tiny-key') } })),
      group(),
    );
    expect(short).toMatchObject({ problem: { reason: 'SigningSecretTooShort' } });
    expect(JSON.stringify(short)).not.toContain('tiny-key');
    await expect(
      signingKeyOf(
        core(() => Promise.reject(new ApiException(500, 'boom', {}, {}))),
        group(),
      ),
    ).rejects.toThrow();
  });
});
