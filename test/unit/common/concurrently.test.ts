import { forEachConcurrently } from '../../../common/concurrently';

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('runs every item, never more than the limit at once', async () => {
  let running = 0;
  let peak = 0;
  const done: number[] = [];
  await forEachConcurrently([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await tick();
    await tick();
    running--;
    done.push(n);
  });
  expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(peak).toBe(3);
});

test('a failure rejects after the running items settle, and starts nothing more', async () => {
  const started: number[] = [];
  let settled = 0;
  const run = forEachConcurrently([1, 2, 3, 4, 5, 6], 2, async (n) => {
    started.push(n);
    await tick();
    if (n === 2) throw new Error('boom');
    await tick(); // item 1 is still running when item 2 fails
    settled++;
  });
  await expect(run).rejects.toThrow('boom');
  expect(started).toEqual([1, 2]);
  expect(settled).toBe(1); // item 1 finished before the call rejected
});

test('no items: resolves at once', async () => {
  await expect(forEachConcurrently([], 4, () => Promise.reject(new Error('never')))).resolves.toBeUndefined();
});
