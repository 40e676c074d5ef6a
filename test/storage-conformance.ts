// The behaviour every storage adapter must show: memory (unit project), MySQL and Kafka
// (integration). Call describeStorageConformance from an adapter's test file with the
// capabilities it declares and a factory that gives fresh, empty stores for each test. Cases
// every adapter passes always run; the others run only when the adapter declares the
// capability they need (they show as skipped otherwise).
import { HeraldError } from '../common/errors';
import type { DelayStore } from '../storage/delay-store';
import type { DeadLetterQuery, RetryStore } from '../storage/retry-store';
import type { MessageStore, NewMessage, PartitionRef, StoredMessage } from '../storage/storage';
import type { TraceEvent, TraceStore } from '../storage/trace-store';
import type { StorageCapabilities } from '../storage/capabilities';
import { subscriptionKey } from '../storage/subscription';

/**
 * An adapter under test: the message store and the pool stores beside it (for MySQL and
 * memory one object serves as all four; a Kafka message store has MySQL ones beside it).
 */
export interface AdapterUnderTest {
  messages: MessageStore;
  retries: RetryStore;
  delays: DelayStore;
  traces: TraceStore;
  close(): Promise<void>;
}

export type AdapterFactory = () => Promise<AdapterUnderTest>;

/** `test` when the adapter declares every capability, else `test.skip`. */
type Gate = (...needs: (keyof StorageCapabilities)[]) => jest.It;

/** A message with this body and defaults for the rest (adapter tests use it too). */
export function msg(body: string, extra: Partial<NewMessage> = {}): NewMessage {
  return {
    key: '',
    refKey: '',
    tags: [],
    properties: {},
    body: Buffer.from(body),
    priority: false,
    ...extra,
  };
}

function msgs(from: number, to: number): NewMessage[] {
  return Array.from({ length: to - from + 1 }, (_, i) => msg(`m${from + i}`));
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HeraldError) return err.reason;
    throw err;
  }
  throw new Error('expected a HeraldError');
}

export function describeStorageConformance(
  name: string,
  declared: StorageCapabilities,
  factory: AdapterFactory,
): void {
  const when: Gate = (...needs) => (needs.every((n) => declared[n]) ? test : test.skip);
  describe(`storage conformance: ${name}`, () => {
    test('the message store declares the capabilities under test, and segments exactly with segmentRetention', async () => {
      const sut = await factory();
      try {
        expect(sut.messages.capabilities).toEqual(declared);
        expect(sut.messages.segments !== undefined).toBe(declared.segmentRetention);
      } finally {
        await sut.close();
      }
    });
    describeMessageStore(name, factory, when);
    // A delayed message falls due by an append that removes it from the delay table.
    if (declared.delayedMessages) describeDelayStore(name, factory, when);
    describeTraceStore(name, factory);
    describeRetryStore(name, factory);
  });
}

function describeMessageStore(name: string, factory: AdapterFactory, when: Gate): void {
  describe(`MessageStore conformance: ${name}`, () => {
    let sut: AdapterUnderTest;
    const t = { topic: 'orders', partition: 0 };
    const t1 = { topic: 'orders', partition: 1 };
    const appendOne = (ref: PartitionRef, firstOffset: number, messages: NewMessage[], at: number) =>
      sut.messages.append([{ ref, firstOffset, messages }], at);

    const segments = () => {
      if (!sut.messages.segments) throw new Error('segmentRetention is declared but segments is missing');
      return sut.messages.segments;
    };

    beforeEach(async () => {
      sut = await factory();
      await sut.messages.ensureTopic('orders', 3);
    });
    afterEach(async () => {
      await sut.close();
    });

    test('an empty partition has last offset 0 and reads nothing', async () => {
      expect(await sut.messages.lastOffset(t)).toBe(0);
      expect(await sut.messages.read(t, 0, 10)).toEqual([]);
    });

    test('ensureTopic is idempotent and keeps stored messages', async () => {
      await appendOne(t, 1, [msg('a')], 1000);
      await sut.messages.ensureTopic('orders', 3);
      await sut.messages.ensureTopic('orders', 4);
      expect(await sut.messages.lastOffset(t)).toBe(1);
      expect(await sut.messages.lastOffset({ topic: 'orders', partition: 3 })).toBe(0);
    });

    test('dropTopic removes messages and offsets, and is idempotent', async () => {
      await appendOne(t, 1, [msg('doomed')], 1000);
      await sut.messages.commitOffset('g', t, 1);
      await sut.messages.dropTopic('orders', 3);
      await sut.messages.dropTopic('orders', 3);
      await sut.messages.ensureTopic('orders', 3);
      expect(await sut.messages.lastOffset(t)).toBe(0);
      expect(await sut.messages.committedOffset('g', t)).toBe(0);
    });

    test('append then read round-trips every field', async () => {
      const body = Buffer.from([0, 1, 2, 255, 254, 0]);
      const m = msg('', {
        key: 'kéy',
        refKey: 'order-42',
        tags: ['a', 'b c'],
        properties: { x: '1', ü: 'v' },
        body,
      });
      await appendOne(t, 1, [m, msg('second')], 1_700_000_000_123);
      const read = await sut.messages.read(t, 0, 10);
      expect(read).toEqual([
        { ...m, offset: 1, publishedAt: 1_700_000_000_123 },
        { ...msg('second'), offset: 2, publishedAt: 1_700_000_000_123 },
      ]);
      expect(await sut.messages.lastOffset(t)).toBe(2);
    });

    test('read honours afterOffset and limit, in offset order', async () => {
      await appendOne(
        t,
        1,
        ['1', '2', '3', '4', '5'].map((b) => msg(b)),
        1,
      );
      const read = await sut.messages.read(t, 2, 2);
      expect(read.map((m) => [m.offset, m.body.toString()])).toEqual([
        [3, '3'],
        [4, '4'],
      ]);
      expect(await sut.messages.read(t, 5, 10)).toEqual([]);
    });

    test('readOffsets returns the existing ones in order', async () => {
      await appendOne(
        t,
        1,
        ['1', '2', '3'].map((b) => msg(b)),
        1,
      );
      const read = await sut.messages.readOffsets(t, [3, 9, 1]);
      expect(read.map((m) => m.offset)).toEqual([1, 3]);
      expect(await sut.messages.readOffsets(t, [])).toEqual([]);
    });

    test('partitions are independent', async () => {
      await appendOne(t, 1, [msg('p0')], 1);
      await appendOne({ topic: 'orders', partition: 1 }, 1, [msg('p1')], 1);
      expect(
        (await sut.messages.read({ topic: 'orders', partition: 1 }, 0, 10)).map((m) => m.body.toString()),
      ).toEqual(['p1']);
      expect(await sut.messages.lastOffset({ topic: 'orders', partition: 2 })).toBe(0);
    });

    when('ownerFencing')(
      'an append over taken offsets is fenced and stores nothing of its batch',
      async () => {
        await appendOne(
          t,
          1,
          ['1', '2', '3'].map((b) => msg(b)),
          1,
        );
        expect(await reason(appendOne(t, 3, [msg('x'), msg('y'), msg('z')], 2))).toBe('PARTITION_FENCED');
        expect((await sut.messages.read(t, 0, 10)).map((m) => m.body.toString())).toEqual(['1', '2', '3']);
      },
    );

    when('ownerFencing')('a stale owner cannot write after a newer owner wrote', async () => {
      const staleNext = (await sut.messages.lastOffset(t)) + 1;
      const newNext = (await sut.messages.lastOffset(t)) + 1;
      await appendOne(t, newNext, [msg('new owner')], 1);
      expect(await reason(appendOne(t, staleNext, [msg('stale owner')], 2))).toBe('PARTITION_FENCED');
      expect((await sut.messages.read(t, 0, 10)).map((m) => m.body.toString())).toEqual(['new owner']);
    });

    when('atomicMultiPartitionAppend')('batches of several partitions are stored together', async () => {
      await sut.messages.append(
        [
          { ref: t, firstOffset: 1, messages: [msg('a0'), msg('a1')] },
          { ref: t1, firstOffset: 1, messages: [msg('b0')] },
        ],
        7,
      );
      expect((await sut.messages.read(t, 0, 10)).map((m) => m.body.toString())).toEqual(['a0', 'a1']);
      expect(
        (await sut.messages.read(t1, 0, 10)).map((m) => [m.offset, m.body.toString(), m.publishedAt]),
      ).toEqual([[1, 'b0', 7]]);
    });

    when('ownerFencing', 'atomicMultiPartitionAppend')(
      'a fence on one partition stores nothing of any batch in the same append',
      async () => {
        await appendOne(t1, 1, [msg('taken')], 1);
        const append = sut.messages.append(
          [
            { ref: t, firstOffset: 1, messages: [msg('a0')] },
            { ref: t1, firstOffset: 1, messages: [msg('b0')] },
          ],
          2,
        );
        expect(await reason(append)).toBe('PARTITION_FENCED');
        expect(await sut.messages.lastOffset(t)).toBe(0);
        expect((await sut.messages.read(t1, 0, 10)).map((m) => m.body.toString())).toEqual(['taken']);
        // The store is usable afterwards (no transaction left open).
        await appendOne(t, 1, [msg('after')], 3);
        expect(await sut.messages.lastOffset(t)).toBe(1);
      },
    );

    when('ownerFencing', 'traceInAppend')(
      'trace events given to an append are stored with its messages, and not at all when it is fenced',
      async () => {
        const delivered = event({ event: 'delivered', group: 'billing', attempt: 1, detail: { n: 'ü' } });
        await sut.messages.append([{ ref: t, firstOffset: 1, messages: [msg('a')] }], 1, {
          trace: [delivered],
        });
        expect(await sut.traces.trace({ messageId: 'orders/1/5' }, 10)).toEqual([delivered]);
        const fenced = sut.messages.append([{ ref: t, firstOffset: 1, messages: [msg('b')] }], 2, {
          trace: [event({ messageId: 'orders/1/6', offset: 6 })],
        });
        expect(await reason(fenced)).toBe('PARTITION_FENCED');
        expect(await sut.traces.trace({ messageId: 'orders/1/6' }, 10)).toEqual([]);
        expect((await sut.messages.read(t, 0, 10)).map((m) => m.body.toString())).toEqual(['a']);
      },
    );

    when('ownerFencing', 'offsetsInAppend')(
      'committed offsets given to an append are stored with its messages, only forward, and not at all when it is fenced',
      async () => {
        await sut.messages.commitOffset('g1', t1, 9);
        await sut.messages.append([{ ref: t, firstOffset: 1, messages: [msg('a')] }], 1, {
          offsets: [
            { group: 'g1', ref: t, offset: 4 },
            { group: 'g1', ref: t1, offset: 3 },
          ],
        });
        expect(await sut.messages.committedOffset('g1', t)).toBe(4);
        expect(await sut.messages.committedOffset('g1', t1)).toBe(9);
        const fenced = sut.messages.append([{ ref: t, firstOffset: 1, messages: [msg('b')] }], 2, {
          offsets: [{ group: 'g2', ref: t, offset: 6 }],
        });
        expect(await reason(fenced)).toBe('PARTITION_FENCED');
        expect(await sut.messages.findCommittedOffset('g2', t)).toBeUndefined();
        expect((await sut.messages.read(t, 0, 10)).map((m) => m.body.toString())).toEqual(['a']);
      },
    );

    when('ownerFencing', 'atomicMultiPartitionAppend')(
      'large batches round-trip in order, and a fence anywhere in them stores nothing',
      async () => {
        const many = (n: number, tag: string) =>
          Array.from({ length: n }, (_, i) => msg(`${tag}${i}`, { tags: [tag] }));
        await sut.messages.append(
          [
            { ref: t, firstOffset: 1, messages: many(341, 'a') },
            { ref: t1, firstOffset: 1, messages: many(17, 'b') },
          ],
          5,
        );
        const read = await sut.messages.read(t, 0, 1000);
        expect(read.map((m) => m.offset)).toEqual(Array.from({ length: 341 }, (_, i) => i + 1));
        expect(read.map((m) => m.body.toString())).toEqual(many(341, 'a').map((m) => m.body.toString()));
        expect(read[300]).toMatchObject({ tags: ['a'], publishedAt: 5 });
        expect(await sut.messages.lastOffset(t1)).toBe(17);
        // Offsets 300..599 overlap the stored 300..341: the whole append is refused.
        const fenced = sut.messages.append(
          [
            { ref: t1, firstOffset: 18, messages: many(20, 'c') },
            { ref: t, firstOffset: 300, messages: many(300, 'd') },
          ],
          6,
        );
        expect(await reason(fenced)).toBe('PARTITION_FENCED');
        expect(await sut.messages.lastOffset(t)).toBe(341);
        expect(await sut.messages.lastOffset(t1)).toBe(17);
      },
    );

    test('committed offsets start at 0, move only forward, per group and partition', async () => {
      expect(await sut.messages.committedOffset('g1', t)).toBe(0);
      await sut.messages.commitOffset('g1', t, 5);
      await sut.messages.commitOffset('g1', t, 3);
      expect(await sut.messages.committedOffset('g1', t)).toBe(5);
      await sut.messages.commitOffset('g1', t, 8);
      expect(await sut.messages.committedOffset('g1', t)).toBe(8);
      expect(await sut.messages.committedOffset('g2', t)).toBe(0);
      expect(await sut.messages.committedOffset('g1', t1)).toBe(0);
    });

    test('many offsets are committed in one call, each only forward', async () => {
      await sut.messages.commitOffset('g1', t, 10);
      await sut.messages.commitOffsets([
        { group: 'g1', ref: t, offset: 4 },
        { group: 'g1', ref: t1, offset: 7 },
        { group: 'g2', ref: t, offset: 2 },
      ]);
      expect(await sut.messages.committedOffset('g1', t)).toBe(10);
      expect(await sut.messages.committedOffset('g1', t1)).toBe(7);
      expect(await sut.messages.committedOffset('g2', t)).toBe(2);
      await sut.messages.commitOffsets([]);
    });

    test('a broadcast consumer has offsets of its own, apart from its group and the other consumers', async () => {
      const c1 = subscriptionKey('bc', 'pod-0');
      const c2 = subscriptionKey('bc', 'host-1.7_x');
      expect(await sut.messages.findCommittedOffset(c1, t)).toBeUndefined();
      await sut.messages.commitOffset(c1, t, 0);
      // Committed 0 is not "never committed": a reconnecting consumer resumes at 0.
      expect(await sut.messages.findCommittedOffset(c1, t)).toBe(0);
      await sut.messages.commitOffsets([
        { group: c1, ref: t, offset: 7 },
        { group: c2, ref: t, offset: 3 },
        { group: 'bc', ref: t, offset: 1 },
      ]);
      await sut.messages.commitOffset(c1, t, 5);
      expect(await sut.messages.committedOffset(c1, t)).toBe(7);
      expect(await sut.messages.findCommittedOffset(c2, t)).toBe(3);
      expect(await sut.messages.committedOffset('bc', t)).toBe(1);
      expect(await sut.messages.findCommittedOffset(c2, t1)).toBeUndefined();
      await sut.messages.forceCommittedOffset(c2, t, 2);
      expect(await sut.messages.committedOffset(c2, t)).toBe(2);
      expect(await sut.messages.committedOffset(c1, t)).toBe(7);
    });

    test('broadcastConsumers lists the consumers with offsets on the topic; dropOffsets forgets one', async () => {
      const key = (c: string) => subscriptionKey('bc', c);
      expect(await sut.messages.broadcastConsumers('bc', 'orders')).toEqual([]);
      await sut.messages.commitOffsets([
        { group: key('pod-0'), ref: t, offset: 4 },
        { group: key('pod-0'), ref: t1, offset: 2 },
        { group: key('pod-1'), ref: t1, offset: 0 },
        { group: 'bc', ref: t, offset: 9 },
        { group: 'bcx', ref: t, offset: 9 },
        { group: subscriptionKey('bcx', 'pod-9'), ref: t, offset: 9 },
      ]);
      expect((await sut.messages.broadcastConsumers('bc', 'orders')).sort()).toEqual(['pod-0', 'pod-1']);
      await sut.messages.dropOffsets(key('pod-0'), 'orders');
      expect(await sut.messages.broadcastConsumers('bc', 'orders')).toEqual(['pod-1']);
      expect(await sut.messages.findCommittedOffset(key('pod-0'), t)).toBeUndefined();
      expect(await sut.messages.findCommittedOffset(key('pod-0'), t1)).toBeUndefined();
      expect(await sut.messages.committedOffset(key('pod-1'), t1)).toBe(0);
      expect(await sut.messages.findCommittedOffset(key('pod-1'), t1)).toBe(0);
      expect(await sut.messages.committedOffset('bc', t)).toBe(9);
      // Idempotent: dropping what is gone is no error.
      await sut.messages.dropOffsets(key('pod-0'), 'orders');
    });

    test('forceCommittedOffset moves a committed offset back, and forward', async () => {
      await sut.messages.commitOffset('g1', t, 10);
      await sut.messages.forceCommittedOffset('g1', t, 4);
      expect(await sut.messages.committedOffset('g1', t)).toBe(4);
      await sut.messages.forceCommittedOffset('g1', t, 12);
      expect(await sut.messages.committedOffset('g1', t)).toBe(12);
      await sut.messages.forceCommittedOffset('g2', t1, 0);
      expect(await sut.messages.committedOffset('g2', t1)).toBe(0);
      expect(await sut.messages.committedOffset('g1', t1)).toBe(0);
    });

    // Both place messages at offsets of their choosing (holes included): an owner-allocating
    // store's. Kafka's own test covers them with the offsets Kafka gives.
    when('ownerFencing')('firstOffset: undefined when empty, then the lowest retained offset', async () => {
      expect(await sut.messages.firstOffset(t)).toBeUndefined();
      await appendOne(t, 5, [msg('a'), msg('b')], 1);
      expect(await sut.messages.firstOffset(t)).toBe(5);
      expect(await sut.messages.firstOffset(t1)).toBeUndefined();
    });

    when('ownerFencing')(
      'offsetAtTime: the first offset published at or after a time, across holes',
      async () => {
        expect(await sut.messages.offsetAtTime(t, 0)).toBeUndefined();
        // Offsets 1-3 at 1000, 7-8 at 2000 (a hole at 4-6), 9 at 3000, 10-12 at 3000.
        await appendOne(t, 1, [msg('1'), msg('2'), msg('3')], 1000);
        await appendOne(t, 7, [msg('7'), msg('8')], 2000);
        await appendOne(t, 9, [msg('9')], 3000);
        await appendOne(t, 10, [msg('10'), msg('11'), msg('12')], 3000);
        expect(await sut.messages.offsetAtTime(t, 0)).toBe(1);
        expect(await sut.messages.offsetAtTime(t, 1000)).toBe(1);
        expect(await sut.messages.offsetAtTime(t, 1001)).toBe(7);
        expect(await sut.messages.offsetAtTime(t, 2000)).toBe(7);
        expect(await sut.messages.offsetAtTime(t, 2500)).toBe(9);
        expect(await sut.messages.offsetAtTime(t, 3000)).toBe(9);
        expect(await sut.messages.offsetAtTime(t, 3001)).toBeUndefined();
        expect(await sut.messages.offsetAtTime(t1, 0)).toBeUndefined();
      },
    );

    when('priorityLanes')('priority messages share the offsets but live in their own lane', async () => {
      await appendOne(t, 1, [msg('n1'), msg('p2', { priority: true }), msg('n3')], 10);
      await appendOne(t, 4, [msg('p4', { priority: true, tags: ['x'] })], 11);
      expect(
        (await sut.messages.read(t, 0, 10)).map((m) => [m.offset, m.body.toString(), m.priority]),
      ).toEqual([
        [1, 'n1', false],
        [3, 'n3', false],
      ]);
      expect(
        (await sut.messages.read(t, 0, 10, 'priority')).map((m) => [m.offset, m.body.toString()]),
      ).toEqual([
        [2, 'p2'],
        [4, 'p4'],
      ]);
      expect(await sut.messages.read(t, 2, 1, 'priority')).toEqual([
        { ...msg('p4', { priority: true, tags: ['x'] }), offset: 4, publishedAt: 11 },
      ]);
      expect((await sut.messages.readOffsets(t, [4, 1, 2])).map((m) => [m.offset, m.priority])).toEqual([
        [1, false],
        [2, true],
        [4, true],
      ]);
      expect(await sut.messages.lastOffset(t)).toBe(4);
      expect(await sut.messages.firstOffset(t)).toBe(1);
      expect(await sut.messages.offsetAtTime(t, 11)).toBe(4);
    });

    when('ownerFencing', 'priorityLanes')(
      'an append is fenced by an offset taken in the other lane',
      async () => {
        await appendOne(t, 1, [msg('p1', { priority: true })], 1);
        expect(await reason(appendOne(t, 1, [msg('n1')], 2))).toBe('PARTITION_FENCED');
        await appendOne(t, 2, [msg('n2')], 3);
        expect(await reason(appendOne(t, 2, [msg('p2', { priority: true })], 4))).toBe('PARTITION_FENCED');
        expect((await sut.messages.read(t, 0, 10, 'priority')).map((m) => m.body.toString())).toEqual(['p1']);
        expect((await sut.messages.read(t, 0, 10)).map((m) => m.body.toString())).toEqual(['n2']);
      },
    );

    test('an empty partition has no first offset and no offset at a time', async () => {
      expect(await sut.messages.firstOffset(t)).toBeUndefined();
      expect(await sut.messages.offsetAtTime(t, 0)).toBeUndefined();
    });

    test('ping answers', async () => {
      await expect(sut.messages.ping()).resolves.toBeUndefined();
    });

    when('segmentRetention')(
      'maintainSegments drops whole expired segments below the end offset, never the last message',
      async () => {
        // Laid out in segments of 10 as it is created: 1..10 and 11..20, then the tail.
        await sut.messages.ensureTopic('logs', 2, 10);
        const [t, t1] = [0, 1].map((partition) => ({ topic: 'logs', partition }));
        expect(await segments().maintainSegments(t, 0, 10, 0)).toEqual([]);
        await appendOne(t, 1, msgs(1, 10), 1000);
        expect(await segments().maintainSegments(t, 10, 10, 0)).toEqual([]);
        await appendOne(t, 11, msgs(11, 25), 1000);
        await appendOne(t, 26, msgs(26, 28), 5000);
        expect(await segments().maintainSegments(t, 28, 10, 2000)).toEqual([
          { from: 1, to: 10 },
          { from: 11, to: 20 },
        ]);
        expect((await sut.messages.read(t, 0, 100)).map((m) => m.offset)).toEqual([
          21, 22, 23, 24, 25, 26, 27, 28,
        ]);
        expect(await sut.messages.readOffsets(t, [5, 21])).toHaveLength(1);
        // 21..30 holds the end offset: kept however old, so the numbering continues.
        expect(await segments().maintainSegments(t, 28, 10, 1_000_000)).toEqual([]);
        expect(await sut.messages.lastOffset(t)).toBe(28);
        await appendOne(t, 29, msgs(29, 45), 6000);
        expect(await segments().maintainSegments(t, 45, 10, 7000)).toEqual([
          { from: 21, to: 30 },
          { from: 31, to: 40 },
        ]);
        expect((await sut.messages.read(t, 0, 3)).map((m) => m.offset)).toEqual([41, 42, 43]);
        // Other partitions are untouched.
        await appendOne(t1, 1, msgs(1, 3), 1000);
        expect(await segments().maintainSegments(t1, 3, 10, 2000)).toEqual([]);
        expect(await sut.messages.read(t1, 0, 10)).toHaveLength(3);
      },
    );

    when('segmentRetention')(
      'maintainSegments keeps a segment whose newest message is not expired, and those after it',
      async () => {
        await sut.messages.ensureTopic('logs', 1, 5);
        const t = { topic: 'logs', partition: 0 };
        await appendOne(t, 1, msgs(1, 5), 1000);
        await appendOne(t, 6, msgs(6, 10), 9000);
        await appendOne(t, 11, msgs(11, 12), 1000);
        await segments().maintainSegments(t, 12, 5, 0);
        await appendOne(t, 13, msgs(13, 20), 1000);
        // 1..5 is expired, 6..10 is not, so 11..15 stays although it is old.
        expect(await segments().maintainSegments(t, 20, 5, 5000)).toEqual([{ from: 1, to: 5 }]);
        expect((await sut.messages.read(t, 0, 1))[0].offset).toBe(6);
      },
    );

    when('segmentRetention')(
      'ensureTopic lays a partition out in segments: the first maintenance drops whole expired ones',
      async () => {
        await sut.messages.ensureTopic('logs', 1, 10);
        const t = { topic: 'logs', partition: 0 };
        await appendOne(t, 1, msgs(1, 25), 1000);
        // A table created as its tail alone would first have to split (copying 1..25) and drop nothing.
        expect(await segments().maintainSegments(t, 25, 10, 2000)).toEqual([
          { from: 1, to: 10 },
          { from: 11, to: 20 },
        ]);
        expect((await sut.messages.read(t, 0, 1))[0].offset).toBe(21);
      },
    );
  });
}

function describeDelayStore(name: string, factory: AdapterFactory, when: Gate): void {
  describe(`DelayStore conformance: ${name}`, () => {
    let sut: AdapterUnderTest;
    const t = { topic: 'later', partition: 0 };
    const t1 = { topic: 'later', partition: 1 };
    const at = (deliverAt: number, body: string) => ({ deliverAt, message: msg(body) });

    beforeEach(async () => {
      sut = await factory();
      await sut.messages.ensureTopic('later', 2);
    });
    afterEach(async () => {
      await sut.close();
    });

    test('a partition without delayed messages has nothing due', async () => {
      expect(await sut.delays.dueDelayed(t, Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    });

    test('delayed messages come back due before `until`, by (deliverAt, id), in pages', async () => {
      const ids = await sut.delays.scheduleDelayed(t, [
        at(3000, 'c'),
        at(1000, 'a'),
        at(3000, 'd'),
        at(2000, 'b'),
      ]);
      expect(ids).toHaveLength(4);
      expect(new Set(ids).size).toBe(4);
      await sut.delays.scheduleDelayed(t1, [at(500, 'other')]);
      const due = await sut.delays.dueDelayed(t, 3000, 10);
      expect(due.map((d) => d.message.body.toString())).toEqual(['a', 'b']);
      expect(due[0]).toMatchObject({ id: ids[1], deliverAt: 1000, message: { priority: false } });
      const all = await sut.delays.dueDelayed(t, 10_000, 10);
      expect(all.map((d) => d.message.body.toString())).toEqual(['a', 'b', 'c', 'd']);
      const first = await sut.delays.dueDelayed(t, 10_000, 2);
      const rest = await sut.delays.dueDelayed(t, 10_000, 10, first[1]);
      expect([...first, ...rest].map((d) => d.id)).toEqual(all.map((d) => d.id));
      expect(all[2].id).toBeLessThan(all[3].id);
    });

    test('messages keep their fields in the delay table', async () => {
      const message = msg('body', {
        key: 'k',
        refKey: 'r',
        tags: ['x'],
        properties: { p: 'v' },
        priority: true,
      });
      await sut.delays.scheduleDelayed(t, [{ deliverAt: 1000, message }]);
      const [due] = await sut.delays.dueDelayed(t, 2000, 1);
      expect(due.message).toEqual(message);
    });

    test('an append of due messages removes them from the delay table in its transaction', async () => {
      const [a, a2, b] = await sut.delays.scheduleDelayed(t, [at(1000, 'a'), at(1200, 'a2'), at(2000, 'b')]);
      const due = await sut.delays.dueDelayed(t, 1500, 10);
      expect(due.map((d) => d.id)).toEqual([a, a2]);
      await sut.messages.append(
        [
          {
            ref: t,
            firstOffset: 1,
            messages: due.map((d) => ({ ...d.message, scheduled: { id: d.id, deliverAt: d.deliverAt } })),
          },
        ],
        1600,
      );
      expect((await sut.delays.dueDelayed(t, 10_000, 10)).map((d) => d.id)).toEqual([b]);
      const [stored] = await sut.messages.read(t, 0, 10);
      expect(stored).toMatchObject({ offset: 1, scheduled: { id: a, deliverAt: 1000 } });
      expect((await sut.messages.readOffsets(t, [1]))[0].scheduled).toEqual({ id: a, deliverAt: 1000 });
    });

    when('ownerFencing')(
      'dispatching a message twice is fenced and stores nothing of the second append',
      async () => {
        await sut.delays.scheduleDelayed(t, [at(1000, 'a')]);
        const [d] = await sut.delays.dueDelayed(t, 2000, 1);
        const dispatched = { ...d.message, scheduled: { id: d.id, deliverAt: d.deliverAt } };
        await sut.messages.append([{ ref: t, firstOffset: 1, messages: [dispatched] }], 1000);
        expect(
          await reason(
            sut.messages.append([{ ref: t, firstOffset: 2, messages: [msg('x'), dispatched] }], 1000),
          ),
        ).toBe('PARTITION_FENCED');
        expect(await sut.messages.lastOffset(t)).toBe(1);
        // The connection is usable again after the rollback.
        await sut.messages.append([{ ref: t, firstOffset: 2, messages: [msg('y')] }], 1000);
        expect(await sut.messages.lastOffset(t)).toBe(2);
      },
    );

    test('ids are never reused after their messages were dispatched', async () => {
      const [a] = await sut.delays.scheduleDelayed(t, [at(1000, 'a')]);
      const [d] = await sut.delays.dueDelayed(t, 2000, 1);
      await sut.messages.append(
        [{ ref: t, firstOffset: 1, messages: [{ ...d.message, scheduled: { id: a, deliverAt: 1000 } }] }],
        1000,
      );
      const [b] = await sut.delays.scheduleDelayed(t, [at(1000, 'b')]);
      expect(b).toBeGreaterThan(a);
    });

    test('dropTopic removes delayed messages', async () => {
      await sut.delays.scheduleDelayed(t, [at(1000, 'a')]);
      await sut.messages.dropTopic('later', 2);
      await sut.messages.ensureTopic('later', 2);
      expect(await sut.delays.dueDelayed(t, 10_000, 10)).toEqual([]);
    });
  });
}

function event(overrides: Partial<TraceEvent> = {}): TraceEvent {
  return {
    at: 1000,
    event: 'stored',
    ref: { topic: 'orders', partition: 1 },
    offset: 5,
    messageId: 'orders/1/5',
    refKey: 'order-5',
    group: '',
    consumerId: '',
    attempt: 0,
    broker: 'broker-0',
    detail: {},
    ...overrides,
  };
}

/** The behaviour every TraceStore adapter must show: trace events and the command log. */
function describeTraceStore(name: string, factory: AdapterFactory): void {
  describe(`TraceStore conformance: ${name}`, () => {
    let sut: AdapterUnderTest;
    const t = { topic: 'orders', partition: 1 };

    beforeEach(async () => {
      sut = await factory();
    });
    afterEach(() => sut.close());

    test('events round-trip every field and are found by message id, oldest first', async () => {
      const delivered = event({
        at: 2000,
        event: 'delivered',
        group: 'billing',
        consumerId: 'c-1',
        attempt: 2,
        detail: { producer: 'ipv4:127.0.0.1:5000', note: 'ü' },
      });
      await sut.traces.appendTrace([delivered, event({ at: 1000, event: 'published' })]);
      await sut.traces.appendTrace([event({ messageId: 'orders/1/6', offset: 6 })]);
      const found = await sut.traces.trace({ messageId: 'orders/1/5' }, 100);
      expect(found).toEqual([event({ at: 1000, event: 'published' }), delivered]);
      expect(await sut.traces.trace({ messageId: 'orders/1/7' }, 100)).toEqual([]);
    });

    test('events are found by topic and ref key, with a limit', async () => {
      await sut.traces.appendTrace([
        event({ at: 1, offset: 1, messageId: 'orders/1/1' }),
        event({ at: 2, offset: 2, messageId: 'orders/1/2', refKey: 'other' }),
        event({ at: 3, offset: 3, messageId: 'orders/1/3' }),
        event({ at: 4, ref: { topic: 'invoices', partition: 1 }, messageId: 'invoices/1/5' }),
      ]);
      const all = await sut.traces.trace({ topic: 'orders', refKey: 'order-5' }, 100);
      expect(all.map((e) => e.offset)).toEqual([1, 3]);
      expect(
        (await sut.traces.trace({ topic: 'orders', refKey: 'order-5' }, 1)).map((e) => e.offset),
      ).toEqual([1]);
      expect(await sut.traces.trace({ topic: 'invoices', refKey: 'other' }, 100)).toEqual([]);
      await sut.traces.appendTrace([]);
    });

    test('expireTrace deletes what is older than the cut-off and counts it', async () => {
      await sut.traces.appendTrace([1000, 2000, 3000, 4000].map((at) => event({ at })));
      expect(await sut.traces.expireTrace(2500)).toBe(2);
      expect((await sut.traces.trace({ messageId: 'orders/1/5' }, 100)).map((e) => e.at)).toEqual([
        3000, 4000,
      ]);
      expect(await sut.traces.expireTrace(2500)).toBe(0);
      expect(await sut.traces.expireTrace(10_000)).toBe(2);
      expect(await sut.traces.expireTrace(10_000)).toBe(0);
    });

    test('commands are read back in order after an id, from where the log stood', async () => {
      const start = await sut.traces.lastCommandId();
      const last = await sut.traces.appendCommands([
        { kind: 'reset', group: 'g', ref: t, offset: 7 },
        { kind: 'resend-wakeup', group: 'h', ref: { topic: 'orders', partition: 2 } },
      ]);
      expect(await sut.traces.lastCommandId()).toBe(last);
      const read = await sut.traces.commandsAfter(start, 10);
      expect(read.map((c) => c.command)).toEqual([
        { kind: 'reset', group: 'g', ref: t, offset: 7 },
        { kind: 'resend-wakeup', group: 'h', ref: { topic: 'orders', partition: 2 } },
      ]);
      expect(read[1].id).toBe(last);
      expect(read[0].id).toBeLessThan(last);
      expect(await sut.traces.commandsAfter(last, 10)).toEqual([]);
      expect((await sut.traces.commandsAfter(start, 1)).map((c) => c.id)).toEqual([read[0].id]);
      const next = await sut.traces.appendCommands([{ kind: 'reset', group: 'g', ref: t, offset: 0 }]);
      expect(next).toBeGreaterThan(last);
      expect((await sut.traces.commandsAfter(last, 10)).map((c) => c.id)).toEqual([next]);
    });

    test('concurrent appends each get their own ids, all read back in id order', async () => {
      const start = await sut.traces.lastCommandId();
      const lasts = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          sut.traces.appendCommands([
            { kind: 'reset', group: `g${i}`, ref: t, offset: i },
            { kind: 'resend-wakeup', group: `g${i}`, ref: t },
          ]),
        ),
      );
      const read = await sut.traces.commandsAfter(start, 100);
      expect(read).toHaveLength(16);
      const ids = read.map((c) => c.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      for (const last of lasts) expect(ids).toContain(last);
    });

    test('expireCommands deletes commands older than the cut-off', async () => {
      const before = await sut.traces.lastCommandId();
      await sut.traces.appendCommands([{ kind: 'reset', group: 'g', ref: t, offset: 1 }]);
      const cutoff = Date.now() + 1;
      expect(await sut.traces.expireCommands(0)).toBe(0);
      expect(await sut.traces.expireCommands(cutoff)).toBeGreaterThanOrEqual(1);
      expect(await sut.traces.commandsAfter(before, 10)).toEqual([]);
    });
  });
}

/** The behaviour every RetryStore adapter must show (with the MessageStore it lives beside). */
function describeRetryStore(name: string, factory: AdapterFactory): void {
  describe(`RetryStore conformance: ${name}`, () => {
    let sut: AdapterUnderTest;
    const t = { topic: 'orders', partition: 0 };
    const t1 = { topic: 'orders', partition: 1 };
    const resend = (
      offset: number,
      scheduleAt: number,
      extra: { group?: string; ref?: PartitionRef } = {},
    ) => ({
      group: extra.group ?? 'g',
      ref: extra.ref ?? t,
      offset,
      scheduleAt,
      attempts: 1,
      lastError: '',
    });
    const stored = (offset: number, body: string): StoredMessage & { ref: PartitionRef } => ({
      ...msg(body, { tags: ['a'], properties: { k: 'v' }, refKey: `ref-${offset}` }),
      offset,
      publishedAt: 1000 + offset,
      ref: t,
    });
    const all: DeadLetterQuery = { topic: 'orders', group: 'g', sinceMs: 0, untilMs: 0, ids: [] };

    beforeEach(async () => {
      sut = await factory();
      await sut.messages.ensureTopic('orders', 2);
    });
    afterEach(async () => {
      await sut.close();
    });

    test("dropResends removes one key's schedule on the topic, every partition, and nothing else", async () => {
      const c1 = subscriptionKey('g', 'pod-0');
      const c2 = subscriptionKey('g', 'pod-1');
      await sut.retries.scheduleResends([
        resend(1, 100, { group: c1 }),
        resend(2, 100, { group: c1, ref: t1 }),
        resend(1, 100, { group: c2 }),
        resend(3, 100),
      ]);
      await sut.retries.dropResends(c1, 'orders');
      expect(await sut.retries.dueResends(c1, t, 1000, 10)).toEqual([]);
      expect(await sut.retries.dueResends(c1, t1, 1000, 10)).toEqual([]);
      expect((await sut.retries.dueResends(c2, t, 1000, 10)).map((r) => r.offset)).toEqual([1]);
      expect((await sut.retries.dueResends('g', t, 1000, 10)).map((r) => r.offset)).toEqual([3]);
      await sut.retries.dropResends(c1, 'orders');
    });

    test("a broadcast consumer's dead letters are its own", async () => {
      const c1 = subscriptionKey('g', 'pod-0');
      await sut.retries.deadLetter([
        { group: c1, message: stored(4, 'x'), reason: 'max-retries', attempts: 3, lastError: 'e' },
        { group: 'g', message: stored(5, 'y'), reason: 'max-retries', attempts: 3, lastError: 'e' },
      ]);
      const mine = await sut.retries.listDeadLetters({ ...all, group: c1 }, 10, 0);
      expect(mine.map((l) => [l.group, l.message.offset])).toEqual([[c1, 4]]);
      expect(await sut.retries.purgeDeadLetters({ ...all, group: c1 })).toBe(1);
      expect((await sut.retries.listDeadLetters(all, 10, 0)).map((l) => l.message.offset)).toEqual([5]);
    });

    test('retryCounts counts scheduled resends and dead letters per partition of one key', async () => {
      expect(await sut.retries.retryCounts('g', 'orders')).toEqual([]);
      await sut.retries.scheduleResends([
        resend(1, 100),
        resend(2, 900),
        resend(3, 100, { ref: t1 }),
        resend(4, 100, { group: 'other' }),
      ]);
      await sut.retries.deadLetter([
        { group: 'g', message: stored(5, 'x'), reason: 'max-retries', attempts: 3, lastError: '' },
        { group: 'g', message: stored(6, 'y'), reason: 'max-retries', attempts: 3, lastError: '' },
        { group: 'other', message: stored(7, 'z'), reason: 'rejected', attempts: 1, lastError: '' },
      ]);
      expect(await sut.retries.retryCounts('g', 'orders')).toEqual([
        { partition: 0, pendingRetries: 2, deadLetters: 2 },
        { partition: 1, pendingRetries: 1, deadLetters: 0 },
      ]);
      expect(await sut.retries.retryCounts('other', 'orders')).toEqual([
        { partition: 0, pendingRetries: 1, deadLetters: 1 },
      ]);
      expect(await sut.retries.retryCounts('g', 'payments')).toEqual([]);
    });

    test('due resends come in (scheduleAt, offset) order, per group and partition', async () => {
      await sut.retries.scheduleResends([
        resend(7, 300),
        resend(5, 300),
        resend(9, 100),
        resend(3, 900),
        resend(1, 100, { group: 'other' }),
        resend(2, 100, { ref: t1 }),
      ]);
      expect((await sut.retries.dueResends('g', t, 500, 10)).map((r) => r.offset)).toEqual([9, 5, 7]);
      expect((await sut.retries.dueResends('g', t, 500, 2)).map((r) => r.offset)).toEqual([9, 5]);
      expect(await sut.retries.nextResendAt('g', t)).toBe(100);
      expect(await sut.retries.nextResendAt('g', t, 300)).toBe(900);
      expect(await sut.retries.nextResendAt('g', t, 900)).toBeUndefined();
      expect(await sut.retries.nextResendAt('g', { topic: 'orders', partition: 5 })).toBeUndefined();
      expect((await sut.retries.dueResends('g', t1, 500, 10)).map((r) => r.offset)).toEqual([2]);
    });

    test('rescheduling an offset replaces its row, attempts and error included', async () => {
      await sut.retries.scheduleResends([resend(4, 100)]);
      await sut.retries.scheduleResends([{ ...resend(4, 200), attempts: 3, lastError: 'boom' }]);
      expect(await sut.retries.dueResends('g', t, 1000, 10)).toEqual([
        { group: 'g', ref: t, offset: 4, scheduleAt: 200, attempts: 3, lastError: 'boom' },
      ]);
      await sut.retries.deleteResends('g', t, [4, 99]);
      expect(await sut.retries.dueResends('g', t, 1000, 10)).toEqual([]);
      await sut.retries.deleteResends('g', t, []);
    });

    test('dead-lettering stores the message and removes its resend, atomically', async () => {
      await sut.retries.scheduleResends([resend(1, 100), resend(2, 100)]);
      await sut.retries.deadLetter([
        { group: 'g', message: stored(1, 'one'), reason: 'max-retries', attempts: 4, lastError: 'bad input' },
      ]);
      expect((await sut.retries.dueResends('g', t, 1000, 10)).map((r) => r.offset)).toEqual([2]);
      const [letter] = await sut.retries.listDeadLetters(all, 10, 0);
      expect(letter).toMatchObject({
        group: 'g',
        message: stored(1, 'one'),
        reason: 'max-retries',
        attempts: 4,
        lastError: 'bad input',
      });
      expect(letter.deadAt).toBeGreaterThan(0);
    });

    test('dead letters page newest first and filter by group, ids and time', async () => {
      for (let i = 1; i <= 5; i++) {
        await sut.retries.deadLetter([
          { group: 'g', message: stored(i, `m${i}`), reason: 'max-retries', attempts: 1, lastError: '' },
        ]);
      }
      await sut.retries.deadLetter([
        { group: 'h', message: stored(9, 'h'), reason: 'max-retries', attempts: 1, lastError: '' },
      ]);
      const first = await sut.retries.listDeadLetters(all, 2, 0);
      expect(first.map((l) => l.message.offset)).toEqual([5, 4]);
      const second = await sut.retries.listDeadLetters(all, 2, first[1].id);
      expect(second.map((l) => l.message.offset)).toEqual([3, 2]);
      const third = await sut.retries.listDeadLetters(all, 2, second[1].id);
      expect(third.map((l) => l.message.offset)).toEqual([1]);
      const ids = [first[0].id, third[0].id];
      expect(
        (await sut.retries.listDeadLetters({ ...all, ids }, 10, 0)).map((l) => l.message.offset),
      ).toEqual([5, 1]);
      expect(
        (await sut.retries.listDeadLetters({ ...all, group: 'h' }, 10, 0)).map((l) => l.message.offset),
      ).toEqual([9]);
      const deadAt = first[0].deadAt;
      expect(await sut.retries.listDeadLetters({ ...all, sinceMs: deadAt + 60_000 }, 10, 0)).toEqual([]);
      expect(await sut.retries.listDeadLetters({ ...all, untilMs: deadAt - 60_000 }, 10, 0)).toEqual([]);
      expect(
        await sut.retries.listDeadLetters(
          { ...all, sinceMs: deadAt - 60_000, untilMs: deadAt + 60_000 },
          10,
          0,
        ),
      ).toHaveLength(5);
    });

    test('a replay moves dead letters back into the schedule, due now with attempts reset', async () => {
      await sut.retries.deadLetter([
        { group: 'g', message: stored(1, 'a'), reason: 'max-retries', attempts: 3, lastError: 'x' },
        { group: 'g', message: stored(2, 'b'), reason: 'max-retries', attempts: 3, lastError: 'y' },
      ]);
      const [newest] = await sut.retries.listDeadLetters(all, 1, 0);
      const replayed = await sut.retries.replayDeadLetters({ ...all, ids: [newest.id] }, 5000);
      expect(replayed.map((l) => l.message.offset)).toEqual([2]);
      expect(await sut.retries.dueResends('g', t, 5000, 10)).toEqual([
        { group: 'g', ref: t, offset: 2, scheduleAt: 5000, attempts: 0, lastError: '' },
      ]);
      expect((await sut.retries.listDeadLetters(all, 10, 0)).map((l) => l.message.offset)).toEqual([1]);
      expect(await sut.retries.replayDeadLetters({ ...all, group: 'nobody' }, 5000)).toEqual([]);
    });

    test('purge and expiry delete dead letters', async () => {
      for (let i = 1; i <= 3; i++) {
        await sut.retries.deadLetter([
          { group: 'g', message: stored(i, 'x'), reason: 'max-retries', attempts: 1, lastError: '' },
        ]);
      }
      const [newest] = await sut.retries.listDeadLetters(all, 1, 0);
      expect(await sut.retries.purgeDeadLetters({ ...all, ids: [newest.id] })).toBe(1);
      expect(await sut.retries.listDeadLetters(all, 10, 0)).toHaveLength(2);
      expect(await sut.retries.expireDeadLetters('orders', 'g', 0)).toBe(0);
      expect(await sut.retries.expireDeadLetters('orders', 'g', Date.now() + 60_000)).toBe(2);
      expect(await sut.retries.purgeDeadLetters(all)).toBe(0);
    });
  });
}
