import { PublishBudget } from '../../../broker/publish/publish-budget';

test('a unary publish is taken only while it fits under the limit', () => {
  const seen: number[] = [];
  const b = new PublishBudget(100, (n) => seen.push(n));
  expect(b.tryTake(60)).toBe(true);
  expect(b.tryTake(41)).toBe(false);
  expect(b.bytes).toBe(60);
  expect(b.tryTake(40)).toBe(true);
  expect(b.full).toBe(true);
  expect(b.tryTake(1)).toBe(false);
  b.release(60);
  expect(b.full).toBe(false);
  expect(b.tryTake(60)).toBe(true);
  expect(seen).toEqual([60, 100, 40, 100]);
});

test('a stream request already read is taken over the limit, and the budget reports it full', () => {
  const b = new PublishBudget(100);
  b.take(90);
  expect(b.full).toBe(false);
  b.take(30);
  expect(b.bytes).toBe(120);
  expect(b.full).toBe(true);
  // Nothing unary fits until enough is released.
  b.release(10);
  expect(b.full).toBe(true);
  expect(b.tryTake(1)).toBe(false);
});

test('waiters are called once the budget has room again, each once, and at once when it has', () => {
  const b = new PublishBudget(100);
  const woke: string[] = [];
  b.whenRoom(() => woke.push('now'));
  expect(woke).toEqual(['now']);
  b.take(150);
  b.whenRoom(() => woke.push('a'));
  b.whenRoom(() => woke.push('b'));
  b.release(40); // 110: still full
  expect(woke).toEqual(['now']);
  b.release(20); // 90: room
  expect(woke).toEqual(['now', 'a', 'b']);
  b.release(90);
  expect(woke).toEqual(['now', 'a', 'b']);
});

test('a waiter that fills the budget again leaves the later waiters of the same release woken', () => {
  // Every stream waiting gets to read again; each re-checks the budget after its next request.
  const b = new PublishBudget(10);
  b.take(10);
  const woke: number[] = [];
  b.whenRoom(() => {
    woke.push(1);
    b.take(10);
  });
  b.whenRoom(() => woke.push(2));
  b.release(10);
  expect(woke).toEqual([1, 2]);
  expect(b.full).toBe(true);
});
