// A ConsumerGroup's delivery policy in lease mode: the operator passes the spec to brokers
// through the meta-server, so a broker filters by the group's tagFilter, dead-letters after
// its maxRetries, and refuses reads of a group whose filter does not parse, which the operator
// reports on the ConsumerGroup. Also the Topic's priority reaches the brokers through GetRoutes.
import { status } from '@grpc/grpc-js';
import { api, body, failure } from '../broker/helpers';
import { condition, getGroup } from '../operator/helpers';
import { waitFor } from '../wait';
import { startLeaseCluster } from './helpers';
import type { LeaseCluster } from './helpers';

jest.setTimeout(180_000);

let cluster: LeaseCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
});

test('group policies and topic priority reach the brokers from the custom resources', async () => {
  cluster = await startLeaseCluster({
    prefix: 'gp',
    brokers: 1,
    topics: [{ name: 'orders', partitions: 1, extra: '  priority: true' }],
    groups: [
      {
        name: 'reds',
        topic: 'orders',
        spec: "tagFilter: 'red || urgent', retry: {delaysSeconds: [0], maxRetries: 0}",
      },
      { name: 'broken', topic: 'orders', spec: "tagFilter: '(red'" },
    ],
  });
  const c = api(cluster.brokers[0].clients);
  const where = { topic: 'orders', partition: 0 };
  await c.publish({
    ...where,
    messages: [
      { ...body('red'), tags: ['red'] },
      { ...body('blue'), tags: ['blue'] },
      { ...body('urgent'), tags: ['urgent'], priority: true },
    ],
  });

  const got = await c.pull({ ...where, group: 'reds', maxMessages: 10, maxWaitMs: 5000 });
  expect(got.messages.map((m) => [m.body.toString(), m.priority])).toEqual([
    ['urgent', true],
    ['red', false],
  ]);
  await c.nack({ ...where, group: 'reds', offsets: [1], error: 'no' });
  const letters = await c.listDeadLetters({ filter: { topic: 'orders', group: 'reds' } });
  expect(letters.deadLetters.map((l) => [l.message!.offset, l.attempts, l.lastError])).toEqual([
    [1, 1, 'no'],
  ]);

  const refused = await failure(c.pull({ ...where, group: 'broken', maxWaitMs: 0 }));
  expect(refused.code).toBe(status.INVALID_ARGUMENT);
  expect(refused.info).toMatchObject({ reason: 'INVALID_REQUEST', metadata: { field: 'tagFilter' } });
  const ns = cluster.ns.name;
  const group = await waitFor('TagFilterValid=False on broken', async () => {
    const g = await getGroup(ns, 'broken');
    return condition(g, 'TagFilterValid')?.status === 'False' ? g : undefined;
  });
  expect(condition(group, 'TagFilterValid')).toMatchObject({ reason: 'InvalidTagFilter' });
  expect(condition(await getGroup(ns, 'reds'), 'TagFilterValid')?.status).toBe('True');
});
