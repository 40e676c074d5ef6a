// Proves the Kubernetes control plane is real: the scheduler places StatefulSet pods on kwok's
// fake nodes, which report them Ready, and the controller-manager garbage-collects dependents.
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { V1StatefulSet } from '@kubernetes/client-node';
import { testEnv, uniqueName } from '../env';
import { waitFor } from '../wait';

const kc = new KubeConfig();
kc.loadFromFile(testEnv().kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const namespace = uniqueName('smoke');

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await waitFor('the default service account', () =>
    core.readNamespacedServiceAccount({ name: 'default', namespace }).then(() => true),
  );
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace });
});

test('fake nodes span at least two zones and are Ready', async () => {
  const nodes = await core.listNode({ labelSelector: 'herald.dev/fake-node=true' });
  expect(nodes.items.length).toBeGreaterThanOrEqual(3);
  const zones = new Set(nodes.items.map((n) => n.metadata?.labels?.['topology.kubernetes.io/zone']));
  expect(zones.size).toBeGreaterThanOrEqual(2);
  for (const node of nodes.items) {
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('True');
  }
});

test('a 3-replica StatefulSet is scheduled onto kwok nodes and becomes Ready', async () => {
  const name = 'web';
  const labels = { app: name };
  const body: V1StatefulSet = {
    metadata: { name },
    spec: {
      replicas: 3,
      serviceName: name,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] },
      },
    },
  };
  await apps.createNamespacedStatefulSet({ namespace, body });
  const sts = await waitFor(
    'readyReplicas 3',
    async () => {
      const s = await apps.readNamespacedStatefulSet({ name, namespace });
      return s.status?.readyReplicas === 3 ? s : undefined;
    },
    { timeoutMs: 90_000 },
  );
  expect(sts.status?.readyReplicas).toBe(3);
  const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=web' });
  expect(pods.items).toHaveLength(3);
  const nodeNames = await core.listNode({ labelSelector: 'herald.dev/fake-node=true' });
  const fake = new Set(nodeNames.items.map((n) => n.metadata?.name));
  for (const pod of pods.items) {
    expect(fake.has(pod.spec?.nodeName)).toBe(true);
    expect(pod.status?.phase).toBe('Running');
  }
});

test('deleting an owner garbage-collects its dependents', async () => {
  const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
  await core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: {
        name: 'dependent',
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            name: 'owner',
            uid: owner.metadata?.uid ?? '',
            blockOwnerDeletion: true,
          },
        ],
      },
    },
  });
  await core.deleteNamespacedConfigMap({ name: 'owner', namespace, propagationPolicy: 'Background' });
  await waitFor('the dependent to be collected', async () => {
    const list = await core.listNamespacedConfigMap({ namespace, fieldSelector: 'metadata.name=dependent' });
    return list.items.length === 0 ? true : undefined;
  });
});
