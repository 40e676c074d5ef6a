import { assign, limitMoves, loads, quotas } from '../../../operator/assignment/assign';
import type { Member } from '../../../operator/assignment/assign';
import { seeded } from './random';

const members = (...ids: string[]): Member[] => ids.map((id) => ({ id, weight: 1 }));

function expectBalanced(partitions: number, ms: Member[], assignment: Map<number, string>): void {
  expect(assignment.size).toBe(partitions);
  const total = ms.reduce((s, m) => s + m.weight, 0);
  const n = loads(assignment);
  for (const m of ms) {
    const share = (partitions * m.weight) / total;
    expect(Math.abs((n.get(m.id) ?? 0) - share)).toBeLessThan(1);
  }
}

test('three brokers share 16 partitions within one', () => {
  const ms = members('a', 'b', 'c');
  const a = assign({ partitions: 16, members: ms, current: new Map() });
  expectBalanced(16, ms, a);
  expect([...loads(a).values()].sort()).toEqual([5, 5, 6]);
});

test('no members, no assignment', () => {
  expect(assign({ partitions: 4, members: [], current: new Map() }).size).toBe(0);
});

test('weights set the share', () => {
  const ms: Member[] = [
    { id: 'big', weight: 3 },
    { id: 'small', weight: 1 },
  ];
  const a = assign({ partitions: 16, members: ms, current: new Map() });
  expect(loads(a)).toEqual(
    new Map([
      ['big', 12],
      ['small', 4],
    ]),
  );
});

test('sticky: a new member takes only its share, from the most loaded', () => {
  const before = assign({ partitions: 16, members: members('a', 'b'), current: new Map() });
  const after = assign({ partitions: 16, members: members('a', 'b', 'c'), current: before });
  const moved = [...after].filter(([p, id]) => before.get(p) !== id);
  expect(moved.length).toBe(loads(after).get('c'));
  expect(moved.every(([, id]) => id === 'c')).toBe(true);
});

test("sticky: a departed member's partitions spread over the others, nothing else moves", () => {
  const before = assign({ partitions: 16, members: members('a', 'b', 'c'), current: new Map() });
  const after = assign({ partitions: 16, members: members('a', 'b'), current: before });
  for (const [p, id] of before) if (id !== 'c') expect(after.get(p)).toBe(id);
  expectBalanced(16, members('a', 'b'), after);
});

test('zone-aware: a free partition goes to a member in its preferred zone', () => {
  const ms: Member[] = [
    { id: 'a', zone: 'zone-a', weight: 1 },
    { id: 'b', zone: 'zone-b', weight: 1 },
  ];
  const preferredZone = (p: number) => (p % 2 === 0 ? 'zone-a' : 'zone-b');
  const a = assign({ partitions: 8, members: ms, current: new Map(), preferredZone });
  for (const [p, id] of a) expect(id).toBe(p % 2 === 0 ? 'a' : 'b');
});

test('the remainders go to the members with the least load elsewhere', () => {
  const q = quotas({
    partitions: 4,
    members: members('a', 'b', 'c'),
    current: new Map(),
    load: new Map([
      ['a', 3],
      ['b', 0],
      ['c', 1],
    ]),
  });
  expect(q).toEqual(
    new Map([
      ['a', 1],
      ['b', 2],
      ['c', 1],
    ]),
  );
});

test('limitMoves: orphans move at once, live holders at most N per step', () => {
  const current = new Map([
    [0, 'a'],
    [1, 'a'],
    [2, 'gone'],
    [3, 'a'],
  ]);
  const target = new Map([
    [0, 'b'],
    [1, 'b'],
    [2, 'b'],
    [3, 'a'],
  ]);
  expect(limitMoves(current, target, new Set(['a', 'b']), 1)).toEqual(
    new Map([
      [0, 'b'],
      [1, 'a'],
      [2, 'b'],
      [3, 'a'],
    ]),
  );
});

test('property: random membership changes keep every partition assigned once, balanced, and sticky', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = seeded(seed);
    const partitions = rnd.int(1, 64);
    const zones = ['zone-a', 'zone-b', 'zone-c'];
    let ms: Member[] = [];
    let current = new Map<number, string>();
    let nextId = 0;
    for (let step = 0; step < 20; step++) {
      if (ms.length === 0 || rnd.chance(0.6)) {
        ms = [...ms, { id: `m${nextId++}`, zone: rnd.pick(zones), weight: rnd.int(1, 3) }];
      } else {
        const gone = rnd.pick(ms).id;
        ms = ms.filter((m) => m.id !== gone);
      }
      const live = new Set(ms.map((m) => m.id));
      const next = assign({ partitions, members: ms, current, preferredZone: (p) => zones[p % 3] });
      try {
        if (ms.length === 0) {
          expect(next.size).toBe(0);
        } else {
          expectBalanced(partitions, ms, next);
          for (const id of next.values()) expect(live.has(id)).toBe(true);
          // Sticky: a partition leaves a live holder only if that holder was over its quota.
          const q = quotas({ partitions, members: ms, current });
          const kept = loads(new Map([...next].filter(([p, id]) => current.get(p) === id)));
          for (const m of ms) {
            const had = [...current.values()].filter((id) => id === m.id).length;
            expect(kept.get(m.id) ?? 0).toBe(Math.min(had, q.get(m.id) ?? 0));
          }
        }
      } catch (err) {
        throw new Error(`seed ${seed}, step ${step}: ${(err as Error).message}`);
      }
      current = next;
    }
  }
});

test('property: rate-limited steps converge to a balanced assignment', () => {
  for (let seed = 1; seed <= 100; seed++) {
    const rnd = seeded(seed);
    const partitions = rnd.int(8, 64);
    const ms = members(...Array.from({ length: rnd.int(1, 6) }, (_, i) => `m${i}`));
    // Start with everything on one member, as after the others restarted.
    let current = new Map([...Array(partitions).keys()].map((p) => [p, 'm0']));
    const live = new Set(ms.map((m) => m.id));
    const maxMoves = rnd.int(1, 4);
    for (let step = 0; step < partitions; step++) {
      const target = assign({ partitions, members: ms, current });
      const next = limitMoves(current, target, live, maxMoves);
      const moved = [...next].filter(([p, id]) => current.get(p) !== id).length;
      expect(moved).toBeLessThanOrEqual(maxMoves);
      current = next;
    }
    expectBalanced(partitions, ms, current);
  }
});
