import { SeriesStore } from '../../../../operator/console/series';

test('a ring keeps the newest samples, merges samples closer than the interval, and forgets old keys', () => {
  const store = new SeriesStore({ samples: 3, keys: 2, minIntervalMs: 1000 });
  for (let i = 0; i < 5; i++) store.record('g', { t: i * 1000, endOffset: [i], lag: [i * 2] });
  expect(store.get('g')).toEqual({ t: [2000, 3000, 4000], endOffset: [[2], [3], [4]], lag: [[4], [6], [8]] });
  // Two callers a moment apart: one sample, the later one.
  store.record('g', { t: 4500, endOffset: [9], lag: [0] });
  expect(store.get('g').t).toEqual([2000, 3000, 4500]);
  store.record('h', { t: 0, endOffset: [], lag: [] });
  store.record('g', { t: 6000, endOffset: [1], lag: [1] });
  store.record('k', { t: 0, endOffset: [], lag: [] });
  // h was written least recently: it went first.
  expect(store.get('h')).toEqual({ t: [], endOffset: [], lag: [] });
  expect(store.get('g').t).toEqual([3000, 4500, 6000]);
});
