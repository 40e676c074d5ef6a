import { responseBatches } from '../../../broker/server/broker-service';
import type { Delivered } from '../../../broker/delivery/group-cursor';
import { storedMessage } from '../fixtures';

const delivered = (offset: number, bytes: number): Delivered => ({
  attempt: 1,
  message: storedMessage(offset, bytes),
});
const offsets = (batches: Delivered[][]) => batches.map((b) => b.map((d) => d.message.offset));

describe('responseBatches (SubscribeStart.max_batch)', () => {
  test('cuts by count, in order, the last one short', () => {
    const ds = [1, 2, 3, 4, 5, 6, 7].map((o) => delivered(o, 10));
    expect(offsets(responseBatches(ds, 3, 1024))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });
  test('cuts before the delivery that would pass the byte bound', () => {
    const ds = [1, 2, 3, 4].map((o) => delivered(o, 400));
    expect(offsets(responseBatches(ds, 100, 1000))).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });
  test('a delivery larger than the byte bound travels alone, never in an empty response', () => {
    const ds = [delivered(1, 10), delivered(2, 5000), delivered(3, 10)];
    expect(offsets(responseBatches(ds, 100, 1000))).toEqual([[1], [2], [3]]);
  });
  test('nothing taken, nothing sent', () => {
    expect(responseBatches([], 10, 1000)).toEqual([]);
  });
});
