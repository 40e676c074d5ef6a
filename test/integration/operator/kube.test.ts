// The operator's Kubernetes machinery against the real apiserver: leader election on a
// coordination.k8s.io Lease (MicroTime with 6 digits, expiry judged from local observation,
// release on stop), the reflector's relist and watchdog, and loadKubeConfig's reused connections.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { CoreV1Api, KubeConfig, KubernetesObjectApi, V1MicroTime, Watch } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../../common/kube/config';
import { silentLogger } from '../../../common/logger';
import { LeaderElector } from '../../../operator/kube/leader-election';
import { Reflector } from '../../../common/kube/reflector';
import { runTool } from '../exec';
import { waitFor } from '../wait';
import { startOperatorFixture } from './fixture';
import type { OperatorFixture } from './fixture';
import { testEnv } from '../env';
import { kube } from './helpers';
import type { TestNamespace } from './helpers';

let fixture: OperatorFixture | undefined;
let ns: TestNamespace;

// The operator's Kubernetes building blocks alone: no operator, no pool.
beforeAll(async () => {
  fixture = await startOperatorFixture({ prefix: 'kube', operators: 0, pool: false });
  ns = fixture.ns;
});

afterAll(async () => {
  await fixture?.stop();
});

function elector(identity: string, name = 'election') {
  const events: string[] = [];
  const e = new LeaderElector(
    {
      api: kube().coordination,
      namespace: ns.name,
      name,
      identity,
      address: `${identity}:7700`,
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 500,
      logger: silentLogger,
    },
    { onStartedLeading: () => events.push('started'), onStoppedLeading: () => events.push('stopped') },
  );
  return { e, events };
}

test('one leader at a time; MicroTime renewals; a stopping leader hands over at once', async () => {
  const a = elector('a');
  a.e.start();
  await waitFor('a leads', () => Promise.resolve(a.e.isLeader ? true : undefined));
  const b = elector('b');
  b.e.start();
  await waitFor('b sees a', () => Promise.resolve(b.e.currentLeader()?.identity === 'a' ? true : undefined));
  expect(b.e.currentLeader()).toEqual({ identity: 'a', address: 'a:7700' });
  expect(b.e.isLeader).toBe(false);

  const raw = await runTool('kubectl', [
    '-n',
    ns.name,
    'get',
    'lease',
    'election',
    '-o',
    'jsonpath={.spec.renewTime}',
  ]);
  expect(raw.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

  const stoppedAt = Date.now();
  await a.e.stop();
  expect(a.events).toEqual(['started', 'stopped']);
  await waitFor('b leads', () => Promise.resolve(b.e.isLeader ? true : undefined), { intervalMs: 20 });
  expect(Date.now() - stoppedAt).toBeLessThan(1_500); // released, not expired
  await b.e.stop();
});

test("a silent holder's lease is taken over only a lease duration after it was last seen to change", async () => {
  // A holder that died long ago by its renewTime: a newcomer still waits the full duration
  // from its own first observation, as client-go does (clock skew cannot shorten it).
  const { coordination } = kube();
  const old = new V1MicroTime(Date.now() - 3_600_000);
  await coordination.createNamespacedLease({
    namespace: ns.name,
    body: {
      metadata: { name: 'ghost' },
      spec: {
        holderIdentity: 'ghost',
        leaseDurationSeconds: 3,
        renewTime: old,
        acquireTime: old,
        leaseTransitions: 0,
      },
    },
  });
  const c = elector('c', 'ghost');
  const start = Date.now();
  c.e.start();
  await waitFor('c leads', () => Promise.resolve(c.e.isLeader ? true : undefined), { intervalMs: 20 });
  const waited = Date.now() - start;
  expect(waited).toBeGreaterThanOrEqual(3_000);
  expect(waited).toBeLessThan(4_500);
  const lease = await coordination.readNamespacedLease({ name: 'ghost', namespace: ns.name });
  expect(lease.spec?.leaseTransitions).toBe(1);
  await c.e.stop();
});

test('the reflector reports changes and deletions, relists on schedule, and survives a silent watch', async () => {
  const { kc, core } = kube();
  const seen: { key: string; present: boolean }[] = [];
  const reflector = new Reflector<KubernetesObject>({
    kc,
    objects: KubernetesObjectApi.makeApiClient(kc),
    type: { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' },
    namespace: ns.name,
    labelSelector: 'test=reflector',
    relistMs: 3_000,
    // Nothing happens in this namespace between the steps, so the watchdog fires too.
    watchdogMs: 1_000,
    logger: silentLogger,
    onChange: (key, obj) => seen.push({ key, present: obj !== undefined }),
  });
  const body = (name: string) => ({ metadata: { name, labels: { test: 'reflector' } }, data: { a: '1' } });
  await core.createNamespacedConfigMap({ namespace: ns.name, body: body('one') });
  reflector.start();
  await waitFor('synced', () => Promise.resolve(reflector.hasSynced ? true : undefined));
  expect(reflector.get(`${ns.name}/one`)?.metadata?.name).toBe('one');

  await core.createNamespacedConfigMap({ namespace: ns.name, body: body('two') });
  await waitFor('two reported', () => Promise.resolve(reflector.get(`${ns.name}/two`) ? true : undefined));
  await core.deleteNamespacedConfigMap({ name: 'one', namespace: ns.name });
  await waitFor('one gone', () =>
    Promise.resolve(seen.some((s) => s.key === `${ns.name}/one` && !s.present) ? true : undefined),
  );
  expect(reflector.get(`${ns.name}/one`)).toBeUndefined();

  // Relists report every cached object again, so a missed event is never fatal.
  const before = seen.filter((s) => s.key === `${ns.name}/two`).length;
  await waitFor('a relist', () =>
    Promise.resolve(seen.filter((s) => s.key === `${ns.name}/two`).length >= before + 2 ? true : undefined),
  );
  // Still watching after the restarts: a change made now arrives.
  await core.createNamespacedConfigMap({ namespace: ns.name, body: body('three') });
  await waitFor('three reported', () =>
    Promise.resolve(reflector.get(`${ns.name}/three`) ? true : undefined),
  );
  await reflector.stop();
});

test("loadKubeConfig's clients reuse their connections to the apiserver; the library's own open one per call", async () => {
  /** Distinct sockets that carried the responses of 10 sequential reads and a watch's start on kc. */
  const connections = async (kc: KubeConfig) => {
    const sockets = new Set<unknown>();
    const count = (message: unknown) =>
      sockets.add((message as { response: { socket: unknown } }).response.socket);
    subscribe('http.client.response.finish', count);
    try {
      const core = kc.makeApiClient(CoreV1Api);
      for (let i = 0; i < 10; i++) await core.listNamespacedConfigMap({ namespace: ns.name });
      const watching = await new Watch(kc).watch(
        `/api/v1/namespaces/${ns.name}/configmaps`,
        {},
        () => undefined,
        () => undefined,
      );
      watching.abort();
      await core.readNamespace({ name: ns.name });
    } finally {
      unsubscribe('http.client.response.finish', count);
    }
    return sockets.size;
  };
  const plain = new KubeConfig();
  plain.loadFromFile(testEnv().kubeconfig);
  expect(await connections(plain)).toBeGreaterThanOrEqual(11);
  // The watch holds its own connection while it runs; every read shares one.
  expect(await connections(loadKubeConfig(testEnv().kubeconfig))).toBeLessThanOrEqual(2);
});
