// The publish path's one trace row per message, shown as "published" + "stored".
import type { TraceEvent } from '../../../storage/trace-store';
import { expandPublished, publishDetail, storedEvent } from '../../../broker/trace/publish-events';

const ref = { topic: 'orders', partition: 1 };

function row(input: ReturnType<typeof storedEvent>, at: number): TraceEvent {
  return { at, broker: 'b', group: '', consumerId: '', attempt: 0, refKey: '', detail: {}, ...input };
}

test('a stored row becomes published (at arrival, with the producer) and stored (at commit)', () => {
  const detail = publishDetail('ipv4:10.0.0.7:5123', 1000);
  const stored = row(storedEvent(ref, 42, 'order-42', detail), 1003);
  expect(stored).toMatchObject({ messageId: 'orders/1/42', offset: 42 });
  expect(expandPublished([stored])).toEqual([
    { ...stored, event: 'published', at: 1000, detail: { producer: 'ipv4:10.0.0.7:5123' } },
    { ...stored, detail: {} },
  ]);
});

test('the result is in time order, published before stored at equal times', () => {
  const a = row(storedEvent(ref, 1, '', publishDetail('p', 10)), 20);
  const b = row(storedEvent(ref, 2, '', publishDetail('p', 10)), 10);
  expect(expandPublished([b, a]).map((e) => [e.event, e.offset, e.at])).toEqual([
    ['published', 2, 10],
    ['stored', 2, 10],
    ['published', 1, 10],
    ['stored', 1, 20],
  ]);
});

test('other events, and stored events without an arrival time, pass unchanged', () => {
  const delivered: TraceEvent = { ...row(storedEvent(ref, 1, '', {}), 5), event: 'delivered', group: 'g' };
  const plain = row(storedEvent(ref, 2, '', { note: 'x' }), 6);
  expect(expandPublished([delivered, plain])).toEqual([delivered, plain]);
});
