// Finding the first row at or after a time in a table keyed by an increasing id whose time
// column grows with the id (message tables: published_at; trace events and commands: the
// write time). A binary search over the id range, each probe one primary-key seek, so no
// time index is needed. Ids may have holes: a probe returns the first row at or after an id.
// Pure apart from the probe, so it is unit-tested with an in-memory table.

export interface TimedRow {
  id: number;
  at: number;
}

/**
 * The first row with `at >= time` among ids lo..hi (inclusive), or undefined when there is
 * none. `probe(id)` is the first row with id >= `id`, undefined past the end.
 */
export async function firstAtOrAfter(
  lo: number,
  hi: number,
  time: number,
  probe: (id: number) => Promise<TimedRow | undefined>,
): Promise<TimedRow | undefined> {
  let found: TimedRow | undefined;
  while (lo <= hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const row = await probe(mid);
    if (row === undefined || row.id > hi) {
      // No row in mid..hi: the answer, if any, is below mid.
      hi = mid - 1;
    } else if (row.at >= time) {
      found = row;
      hi = mid - 1;
    } else {
      lo = row.id + 1;
    }
  }
  return found;
}
