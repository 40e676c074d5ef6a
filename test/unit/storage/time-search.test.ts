// firstAtOrAfter: the binary search behind offsetAtTime and the expiry of trace events and
// commands, against an in-memory table with holes and equal times.
import { firstAtOrAfter } from '../../../storage/time-search';
import type { TimedRow } from '../../../storage/time-search';

function table(rows: TimedRow[]) {
  let probes = 0;
  const probe = (id: number) => {
    probes++;
    return Promise.resolve(rows.find((r) => r.id >= id));
  };
  return { probe, probes: () => probes };
}

const rows: TimedRow[] = [
  { id: 3, at: 100 },
  { id: 4, at: 100 },
  { id: 9, at: 200 },
  { id: 10, at: 300 },
  { id: 20, at: 300 },
  { id: 21, at: 400 },
];

test.each([
  [0, 3],
  [100, 3],
  [101, 9],
  [200, 9],
  [250, 10],
  [300, 10],
  [400, 21],
])('the first row at or after %d is id %d', async (time, id) => {
  const t = table(rows);
  expect((await firstAtOrAfter(3, 21, time, t.probe))?.id).toBe(id);
});

test('nothing at or after the time: undefined', async () => {
  const t = table(rows);
  expect(await firstAtOrAfter(3, 21, 401, t.probe)).toBeUndefined();
});

test('an empty range: undefined without probing', async () => {
  const t = table(rows);
  expect(await firstAtOrAfter(5, 4, 0, t.probe)).toBeUndefined();
  expect(t.probes()).toBe(0);
});

test('rows past hi are not considered', async () => {
  const t = table(rows);
  expect(await firstAtOrAfter(3, 10, 400, t.probe)).toBeUndefined();
});

test('a million ids take about log2 probes', async () => {
  let probes = 0;
  const found = await firstAtOrAfter(1, 1_000_000, 7_777_775, (id) => {
    probes++;
    return Promise.resolve(id <= 1_000_000 ? { id, at: id * 10 } : undefined);
  });
  expect(found?.id).toBe(777_778);
  expect(probes).toBeLessThanOrEqual(21);
});
