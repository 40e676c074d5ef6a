import type { CoreV1Api } from '@kubernetes/client-node';
import { silentLogger } from '../../../common/logger';
import { EventRecorder } from '../../../operator/controllers/events';

/** A CoreV1Api that keeps what the recorder asks of it. */
function fakeCore(failCreates = 0) {
  const calls: { verb: 'create' | 'patch'; name: string; count: number }[] = [];
  const core = {
    createNamespacedEvent: (req: { body: { metadata: { name: string }; count: number } }) => {
      calls.push({ verb: 'create', name: req.body.metadata.name, count: req.body.count });
      return failCreates-- > 0 ? Promise.reject(new Error('apiserver away')) : Promise.resolve({});
    },
    patchNamespacedEvent: (req: { name: string; body: { count: number } }) => {
      calls.push({ verb: 'patch', name: req.name, count: req.body.count });
      return Promise.resolve({});
    },
  } as unknown as CoreV1Api;
  return { core, calls };
}

const group = {
  apiVersion: 'herald.dev/v1alpha1',
  kind: 'ConsumerGroup',
  metadata: { name: 'workers', namespace: 'ns', uid: 'u1' },
};

test('the same event again (a reconcile on a stale cache) raises the count of the first instead of a second event', async () => {
  const { core, calls } = fakeCore();
  const events = new EventRecorder(core, silentLogger);
  await events.record(group, 'Warning', 'ConsumersOffline', '0 of at least 2 consumers online');
  await events.record(group, 'Warning', 'ConsumersOffline', '0 of at least 2 consumers online');
  await events.record(group, 'Warning', 'ConsumersOffline', 'another message');
  expect(calls.map((c) => [c.verb, c.count])).toEqual([
    ['create', 1],
    ['patch', 2],
    ['create', 1],
  ]);
  expect(calls[1].name).toBe(calls[0].name);
  expect(calls[2].name).not.toBe(calls[0].name);
});

test('an event whose creation failed is created anew the next time', async () => {
  const { core, calls } = fakeCore(1);
  const events = new EventRecorder(core, silentLogger);
  await events.record(group, 'Warning', 'LagAlert', 'lag 5000');
  await events.record(group, 'Warning', 'LagAlert', 'lag 5000');
  expect(calls.map((c) => c.verb)).toEqual(['create', 'create']);
});
