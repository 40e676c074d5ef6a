// The operator's apiserver write rate at steady state, with 100 topics x 16 partitions served by
// 3 brokers renewing their leases: at most one write per second.
//
// How it is measured: every write to an object makes the apiserver bump its resourceVersion
// and send one watch event (ADDED, MODIFIED or DELETED); a no-op request sends none. The test
// watches, from the current resourceVersion, every kind the operator writes in its namespace
// (its own Lease included, since the test operator keeps it there) and counts the events over
// a 30 s window. The apiserver's global apiserver_request_total for mutating verbs is printed
// alongside for context; it also counts other clients (controller-manager, kwok, other tests).
import { KubernetesObjectApi, Watch } from '@kubernetes/client-node';
import type { BrokerLeaseClient } from '../../../common/meta-client';
import { resourcePath } from '../../../common/kube/reflector';
import type { ResourceType } from '../../../common/kube/reflector';
import { runTool } from '../exec';
import { waitFor } from '../wait';
import { startOperatorFixture } from './fixture';
import type { OperatorFixture } from './fixture';
import { condition, fakeBroker, kube } from './helpers';
import type { OperatorProcess, TestNamespace } from './helpers';
import type { Topic } from '../../../operator/gen/crds';
import { TopicResource } from '../../../operator/gen/crds';

// These tests wait through several lease periods: longer than the integration default (120 s).
jest.setTimeout(900_000);

const TOPICS = 100;
const PARTITIONS = 16;
const WINDOW_MS = 30_000;

let fixture: OperatorFixture | undefined;
let ns: TestNamespace;
let operator: OperatorProcess;
const brokers: BrokerLeaseClient[] = [];

const WATCHED: ResourceType[] = [
  { apiVersion: 'herald.dev/v1alpha1', kind: 'Topic', plural: 'topics' },
  { apiVersion: 'herald.dev/v1alpha1', kind: 'BrokerPool', plural: 'brokerpools' },
  { apiVersion: 'herald.dev/v1alpha1', kind: 'ConsumerGroup', plural: 'consumergroups' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets' },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' },
  { apiVersion: 'v1', kind: 'Event', plural: 'events' },
  { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases' },
];

beforeAll(async () => {
  fixture = await startOperatorFixture({
    prefix: 'writes',
    operatorArgs: [],
    topics: Array.from({ length: TOPICS }, (_, i) => ({
      name: `t${String(i).padStart(3, '0')}`,
      partitions: PARTITIONS,
    })),
  });
  ns = fixture.ns;
  operator = fixture.operators[0]!;
  for (const id of ['b0', 'b1', 'b2']) brokers.push(fakeBroker([operator.metaAddress], ns.name, id));
});

afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop({ release: false })));
  await fixture?.stop();
});

/** apiserver_request_total summed over mutating verbs, from the apiserver's /metrics. */
async function mutatingRequests(): Promise<number> {
  const r = await runTool('kubectl', ['get', '--raw', '/metrics']);
  if (r.code !== 0) throw new Error(`kubectl get --raw /metrics: ${r.stderr}`);
  let total = 0;
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    if (!/verb="(POST|PUT|PATCH|DELETE|APPLY)"/.test(line)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

test(`steady state with ${TOPICS} topics x ${PARTITIONS} partitions on 3 brokers: at most 1 apiserver write per second`, async () => {
  const { kc, custom } = kube();
  await waitFor(
    `all ${TOPICS} topics Ready`,
    async () => {
      const list = (await custom.listNamespacedCustomObject({ ...TopicResource, namespace: ns.name })) as {
        items: Topic[];
      };
      const ready = list.items.filter((t) => condition(t, 'Ready')?.status === 'True').length;
      return ready === TOPICS ? true : undefined;
    },
    { timeoutMs: 600_000, intervalMs: 2_000 },
  );
  // Balanced and settled: every broker holds its share of all 1600 partitions.
  await waitFor(
    'brokers to hold all partitions',
    () => {
      const held = brokers.map((b) => b.owned().length);
      const total = held.reduce((a, b) => a + b, 0);
      return Promise.resolve(
        total === TOPICS * PARTITIONS && Math.max(...held) - Math.min(...held) <= 1 ? held : undefined,
      );
    },
    { timeoutMs: 120_000 },
  );

  const objects = KubernetesObjectApi.makeApiClient(kc);
  const writes = new Map<string, number>();
  const aborts: AbortController[] = [];
  for (const type of WATCHED) {
    const list = await objects.list(type.apiVersion, type.kind, ns.name);
    const rv = list.metadata?.resourceVersion ?? '';
    aborts.push(
      await new Watch(kc).watch(
        resourcePath(type, ns.name),
        { resourceVersion: rv, allowWatchBookmarks: true },
        (phase: string, obj: { metadata?: { name?: string } }) => {
          if (phase === 'BOOKMARK') return;
          const k = `${type.kind} ${phase} ${obj.metadata?.name ?? ''}`;
          writes.set(k, (writes.get(k) ?? 0) + 1);
        },
        () => undefined,
      ),
    );
  }
  let elapsed: number;
  let requests: number;
  try {
    const requestsBefore = await mutatingRequests();
    const start = Date.now();
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS)); // the measurement window itself
    elapsed = (Date.now() - start) / 1000;
    requests = (await mutatingRequests()) - requestsBefore;
  } finally {
    for (const a of aborts) a.abort();
  }
  const total = [...writes.values()].reduce((a, b) => a + b, 0);
  const rate = total / elapsed;
  const detail = [...writes].map(([k, n]) => `${k}: ${n}`).join('; ');
  process.stderr.write(
    `write rate: ${total} writes to the operator's objects in ${elapsed.toFixed(1)} s = ${rate.toFixed(3)}/s (${detail}); ` +
      `apiserver_request_total (all clients, mutating verbs) grew by ${requests} = ${(requests / elapsed).toFixed(2)}/s\n`,
  );
  expect(rate).toBeLessThanOrEqual(1);
});
