import { droppable, planSplit, segmentsOf } from '../../../storage/segments';

describe('segments', () => {
  it('reads partitions as offset ranges', () => {
    expect(
      segmentsOf([
        { name: 'p1_100', bound: '101' },
        { name: 'p101_200', bound: '201' },
        { name: 'p_max', bound: 'MAXVALUE' },
      ]),
    ).toEqual([
      { name: 'p1_100', from: 1, to: 100 },
      { name: 'p101_200', from: 101, to: 200 },
      { name: 'p_max', from: 201, to: Infinity },
    ]);
  });

  it('starts after the segments already dropped', () => {
    expect(
      segmentsOf([
        { name: 'p201_300', bound: '301' },
        { name: 'p_max', bound: 'MAXVALUE' },
      ]),
    ).toEqual([
      { name: 'p201_300', from: 201, to: 300 },
      { name: 'p_max', from: 301, to: Infinity },
    ]);
  });

  it('splits two empty segments ahead of an empty partition', () => {
    expect(planSplit(1, 0, 100)).toEqual([
      { name: 'p1_100', from: 1, to: 100 },
      { name: 'p101_200', from: 101, to: 200 },
    ]);
  });

  it('splits one more segment as the end offset enters the first empty one', () => {
    // Tail from 301: segments 1..100, 101..200 and 201..300 exist.
    expect(planSplit(201, 50, 100)).toEqual([{ name: 'p201_300', from: 201, to: 300 }]);
    expect(planSplit(301, 50, 100)).toEqual([]);
    expect(planSplit(301, 100, 100)).toEqual([]);
    expect(planSplit(301, 101, 100)).toEqual([{ name: 'p301_400', from: 301, to: 400 }]);
  });

  it('covers rows already in the tail with one segment up to the next aligned bound', () => {
    expect(planSplit(1, 1234, 100)).toEqual([
      { name: 'p1_1300', from: 1, to: 1300 },
      { name: 'p1301_1400', from: 1301, to: 1400 },
      { name: 'p1401_1500', from: 1401, to: 1500 },
    ]);
  });

  it('keeps the segment holding the end offset and everything above', () => {
    const s = segmentsOf([
      { name: 'p1_100', bound: '101' },
      { name: 'p101_200', bound: '201' },
      { name: 'p201_300', bound: '301' },
      { name: 'p_max', bound: 'MAXVALUE' },
    ]);
    expect(droppable(s, 200).map((x) => x.name)).toEqual(['p1_100']);
    expect(droppable(s, 201).map((x) => x.name)).toEqual(['p1_100', 'p101_200']);
    expect(droppable(s, 0)).toEqual([]);
  });
});
