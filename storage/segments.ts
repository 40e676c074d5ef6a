// Segment arithmetic for retention by whole segments, as pure functions (the MySQL adapter
// runs them as table partitions, storage/mysql/sql-segments.ts; the memory adapter keeps the
// same list). Offsets start at 1; with segment size S the aligned segments hold k*S+1 .. (k+1)*S.

/** One partition of a message table: offsets from..to (to is Infinity for the tail). */
export interface Segment {
  name: string;
  from: number;
  to: number;
}

/**
 * Partitions as information_schema lists them, in order: bound is 'MAXVALUE' for the tail.
 * The first one starts where its name says (segments below it were dropped), else at 1.
 */
export function segmentsOf(partitions: { name: string; bound: string }[]): Segment[] {
  let from = Number(/^p(\d+)_\d+$/.exec(partitions[0]?.name ?? '')?.[1] ?? 1);
  return partitions.map((p) => {
    const to = p.bound === 'MAXVALUE' ? Infinity : Number(p.bound) - 1;
    const s = { name: p.name, from, to };
    from = to + 1;
    return s;
  });
}

/**
 * The segments to split off a tail starting at `tailFrom` so that at least two empty aligned
 * segments lie wholly above endOffset. Empty when there already are. The first new segment
 * runs from tailFrom to the next aligned bound (it holds rows only the first time, when the
 * table still is one partition, or after a change of segment size).
 */
export function planSplit(tailFrom: number, endOffset: number, size: number): Segment[] {
  const nextFrom = Math.floor(endOffset / size) * size + 1 + (endOffset % size === 0 ? 0 : size);
  const bounds = [nextFrom, nextFrom + size, nextFrom + 2 * size].filter((b) => b > tailFrom);
  const out: Segment[] = [];
  let from = tailFrom;
  for (const b of bounds) {
    out.push({ name: `p${from}_${b - 1}`, from, to: b - 1 });
    from = b;
  }
  return out;
}

/**
 * The bounded segments a new partition starts with (then the tail): what planSplit keeps ahead
 * of an empty partition, laid out when the partition is created so that no DDL splits it while
 * it is written to.
 */
export function initialSegments(size: number): Segment[] {
  return planSplit(1, 0, size);
}

/**
 * The segments retention may drop, oldest first: bounded ones wholly below endOffset. The
 * segment holding endOffset stays, so the partition's highest offset (which a new owner
 * reads to continue numbering) is never dropped.
 */
export function droppable(segments: Segment[], endOffset: number): Segment[] {
  return segments.filter((s) => s.to !== Infinity && s.to < endOffset);
}
