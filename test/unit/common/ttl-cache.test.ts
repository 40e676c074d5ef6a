import { TtlCache } from '../../../common/ttl-cache';

function fixture() {
  let clock = 1000;
  const calls: string[] = [];
  let fail = false;
  const cache = new TtlCache<string>(
    (key) => {
      calls.push(key);
      return fail ? Promise.reject(new Error('down')) : Promise.resolve(`${key}@${clock}`);
    },
    100,
    () => clock,
  );
  return {
    cache,
    calls,
    tick: (ms: number) => (clock += ms),
    failing: (f: boolean) => (fail = f),
  };
}

test('answers from the cache until the time to live, counted from when the fetch was sent', async () => {
  const f = fixture();
  expect(await f.cache.get('a')).toBe('a@1000');
  f.tick(99);
  expect(await f.cache.get('a')).toBe('a@1000');
  f.tick(1);
  expect(await f.cache.get('a')).toBe('a@1100');
  expect(f.calls).toEqual(['a', 'a']);
});

test('concurrent callers share one fetch; refresh fetches even while fresh', async () => {
  const f = fixture();
  const [x, y] = await Promise.all([f.cache.get('a'), f.cache.get('a')]);
  expect([x, y]).toEqual(['a@1000', 'a@1000']);
  expect(f.calls).toEqual(['a']);
  await f.cache.refresh('a');
  expect(f.calls).toEqual(['a', 'a']);
});

test('a failed fetch caches nothing and the next call fetches again; delete forgets; peek never fetches', async () => {
  const f = fixture();
  expect(f.cache.peek('a')).toBeUndefined();
  f.failing(true);
  await expect(f.cache.get('a')).rejects.toThrow('down');
  expect(f.cache.peek('a')).toBeUndefined();
  f.failing(false);
  expect(await f.cache.get('a')).toBe('a@1000');
  expect(f.cache.peek('a')).toBe('a@1000');
  f.cache.delete('a');
  expect(f.cache.peek('a')).toBeUndefined();
  expect(f.calls).toEqual(['a', 'a']);
});

test('fresh answers synchronously while the time to live lasts, then undefined without fetching', async () => {
  const f = fixture();
  expect(f.cache.fresh('a')).toBeUndefined();
  await f.cache.get('a');
  f.tick(99);
  expect(f.cache.fresh('a')).toBe('a@1000');
  f.tick(1);
  expect(f.cache.fresh('a')).toBeUndefined();
  expect(f.calls).toEqual(['a']);
});
