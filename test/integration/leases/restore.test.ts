// Leader restore keeps topic and group features: two operator replicas, a priority Topic and a
// ConsumerGroup with a tagFilter, real brokers on MariaDB. Before the takeover the group gets
// priority messages first and only the tags it filters for; then the Topic and the group are
// paused (herald.dev/paused), so no controller reconciles them and the new leader knows them only
// from its restore, the leader is killed with SIGKILL, and a broker started after the takeover
// (it learns the topic and the group from the new leader alone) must deliver the same way.
import type { GetConsumerLeasesResponse } from '../../../proto/gen/herald/v1/GetConsumerLeasesResponse';
import type { GetRoutesResponse } from '../../../proto/gen/herald/v1/GetRoutesResponse';
import type { ListTopicsResponse } from '../../../proto/gen/herald/v1/ListTopicsResponse';
import { PAUSED_ANNOTATION } from '../../../operator/controllers/context';
import { api, body } from '../broker/helpers';
import type { LeaseBroker } from './helpers';
import { runTool } from '../exec';
import { startLeaseCluster, waitServing } from './helpers';
import type { LeaseCluster } from './helpers';

jest.setTimeout(240_000);

let cluster: LeaseCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
});

/** Publishes red, blue and a priority urgent; the group must get [urgent (priority), red]. */
async function priorityThenFiltered(b: LeaseBroker, round: string): Promise<void> {
  const c = api(b.clients);
  const where = { topic: 'orders', partition: 0 };
  await c.publish({
    ...where,
    messages: [
      { ...body(`red-${round}`), tags: ['red'] },
      { ...body(`blue-${round}`), tags: ['blue'] },
      { ...body(`urgent-${round}`), tags: ['urgent'], priority: true },
    ],
  });
  const got = await c.pull({ ...where, group: 'reds', maxMessages: 10, maxWaitMs: 5000 });
  expect(got.messages.map((m) => [m.body.toString(), m.priority])).toEqual([
    [`urgent-${round}`, true],
    [`red-${round}`, false],
  ]);
  await c.ack({ ...where, group: 'reds', offsets: got.messages.map((m) => m.offset) });
}

test('a new leader restores priority, storage and the group policy of paused objects', async () => {
  cluster = await startLeaseCluster({
    prefix: 'restore',
    brokers: 1,
    operators: 2,
    // Brokers renew well inside the lease even on a loaded machine: no ownership gap mid-round.
    brokerLeaseSeconds: 10,
    // Leader election shortened through the operator's own flags, so the takeover is quick.
    operatorArgs: [
      '--assignment-poll-ms',
      '500',
      '--lease-duration-ms',
      '6000',
      '--renew-deadline-ms',
      '4000',
      '--retry-period-ms',
      '1000',
    ],
    topics: [{ name: 'orders', partitions: 1, extra: '  priority: true' }],
    groups: [{ name: 'reds', topic: 'orders', spec: "tagFilter: 'red || urgent'" }],
  });
  const { fixture } = cluster;
  const ns = cluster.ns.name;
  const b0 = cluster.brokers[0];
  await waitServing(b0, 'orders', 0);
  await priorityThenFiltered(b0, 'before');

  for (const kind of ['topic/orders', 'consumergroup/reds']) {
    const r = await runTool('kubectl', ['-n', ns, 'annotate', kind, `${PAUSED_ANNOTATION}=true`]);
    expect(r.stderr).toBe('');
  }
  const leader = await fixture.waitLeader();
  leader.child.kill('SIGKILL');
  await leader.exited;
  const next = await fixture.waitLeader(30_000);
  expect(next).not.toBe(leader);

  // What the new leader serves, from its restore only.
  const routes = await fixture.meta.call<GetRoutesResponse>((c, cb) =>
    c.getRoutes({ namespace: ns, topic: 'orders' }, cb),
  );
  expect(routes).toMatchObject({ priority: true, storage: 'mysql', delay: false, retentionHours: 168 });
  const listed = await fixture.meta.call<ListTopicsResponse>((c, cb) => c.listTopics({ namespace: ns }, cb));
  expect(listed.topics).toEqual([
    expect.objectContaining({ name: 'orders', priority: true, storage: 'mysql', groups: ['reds'] }),
  ]);
  const leases = await fixture.meta.call<GetConsumerLeasesResponse>((c, cb) =>
    c.getConsumerLeases({ namespace: ns, group: 'reds' }, cb),
  );
  expect(leases.policy).toMatchObject({ tagFilter: 'red || urgent', maxRetries: 16, deadLetter: true });

  // A broker that knows nothing from before: b0 leaves (releasing its lease), b1 takes over.
  b0.clients.close();
  b0.process.child.kill('SIGTERM');
  await b0.process.exited;
  const b1 = await cluster.addBroker('b1');
  await waitServing(b1, 'orders', 0);
  await priorityThenFiltered(b1, 'after');
});
