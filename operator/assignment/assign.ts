// Assignment of one unit's partitions (a topic's, to brokers; a group's, to consumers). Pure.
//
// - Balanced: member i gets floor or ceil of its share N * w_i / W, so loads per weight differ
//   by less than one partition from the exact share (equal weights: max - min <= 1). The
//   extra partitions of a unit go to the members with the least load in other units first, so
//   the total over many units stays balanced as well.
// - Sticky: a partition stays with its current live holder while that holder is within quota.
// - Zone-aware: a partition that must move goes to a member in its preferred zone when one
//   has room (RocketMQ's "nearby" rule).
// - Rate-limited: limitMoves applies at most N voluntary moves per step; partitions whose
//   holder is gone always move at once.

export interface Member {
  id: string;
  zone?: string;
  /** Relative capacity; a positive integer. */
  weight: number;
}

export interface AssignInput {
  partitions: number;
  members: readonly Member[];
  /** Partition -> the member holding it now (entries naming departed members are ignored). */
  current: ReadonlyMap<number, string>;
  /** The zone each partition would rather be served from (a consumer's broker, for example). */
  preferredZone?: (partition: number) => string | undefined;
  /** Partitions each member holds in other units; used to spread the remainders evenly. */
  load?: ReadonlyMap<string, number>;
}

/** How many partitions each member gets. */
export function quotas(input: AssignInput): Map<string, number> {
  const { partitions, members } = input;
  const result = new Map<string, number>();
  if (members.length === 0) return result;
  const total = members.reduce((sum, m) => sum + m.weight, 0);
  const held = countHolders(input);
  const shares = members.map((m) => {
    const exact = (partitions * m.weight) / total;
    const base = Math.floor(exact + 1e-9);
    result.set(m.id, base);
    return { m, base, frac: exact - base };
  });
  let remainder = partitions - shares.reduce((sum, s) => sum + s.base, 0);
  const load = (id: string) => input.load?.get(id) ?? 0;
  const extras = shares
    .filter((s) => s.frac > 1e-9)
    .sort(
      (a, b) =>
        load(a.m.id) / a.m.weight - load(b.m.id) / b.m.weight ||
        Number((held.get(b.m.id) ?? 0) > b.base) - Number((held.get(a.m.id) ?? 0) > a.base) ||
        b.frac - a.frac ||
        compare(a.m.id, b.m.id),
    );
  for (const s of extras) {
    if (remainder === 0) break;
    result.set(s.m.id, s.base + 1);
    remainder--;
  }
  return result;
}

/** The target assignment: every partition to one member, or an empty map without members. */
export function assign(input: AssignInput): Map<number, string> {
  const target = new Map<number, string>();
  if (input.members.length === 0) return target;
  const quota = quotas(input);
  const zoneOf = new Map(input.members.map((m) => [m.id, m.zone]));
  const count = new Map(input.members.map((m) => [m.id, 0]));
  const preferred = (p: number) => input.preferredZone?.(p);
  const local = (p: number, id: string) => {
    const zone = preferred(p);
    return zone !== undefined && zone !== '' && zoneOf.get(id) === zone;
  };

  // Keep what live members hold, zone-local partitions first so they survive a quota cut.
  const order = [...Array(input.partitions).keys()];
  const holderOf = (p: number) => {
    const id = input.current.get(p);
    return id !== undefined && count.has(id) ? id : undefined;
  };
  const byLocality = [...order].sort((a, b) => {
    const ha = holderOf(a);
    const hb = holderOf(b);
    return Number(hb !== undefined && local(b, hb)) - Number(ha !== undefined && local(a, ha)) || a - b;
  });
  for (const p of byLocality) {
    const id = holderOf(p);
    if (id === undefined) continue;
    const n = count.get(id) ?? 0;
    if (n < (quota.get(id) ?? 0)) {
      target.set(p, id);
      count.set(id, n + 1);
    }
  }

  // Place the rest: a member with room in the preferred zone, else the one with most room.
  const ids = input.members.map((m) => m.id).sort(compare);
  for (const p of order) {
    if (target.has(p)) continue;
    let best: string | undefined;
    let bestKey: [number, number, number] | undefined;
    for (const id of ids) {
      const room = (quota.get(id) ?? 0) - (count.get(id) ?? 0);
      if (room <= 0) continue;
      const key: [number, number, number] = [Number(local(p, id)), room, -(input.load?.get(id) ?? 0)];
      if (bestKey === undefined || lexGreater(key, bestKey)) {
        best = id;
        bestKey = key;
      }
    }
    if (best === undefined) throw new Error(`assignment: no room for partition ${p} (quotas do not add up)`);
    target.set(p, best);
    count.set(best, (count.get(best) ?? 0) + 1);
  }
  return target;
}

/**
 * The next step from `current` towards `target`: partitions without a live holder take their
 * target at once; at most `maxMoves` partitions move away from a live holder.
 */
export function limitMoves(
  current: ReadonlyMap<number, string>,
  target: ReadonlyMap<number, string>,
  live: ReadonlySet<string>,
  maxMoves: number,
): Map<number, string> {
  const next = new Map<number, string>();
  let moves = 0;
  for (const [p, to] of [...target].sort((a, b) => a[0] - b[0])) {
    const from = current.get(p);
    if (from === undefined || from === to || !live.has(from)) {
      next.set(p, to);
    } else if (moves < maxMoves) {
      next.set(p, to);
      moves++;
    } else {
      next.set(p, from);
    }
  }
  return next;
}

/** How many partitions each member holds in `assignment`. */
export function loads(assignment: ReadonlyMap<number, string>): Map<string, number> {
  const result = new Map<string, number>();
  for (const id of assignment.values()) result.set(id, (result.get(id) ?? 0) + 1);
  return result;
}

function countHolders(input: AssignInput): Map<string, number> {
  const result = new Map<string, number>();
  for (const [p, id] of input.current) if (p < input.partitions) result.set(id, (result.get(id) ?? 0) + 1);
  return result;
}

function lexGreater(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] ?? 0) > (b[i] ?? 0);
  return false;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
