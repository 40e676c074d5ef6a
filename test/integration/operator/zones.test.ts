// Zones of brokers that cannot see their own: a broker pod learns nothing of its node's labels
// through the downward API, so the meta-server looks the zone up from the pod named after the
// broker and its node. The pods here are the pool's real StatefulSet pods, placed by the
// scheduler on kwok nodes in three zones.
import type { BrokerLeaseClient } from '../../../common/meta-client';
import { MetaConnection } from '../../../common/meta-client';
import type { GetRoutesResponse } from '../../../proto/gen/herald/v1/GetRoutesResponse';
import { waitFor } from '../wait';
import { leasesLine, startOperatorFixture } from './fixture';
import type { OperatorFixture } from './fixture';
import { fakeBroker, kube, poolManifest } from './helpers';
import type { OperatorProcess, TestNamespace } from './helpers';

let fixture: OperatorFixture | undefined;
let ns: TestNamespace;
let operator: OperatorProcess;
const brokers: BrokerLeaseClient[] = [];

beforeAll(async () => {
  fixture = await startOperatorFixture({
    prefix: 'zones',
    pool: poolManifest('default', leasesLine({ brokerSeconds: 4, safetyMarginSeconds: 1 })),
    topics: [{ name: 'orders', partitions: 6 }],
  });
  ns = fixture.ns;
  operator = fixture.operators[0]!;
});

afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop({ release: false })));
  await fixture?.stop();
});

test("a broker that gives no zone is routed with its pod's node's zone", async () => {
  const { core } = kube();
  const pods = await waitFor('the pool’s three broker pods on nodes', async () => {
    const list = await core.listNamespacedPod({ namespace: ns.name });
    const placed = list.items.filter((p) => p.spec?.nodeName);
    return placed.length === 3 ? placed : undefined;
  });
  const nodes = await core.listNode({ labelSelector: 'herald.dev/fake-node=true' });
  const zoneOfNode = new Map(
    nodes.items.map((n) => [n.metadata?.name, n.metadata?.labels?.['topology.kubernetes.io/zone']]),
  );
  const expected = new Map(pods.map((p) => [p.metadata?.name ?? '', zoneOfNode.get(p.spec?.nodeName) ?? '']));
  // A broker with no pod of its name: its zone stays unknown.
  expected.set('outside-0', '');
  for (const id of expected.keys()) brokers.push(fakeBroker([operator.metaAddress], ns.name, id));

  const meta = new MetaConnection([operator.metaAddress]);
  const routes = await waitFor('every partition routed to one of the four brokers', async () => {
    const r = await meta.call<GetRoutesResponse>((c, cb) =>
      c.getRoutes({ namespace: ns.name, topic: 'orders' }, cb),
    );
    const served = r.routes.filter((x) => x.brokerId !== '');
    return served.length === 6 && new Set(served.map((x) => x.brokerId)).size === 4 ? r.routes : undefined;
  });
  for (const route of routes) {
    expect({ broker: route.brokerId, zone: route.zone }).toEqual({
      broker: route.brokerId,
      zone: expected.get(route.brokerId),
    });
  }
  // The scheduler spread the pods, so the routes name more than one zone.
  expect(new Set(routes.map((r) => r.zone).filter(Boolean)).size).toBeGreaterThan(1);
  meta.close();
});
