import { ItemBackoff, TokenBucket } from '../../../operator/kube/rate-limit';
import { WorkQueue } from '../../../operator/kube/work-queue';
import { setCondition } from '../../../operator/reconcile/conditions';
import { isSubset, sameJson } from '../../../operator/reconcile/diff';

test('isSubset ignores fields only the actual object has, and compares arrays element-wise', () => {
  const actual = {
    metadata: { name: 'x', uid: 'u', labels: { a: '1' } },
    spec: { ports: [{ port: 1, protocol: 'TCP' }] },
  };
  expect(isSubset({ metadata: { labels: { a: '1' } }, spec: { ports: [{ port: 1 }] } }, actual)).toBe(true);
  expect(isSubset({ metadata: { labels: { a: '2' } } }, actual)).toBe(false);
  expect(isSubset({ spec: { ports: [{ port: 1 }, { port: 2 }] } }, actual)).toBe(false);
  expect(isSubset({ spec: { replicas: 3 } }, actual)).toBe(false);
  expect(isSubset({ spec: { ports: { port: 1 } } }, actual)).toBe(false);
});

test('sameJson ignores key order and undefined fields', () => {
  expect(sameJson({ a: 1, b: [1, { c: 2 }], d: undefined }, { b: [1, { c: 2 }], a: 1 })).toBe(true);
  expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
});

test('conditions keep lastTransitionTime while the status stays', () => {
  const t0 = new Date('2026-01-01T00:00:00.123Z');
  const t1 = new Date('2026-01-01T00:01:00Z');
  const a = setCondition([], { type: 'Ready', status: 'False', reason: 'Provisioning', message: '' }, 1, t0);
  expect(a).toEqual([
    {
      type: 'Ready',
      status: 'False',
      reason: 'Provisioning',
      message: '',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 1,
    },
  ]);
  const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'Waiting', message: 'm' }, 2, t1);
  expect(b[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
  expect(b[0]?.observedGeneration).toBe(2);
  const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, 2, t1);
  expect(c[0]?.lastTransitionTime).toBe('2026-01-01T00:01:00Z');
  const d = setCondition(c, { type: 'Assigned', status: 'True', reason: 'x', message: '' }, 2, t1);
  expect(d.map((x) => x.type)).toEqual(['Assigned', 'Ready']);
});

test('per-item backoff doubles from 5 ms to 1000 s and resets on forget', () => {
  const b = new ItemBackoff();
  expect([1, 2, 3, 4].map(() => b.next('k'))).toEqual([5, 10, 20, 40]);
  for (let i = 0; i < 40; i++) b.next('k');
  expect(b.next('k')).toBe(1_000_000);
  b.forget('k');
  expect(b.next('k')).toBe(5);
  expect(b.next('other')).toBe(5);
});

test('the token bucket allows a burst, then spaces tokens at its rate', () => {
  const bucket = new TokenBucket(10, 3, 0);
  expect([0, 0, 0].map(() => bucket.reserve(0))).toEqual([0, 0, 0]);
  expect(bucket.reserve(0)).toBe(100);
  expect(bucket.reserve(0)).toBe(200);
  expect(bucket.reserve(1_000)).toBe(0);
});

test('the work queue deduplicates keys and never hands one key to two workers', async () => {
  const q = new WorkQueue();
  q.add('a');
  q.add('b');
  q.add('a');
  expect(q.length).toBe(2);
  const first = await q.next();
  expect(first).toBe('a');
  q.add('a'); // while processing: queued again only after done
  expect(await q.next()).toBe('b');
  expect(q.length).toBe(0);
  q.done('a');
  expect(await q.next()).toBe('a');
  q.done('a');
  q.done('b');
  const waiting = q.next();
  q.add('c');
  expect(await waiting).toBe('c');
  q.shutdown();
  expect(await q.next()).toBeUndefined();
});

test('addAfter keeps the earliest time, and rate-limited retries back off', async () => {
  let now = 0;
  const q = new WorkQueue({ now: () => now, bucket: new TokenBucket(1000, 1000, 0) });
  expect(q.addRateLimited('k')).toBe(5);
  now = 1;
  expect(q.addRateLimited('k')).toBe(10);
  expect(await q.next()).toBe('k'); // the 5 ms timer fired first; the later one was dropped
  q.done('k');
  q.forget('k');
  expect(q.addRateLimited('k')).toBe(5);
  q.shutdown();
});
