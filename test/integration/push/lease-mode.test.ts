// Push groups in a cluster: the operator reads the signing key from a Secret and hands the
// group's policy to the brokers; the brokers owning the partitions push, report to the
// meta-server, and the ConsumerGroup's status shows EndpointHealthy, the rate and recent
// failures. Then kill -9 of the broker pushing a partition: the other broker continues, no
// acknowledged message is lost, and duplicates are only requests in flight (or acked but not
// yet stored) at the kill.
import { body, metricValue, unary } from '../broker/helpers';
import { condition, getGroup, kubectlApply } from '../operator/helpers';
import { groupManifest } from '../operator/fixture';
import type { PublishRequest__Input } from '../../../proto/gen/herald/v1/PublishRequest';
import type { PublishResponse } from '../../../proto/gen/herald/v1/PublishResponse';
import { waitFor } from '../wait';
import { startLeaseCluster } from '../leases/helpers';
import type { LeaseBroker, LeaseCluster } from '../leases/helpers';
import { startSubscriber } from './subscriber';
import type { Subscriber } from './subscriber';

jest.setTimeout(180_000);

const KEY = 'lease-mode-signing-key-0123456789';
const TOPIC = 'hooks';
let cluster: LeaseCluster;
let sub: Subscriber;

beforeAll(async () => {
  sub = await startSubscriber({ k1: KEY });
  const fast = { push: { reconcileIntervalMs: 200, ratePeriodMs: 200, heartbeatIntervalMs: 1000 } };
  cluster = await startLeaseCluster({
    prefix: 'push',
    brokers: 2,
    topics: [{ name: TOPIC, partitions: 2 }],
    brokerOverrides: [fast, fast],
  });
  await kubectlApply(
    cluster.ns.name,
    `apiVersion: v1
kind: Secret
metadata: {name: hook-key}
stringData: {secret: ${KEY}}
`,
  );
  await kubectlApply(
    cluster.ns.name,
    groupManifest({
      name: 'hook',
      topic: TOPIC,
      spec: `retry: {delaysSeconds: [1], maxRetries: 20}, push: {url: "${sub.url}/hook", timeoutMs: 2000, signingSecretRef: {name: hook-key, keyId: k1}}`,
    }),
  );
});

afterAll(async () => {
  await cluster?.stop();
  await sub?.close();
});

function publish(b: LeaseBroker, req: PublishRequest__Input): Promise<PublishResponse> {
  return unary(b.clients.broker.Publish.bind(b.clients.broker), req);
}

/** A publish retried while the partition's new owner is still loading it. */
function publishWhenServed(b: LeaseBroker, req: PublishRequest__Input): Promise<PublishResponse> {
  return waitFor(`a publish to ${req.topic}/${String(req.partition)}`, () => publish(b, req), {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
}

const hookStatus = async () => (await getGroup(cluster.ns.name, 'hook')).status;

test('pushed through the owners, with EndpointHealthy, the rate and recent failures in the status', async () => {
  sub.behaviours.set('/hook', () => ({ status: 200 }));
  const b0 = cluster.brokers[0];
  await cluster.waitAssigned(TOPIC, ['b0', 'b1']);
  for (const partition of [0, 1])
    await publishWhenServed(b0, { topic: TOPIC, partition, messages: [body(`first-${partition}`)] });
  await waitFor('both pushed', () =>
    Promise.resolve(sub.received.filter((r) => r.status === 200).length >= 2 ? true : undefined),
  );
  expect(sub.badSignatures()).toBe(0);
  const healthy = await waitFor('EndpointHealthy True with both partitions', async () => {
    const s = await hookStatus();
    return condition(s ? { status: s } : {}, 'EndpointHealthy')?.status === 'True' &&
      s?.push?.partitions?.length === 2
      ? s
      : undefined;
  });
  expect(healthy.push?.rate).toBeGreaterThan(0);
  expect(healthy.push?.partitions?.map((p) => p.partition)).toEqual([0, 1]);
  // Steady: over more than one 5 s resync the group's status is not rewritten, and its Secret
  // comes from the operator's watch (no list request meanwhile, no GET at all).
  await waitFor('no lag in the status', async () =>
    (await hookStatus())?.totalLag === 0 ? true : undefined,
  );
  const secretLists = () =>
    metricValue(cluster.operator.metricsAddress, 'herald_operator_list_requests_total{kind="Secret"}');
  const listsBefore = await secretLists();
  expect(listsBefore).toBeGreaterThan(0);
  const version = (await getGroup(cluster.ns.name, 'hook')).metadata?.resourceVersion;
  await new Promise((resolve) => setTimeout(resolve, 6000));
  expect((await getGroup(cluster.ns.name, 'hook')).metadata?.resourceVersion).toBe(version);
  expect(await secretLists()).toBe(listsBefore);
  // A push group takes no consumers.
  const join = await cluster.meta
    .call((c, cb) => c.joinGroup({ namespace: cluster.ns.name, group: 'hook', consumerId: 'c1' }, cb))
    .catch((err: Error) => err);
  expect(String(join)).toContain('is a push group');

  sub.behaviours.set('/hook', () => ({ status: 503 }));
  await publishWhenServed(b0, { topic: TOPIC, partition: 0, messages: [body('refused')] });
  const failing = await waitFor('EndpointHealthy False with the failure', async () => {
    const s = await hookStatus();
    const c = condition(s ? { status: s } : {}, 'EndpointHealthy');
    return c?.status === 'False' && (s?.push?.recentFailures?.length ?? 0) > 0 ? { s, c } : undefined;
  });
  expect(['EndpointFailing', 'EndpointDown']).toContain(failing.c.reason);
  expect(failing.s?.push?.recentFailures?.[0]).toMatchObject({
    partition: 0,
    status: 503,
    error: 'HTTP 503',
  });
  sub.behaviours.set('/hook', () => ({ status: 200 }));
  await waitFor('the refused message delivered after all', () =>
    Promise.resolve(
      sub.received.some((r) => r.body.toString() === 'refused' && r.status === 200) ? true : undefined,
    ),
  );
});

test('kill -9 of the broker pushing a partition: the other continues; nothing acknowledged is lost', async () => {
  // Answers take 30 ms, so requests are in flight at the kill.
  sub.behaviours.set('/hook', () => ({ status: 200, delayMs: 30 }));
  const routes = await cluster.waitAssigned(TOPIC, ['b0', 'b1']);
  const victimId = routes.find((r) => r.partition === 0)!.brokerId;
  const victim = cluster.brokers.find((b) => b.id === victimId)!;
  const survivor = cluster.brokers.find((b) => b.id !== victimId)!;
  const published: string[] = [];
  let running = true;
  let killedAt = 0;
  // Publishes through the survivor (it forwards partition 0 to its owner while there is one).
  const producer = (async () => {
    for (let i = 0; running; i++) {
      const text = `load-${i}`;
      try {
        await publish(survivor, { topic: TOPIC, partition: i % 2, messages: [body(text)] });
        published.push(text);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  })();
  await waitFor('load pushed to partition 0', () =>
    Promise.resolve(
      sub.received.filter(
        (r) => r.body.toString().startsWith('load-') && r.headers['herald-partition'] === '0',
      ).length >= 20
        ? true
        : undefined,
    ),
  );
  killedAt = Date.now();
  victim.process.child.kill('SIGKILL');
  await victim.process.exited;
  await cluster.waitAssigned(TOPIC, [survivor.id], 60_000);
  await waitFor('load pushed to partition 0 by the survivor', () =>
    Promise.resolve(
      sub.received.some((r) => r.at > killedAt + 1000 && r.headers['herald-partition'] === '0')
        ? true
        : undefined,
    ),
  );
  running = false;
  await producer;
  await waitFor(
    'every acknowledged publish pushed with a 200',
    () => {
      const ok = new Set(sub.received.filter((r) => r.status === 200).map((r) => r.body.toString()));
      return Promise.resolve(published.every((p) => ok.has(p)) ? true : undefined);
    },
    { timeoutMs: 60_000 },
  );
  // Duplicates: a message pushed again by the new owner. Each must have been in flight at the
  // kill, or acknowledged within the offset commit interval (100 ms) before it.
  const first = new Map<string, number>();
  const duplicates: string[] = [];
  for (const r of sub.received.filter((x) => x.body.toString().startsWith('load-'))) {
    const id = String(r.headers['herald-message-id']);
    if (!first.has(id)) first.set(id, r.at);
    else duplicates.push(id);
  }
  const unexplained = [...new Set(duplicates)].filter((id) => first.get(id)! < killedAt - 1000);
  console.log(
    `push failover: ${published.length} published, ${new Set(duplicates).size} pushed twice (in flight or just acked at the kill)`,
  );
  expect(unexplained).toEqual([]);
  expect(sub.badSignatures()).toBe(0);
});
