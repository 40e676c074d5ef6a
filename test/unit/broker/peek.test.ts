// Admin Peek's paging over a real (memory) message store: both lanes merged by offset, starts
// by offset and by time, the limit and byte bounds, and the refusals that name the field.
import { peek } from '../../../broker/server/peek';
import type { PeekStore } from '../../../broker/server/peek';
import type { TopicOptions } from '../../../common/broker-options';
import { createMemoryStore } from '../../../storage/memory/memory-store';
import type { MemoryStores } from '../../../storage/memory/memory-store';

const topic = { name: 'orders', partitions: 2 } as TopicOptions;
const ref = { topic: 'orders', partition: 0 };
let store: MemoryStores;

const message = (body: string, priority = false) => ({
  key: '',
  refKey: '',
  tags: [],
  properties: {},
  body: Buffer.from(body),
  priority,
});

beforeAll(async () => {
  store = createMemoryStore();
  await store.ensureTopic('orders', 2);
  // Offsets 1..6 published at 1000, 1001...; 3 and 5 in the priority lane.
  for (let o = 1; o <= 6; o++)
    await store.append([{ ref, firstOffset: o, messages: [message(`m${o}`, o === 3 || o === 5)] }], 999 + o);
});

const offsets = (p: { messages: { offset: number }[] }) => p.messages.map((m) => m.offset);

test('a page merges both lanes in offset order and says where the next starts', async () => {
  const page = await peek(topic, store, { partition: 0, from: { offset: 2 }, limit: 3, maxBytes: 0 });
  expect(offsets(page)).toEqual([2, 3, 4]);
  expect(page.messages.map((m) => m.priority)).toEqual([false, true, false]);
  expect(page).toMatchObject({
    firstOffset: 1,
    endOffset: 6,
    startOffset: 2,
    startMoved: false,
    nextOffset: 5,
  });
  const next = await peek(topic, store, {
    partition: 0,
    from: { offset: page.nextOffset },
    limit: 3,
    maxBytes: 0,
  });
  expect(offsets(next)).toEqual([5, 6]);
  expect(next.nextOffset).toBe(7);
  // Past the end: nothing, and the next page starts where this one did.
  const after = await peek(topic, store, { partition: 0, from: { offset: 7 }, limit: 3, maxBytes: 0 });
  expect(after).toMatchObject({ messages: [], startOffset: 7, nextOffset: 7 });
});

test('no start or offset 0 reads from the oldest retained; a time finds its first message', async () => {
  expect(offsets(await peek(topic, store, { partition: 0, limit: 2, maxBytes: 0 }))).toEqual([1, 2]);
  expect(
    offsets(await peek(topic, store, { partition: 0, from: { offset: 0 }, limit: 0, maxBytes: 0 })),
  ).toEqual([1, 2, 3, 4, 5, 6]);
  const byTime = await peek(topic, store, {
    partition: 0,
    from: { timestampMs: 1003 },
    limit: 2,
    maxBytes: 0,
  });
  expect(byTime).toMatchObject({ startOffset: 4, startMoved: false });
  expect(offsets(byTime)).toEqual([4, 5]);
  // After the newest message: nothing, starting one past the end.
  const late = await peek(topic, store, { partition: 0, from: { timestampMs: 9999 }, limit: 2, maxBytes: 0 });
  expect(late).toMatchObject({ messages: [], startOffset: 7, nextOffset: 7 });
});

test('an offset that retention dropped starts at the oldest retained one and says so', async () => {
  const trimmed: PeekStore = {
    capabilities: store.capabilities,
    read: (r, after, limit, lane) => store.read(r, Math.max(after, 2), limit, lane),
    firstOffset: () => Promise.resolve(3),
    lastOffset: (r) => store.lastOffset(r),
    offsetAtTime: (r, at) => store.offsetAtTime(r, at),
  };
  const page = await peek(topic, trimmed, { partition: 0, from: { offset: 1 }, limit: 2, maxBytes: 0 });
  expect(page).toMatchObject({ firstOffset: 3, startOffset: 3, startMoved: true, nextOffset: 5 });
  expect(offsets(page)).toEqual([3, 4]);
});

test('max_bytes ends a page after the message that reaches it, never before the first', async () => {
  const page = await peek(topic, store, { partition: 0, from: { offset: 1 }, limit: 10, maxBytes: 3 });
  expect(offsets(page)).toEqual([1, 2]);
  expect(page).toMatchObject({ bytesLimited: true, nextOffset: 3 });
  const one = await peek(topic, store, { partition: 0, from: { offset: 1 }, limit: 10, maxBytes: 1 });
  expect(offsets(one)).toEqual([1]);
  expect((await peek(topic, store, { partition: 0, limit: 10, maxBytes: 0 })).bytesLimited).toBe(false);
});

test('an empty partition has first_offset end_offset + 1 and no messages', async () => {
  expect(await peek(topic, store, { partition: 1, limit: 5, maxBytes: 0 })).toMatchObject({
    messages: [],
    firstOffset: 1,
    endOffset: 0,
    startOffset: 1,
    nextOffset: 1,
  });
});

test('a partition out of range, a limit or byte bound too big are refused naming the field', async () => {
  await expect(peek(topic, store, { partition: 2, limit: 0, maxBytes: 0 })).rejects.toMatchObject({
    reason: 'PARTITION_OUT_OF_RANGE',
    metadata: { field: 'partition', partitions: '2' },
  });
  await expect(peek(topic, store, { partition: 0, limit: 101, maxBytes: 0 })).rejects.toMatchObject({
    reason: 'INVALID_REQUEST',
    metadata: { field: 'limit', limit: '100' },
  });
  await expect(peek(topic, store, { partition: 0, limit: 1, maxBytes: (4 << 20) + 1 })).rejects.toMatchObject(
    {
      reason: 'INVALID_REQUEST',
      metadata: { field: 'max_bytes' },
    },
  );
});
