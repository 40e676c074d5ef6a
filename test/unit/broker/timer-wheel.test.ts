import { TimerWheel } from '../../../broker/delay/timer-wheel';

const T0 = 1_700_000_000_000; // a multiple of 100

function ids(entries: { id: number }[]): number[] {
  return entries.map((e) => e.id);
}

describe('TimerWheel', () => {
  it('fires an entry only after its tick has wholly passed, never early', () => {
    const w = new TimerWheel<string>(100, 10, T0);
    w.add({ id: 1, dueAt: T0 + 250, value: 'a' });
    expect(w.advance(T0 + 249)).toEqual([]);
    expect(w.advance(T0 + 299)).toEqual([]);
    expect(w.advance(T0 + 300)).toEqual([{ id: 1, dueAt: T0 + 250, value: 'a' }]);
    expect(w.size).toBe(0);
    expect(w.advance(T0 + 10_000)).toEqual([]);
  });

  it('an empty wheel advanced moves its bound: a later entry fires after its own tick, a past one at once', () => {
    const w = new TimerWheel<string>(100, 10, T0);
    expect(w.advance(T0 + 5_000)).toEqual([]);
    w.add({ id: 1, dueAt: T0 + 5_150, value: 'later' });
    w.add({ id: 2, dueAt: T0 + 1_000, value: 'past' });
    // The past entry waits for the current tick (T0+5000..5099) to pass, as in a non-empty wheel.
    expect(w.advance(T0 + 5_099)).toEqual([]);
    expect(ids(w.advance(T0 + 5_100))).toEqual([2]);
    expect(w.advance(T0 + 5_199)).toEqual([]);
    expect(ids(w.advance(T0 + 5_200))).toEqual([1]);
  });

  it('returns what fell due in one advance ordered by (dueAt, id)', () => {
    const w = new TimerWheel<null>(100, 8, T0);
    w.add({ id: 5, dueAt: T0 + 420, value: null });
    w.add({ id: 2, dueAt: T0 + 420, value: null });
    w.add({ id: 9, dueAt: T0 + 10, value: null });
    w.add({ id: 1, dueAt: T0 + 790, value: null });
    w.add({ id: 3, dueAt: T0 + 150, value: null });
    expect(ids(w.advance(T0 + 500))).toEqual([9, 3, 2, 5]);
    expect(ids(w.advance(T0 + 800))).toEqual([1]);
  });

  it('keeps entries more than one rotation ahead until their own tick passes', () => {
    const w = new TimerWheel<null>(100, 4, T0); // one rotation = 400 ms
    w.add({ id: 1, dueAt: T0 + 50, value: null });
    w.add({ id: 2, dueAt: T0 + 450, value: null }); // same slot, next rotation
    w.add({ id: 3, dueAt: T0 + 365 * 86_400_000, value: null }); // a year ahead
    expect(ids(w.advance(T0 + 100))).toEqual([1]);
    expect(ids(w.advance(T0 + 400))).toEqual([]);
    expect(ids(w.advance(T0 + 500))).toEqual([2]);
    expect(w.has(3)).toBe(true);
    expect(ids(w.advance(T0 + 365 * 86_400_000 - 1))).toEqual([]);
    expect(ids(w.advance(T0 + 365 * 86_400_000 + 100))).toEqual([3]);
  });

  it('fires everything due when advanced by more than a rotation at once', () => {
    const w = new TimerWheel<null>(100, 4, T0);
    for (let i = 0; i < 20; i++) w.add({ id: i, dueAt: T0 + i * 100 + 1, value: null });
    expect(ids(w.advance(T0 + 1000))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ids(w.advance(T0 + 2000))).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('fires entries added with a past due time once the current tick has passed', () => {
    const w = new TimerWheel<null>(100, 10, T0);
    expect(w.advance(T0 + 1000)).toEqual([]);
    w.add({ id: 7, dueAt: T0 - 5000, value: null });
    w.add({ id: 6, dueAt: T0 + 1050, value: null });
    expect(ids(w.advance(T0 + 1099))).toEqual([]);
    expect(ids(w.advance(T0 + 1100))).toEqual([7, 6]);
  });

  it('cancels entries and replaces an entry added again with the same id', () => {
    const w = new TimerWheel<string>(100, 10, T0);
    w.add({ id: 1, dueAt: T0 + 100, value: 'a' });
    w.add({ id: 2, dueAt: T0 + 100, value: 'b' });
    expect(w.cancel(1)).toBe(true);
    expect(w.cancel(1)).toBe(false);
    w.add({ id: 2, dueAt: T0 + 600, value: 'c' });
    expect(w.size).toBe(1);
    expect(w.advance(T0 + 300)).toEqual([]);
    expect(w.advance(T0 + 700)).toEqual([{ id: 2, dueAt: T0 + 600, value: 'c' }]);
  });

  it('clears every entry', () => {
    const w = new TimerWheel<null>(100, 10, T0);
    w.add({ id: 1, dueAt: T0 + 100, value: null });
    w.clear();
    expect(w.size).toBe(0);
    expect(w.has(1)).toBe(false);
    expect(w.advance(T0 + 1000)).toEqual([]);
  });

  it('rejects a bad tick or slot count', () => {
    expect(() => new TimerWheel(0, 10, T0)).toThrow(/tickMs/);
    expect(() => new TimerWheel(100, 0, T0)).toThrow(/slotCount/);
  });
});
