import { MinHeap } from '../../../broker/delivery/min-heap';

describe('MinHeap', () => {
  test('pops in order of priority', () => {
    const h = new MinHeap<string>();
    for (const [at, v] of [
      [5, 'e'],
      [1, 'a'],
      [3, 'c'],
      [2, 'b'],
      [4, 'd'],
    ] as const)
      h.push(at, v);
    const out: string[] = [];
    for (let top = h.pop(); top; top = h.pop()) out.push(top.value);
    expect(out).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  test('retain keeps only what it accepts, and pops those in order', () => {
    const h = new MinHeap<number>();
    const values = Array.from({ length: 200 }, (_, i) => (i * 7919) % 200);
    for (const v of values) h.push(v, v);
    h.retain((_at, v) => v % 3 === 0);
    expect(h.size).toBe(67);
    const out: number[] = [];
    for (let top = h.pop(); top; top = h.pop()) out.push(top.value);
    expect(out).toEqual(values.filter((v) => v % 3 === 0).sort((a, b) => a - b));
  });
});
