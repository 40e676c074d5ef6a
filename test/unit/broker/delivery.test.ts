// Delivery's side of Admin changes and its trace events, against the memory store: an offset
// reset drops the group's cursor state, a resend wake-up reaches a waiting pull at once, and
// deliveries, acks and nacks are traced with the consumer.
import { Delivery } from '../../../broker/delivery/delivery';
import { standaloneDeliveryContext } from './standalone-delivery';
import { PartitionLog } from '../../../broker/delivery/partition-log';
import { DEFAULTS } from '../../../common/broker-options';
import { createMemoryStore } from '../../../storage/memory/memory-store';
import type { OffsetCommit, StoredMessage } from '../../../storage/storage';
import type { TraceInput } from '../../../broker/trace/tracer';

const ref = { topic: 't', partition: 0 };
const message = (offset: number): StoredMessage => ({
  offset,
  publishedAt: 1,
  key: '',
  refKey: '',
  tags: [],
  properties: {},
  body: Buffer.from(String(offset)),
  priority: false,
});

async function fixture() {
  const stored = [1, 2, 3].map(message);
  const log = new PartitionLog(ref, 0, { maxMessages: 100, maxBytes: 1 << 20 });
  log.appended(stored);
  const store = createMemoryStore();
  await store.append([{ ref, firstOffset: 1, messages: stored }], 1);
  // Every committed offset written, in order (plain and forced).
  const commits: OffsetCommit[] = [];
  const commitOffsets = store.commitOffsets.bind(store);
  const forceCommittedOffset = store.forceCommittedOffset.bind(store);
  store.commitOffsets = (c) => {
    commits.push(...c);
    return commitOffsets(c);
  };
  store.forceCommittedOffset = (group, at, offset) => {
    commits.push({ group, ref: at, offset });
    return forceCommittedOffset(group, at, offset);
  };
  const events: TraceInput[] = [];
  const ctx = standaloneDeliveryContext(
    { name: 't', partitions: 1, maxMessageBytes: 1024 },
    new Map([['t/0', log]]),
    store,
    { tracer: { record: (e) => events.push(e) }, commitIntervalMs: 60_000 },
  );
  const delivery = new Delivery(ctx, {
    ...DEFAULTS.delivery,
    resendPollMs: 60_000,
    commitIntervalMs: 60_000,
  });
  const consumer = { id: 'c1', epoch: 1 };
  const pull = async (maxWaitMs = 0) =>
    (
      await delivery.pull(
        { group: 'g', topic: 't', partition: 0, maxMessages: 10, maxWaitMs, ackTimeoutMs: 0, consumer },
        new AbortController().signal,
      )
    ).map((d) => [d.message.offset, d.attempt]);
  return { delivery, pull, store, commits, events, consumer };
}

describe('Delivery', () => {
  test('a reset drops what is in flight and delivers after the new offset', async () => {
    const f = await fixture();
    expect((await f.pull()).map(([o]) => o)).toEqual([1, 2, 3]);
    await f.delivery.ack('g', 't', 0, [1, 2, 3], f.consumer);
    await f.delivery.reset('g', ref, 1);
    expect(await f.pull()).toEqual([
      [2, 1],
      [3, 1],
    ]);
    const lag = await f.delivery.lag('g', 't');
    expect(lag[0]).toMatchObject({ committedOffset: 1, inFlight: 2 });
    // The acks taken before the reset are stored first, then the reset itself, forcibly; the
    // old cursor stores nothing after it.
    await f.delivery.stop();
    expect(f.commits.map((c) => c.offset)).toEqual([3, 1]);
  });

  test('a resend wake-up reaches a waiting pull at once', async () => {
    const f = await fixture();
    await f.pull();
    await f.delivery.ack('g', 't', 0, [1, 2, 3], f.consumer);
    expect(await f.pull()).toEqual([]);
    const waiting = f.pull(5000);
    const started = Date.now();
    await f.store.scheduleResends([
      { group: 'g', ref, offset: 2, scheduleAt: Date.now(), attempts: 0, lastError: '' },
    ]);
    f.delivery.wakeResends('g', ref);
    expect(await waiting).toEqual([[2, 1]]);
    expect(Date.now() - started).toBeLessThan(1000);
    await f.delivery.stop();
  });

  test('deliveries, acks and nacks are traced with the consumer and attempt', async () => {
    const f = await fixture();
    await f.pull();
    await f.delivery.ack('g', 't', 0, [1], f.consumer);
    await f.delivery.nack('g', 't', 0, [2], 0, 'bad', f.consumer);
    const seen = f.events.map((e) => [e.event, e.offset, e.consumerId, e.attempt, e.detail]);
    expect(seen).toEqual([
      ['delivered', 1, 'c1', 1, undefined],
      ['delivered', 2, 'c1', 1, undefined],
      ['delivered', 3, 'c1', 1, undefined],
      ['acked', 1, 'c1', undefined, undefined],
      ['nacked', 2, 'c1', 1, { error: 'bad' }],
      ['retried', 2, undefined, 1, { scheduleAt: expect.stringMatching(/^\d{4}-/) as string }],
    ]);
    expect(f.events[0]).toMatchObject({ ref, group: 'g', messageId: 't/0/1' });
    await f.delivery.stop();
  });
});
