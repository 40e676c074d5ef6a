// GroupCursor against in-memory stores and a recording tracer: the retry policy, dead letters,
// tag filters, ordered mode and priority lanes, and the order of writes that keeps a failed
// message safe (its retry is stored before its offset is committed past).
import { silentLogger } from '../../../common/logger';
import { GroupCursor, truncateUtf8 } from '../../../broker/delivery/group-cursor';
import type { CursorContext } from '../../../broker/delivery/group-cursor';
import { resolveGroupPolicy } from '../../../common/group-policy';
import type { GroupPolicyInput } from '../../../common/group-policy';
import { PartitionLog } from '../../../broker/delivery/partition-log';
import { BrokerMetrics } from '../../../broker/metrics';
import type { NewDeadLetter, Resend } from '../../../storage/retry-store';
import type { PartitionRef, StoredMessage } from '../../../storage/storage';
import type { TraceInput } from '../../../broker/trace/tracer';

const ref: PartitionRef = { topic: 't', partition: 0 };

function message(offset: number, extra: Partial<StoredMessage> = {}): StoredMessage {
  return {
    offset,
    publishedAt: 1,
    key: '',
    refKey: `r${offset}`,
    tags: [],
    properties: {},
    body: Buffer.from(String(offset)),
    priority: false,
    ...extra,
  };
}

/** The stores a cursor uses, in memory; `failWrites` makes every retry write fail. */
function fixture(policy: GroupPolicyInput, options: { priority?: boolean; cached?: boolean } = {}) {
  const stored: StoredMessage[] = [];
  const resends = new Map<number, Resend>();
  const dead: NewDeadLetter[] = [];
  const events: TraceInput[] = [];
  const state = { failWrites: false };
  const write = () => (state.failWrites ? Promise.reject(new Error('store down')) : Promise.resolve());
  const ctx: CursorContext = {
    store: {
      read: (_r, after, limit, lane = 'normal') =>
        Promise.resolve(
          stored.filter((m) => m.offset > after && m.priority === (lane === 'priority')).slice(0, limit),
        ),
      readOffsets: (_r, offsets) => Promise.resolve(stored.filter((m) => offsets.includes(m.offset))),
    },
    retries: {
      scheduleResends: async (rs) => {
        await write();
        for (const r of rs) resends.set(r.offset, r);
      },
      dueResends: (_g, _r, now, limit) =>
        Promise.resolve(
          [...resends.values()]
            .filter((r) => r.scheduleAt <= now)
            .sort((a, b) => a.scheduleAt - b.scheduleAt || a.offset - b.offset)
            .slice(0, limit),
        ),
      nextResendAt: (_g, _r, after = -1) => {
        const times = [...resends.values()].map((r) => r.scheduleAt).filter((t) => t > after);
        return Promise.resolve(times.length > 0 ? Math.min(...times) : undefined);
      },
      deleteResends: async (_g, _r, offsets) => {
        await write();
        for (const o of offsets) resends.delete(o);
      },
      deadLetter: async (letters) => {
        await write();
        for (const l of letters) {
          dead.push(l);
          resends.delete(l.message.offset);
        }
      },
    },
    tracer: { record: (e) => events.push(e) },
    metrics: new BrokerMetrics(() => []),
    logger: silentLogger,
  };
  const log = new PartitionLog(ref, 0, {
    maxMessages: options.cached === false ? 1 : 1000,
    maxBytes: 1 << 20,
  });
  const cursorOptions = {
    maxInFlight: 100,
    prefetchMessages: 10,
    resendPollMs: 60_000,
    resendBatch: 10,
    retryWriteBackoffMs: 10,
  };
  const cursor = new GroupCursor(
    'g',
    'g',
    log,
    ctx,
    cursorOptions,
    resolveGroupPolicy(policy),
    options.priority ?? false,
    0,
  );
  const publish = (...messages: StoredMessage[]) => {
    stored.push(...messages);
    log.appended(messages);
  };
  const take = async (max = 10) => (await cursor.take(max, 60_000)).map((d) => [d.message.offset, d.attempt]);
  const named = (event: string) => events.filter((e) => e.event === event);
  return { cursor, publish, take, resends, dead, named, state };
}

describe('GroupCursor', () => {
  test('a nack stores the retry, then the committed offset passes the message; an ack of the retry removes it', async () => {
    const f = fixture({ retry: { delaysMs: [0] } });
    f.publish(message(1), message(2));
    expect(await f.take()).toEqual([
      [1, 1],
      [2, 1],
    ]);
    await f.cursor.nack([1], 0, 'boom');
    expect(f.resends.get(1)).toMatchObject({ attempts: 1, lastError: 'boom' });
    await f.cursor.ack([2]);
    expect(f.cursor.committed).toBe(2);
    expect(f.named('retried')).toMatchObject([
      {
        offset: 1,
        group: 'g',
        attempt: 1,
        detail: { scheduleAt: expect.stringMatching(/^\d{4}-/) as string },
      },
    ]);
    // Redelivered from the schedule, marked delivered there first (attempts 2).
    expect(await f.take()).toEqual([[1, 2]]);
    expect(f.resends.get(1)).toMatchObject({ attempts: 2, lastError: 'boom' });
    await f.cursor.ack([1]);
    expect(f.resends.size).toBe(0);
    expect(await f.take()).toEqual([]);
  });

  test('a retry that cannot be stored leaves the message in place and fails the Nack', async () => {
    const f = fixture({ retry: { delaysMs: [0] } });
    f.publish(message(1));
    await f.take();
    f.state.failWrites = true;
    await expect(f.cursor.nack([1], 0, '')).rejects.toThrow('store down');
    expect(f.cursor.committed).toBe(0);
    expect(f.cursor.inFlight).toBe(1);
    f.state.failWrites = false;
    await f.cursor.nack([1], 0, '');
    expect(f.cursor.committed).toBe(1);
    expect(f.resends.has(1)).toBe(true);
  });

  test('after maxRetries the message is dead-lettered with attempts and the last error', async () => {
    const f = fixture({ retry: { delaysMs: [0], maxRetries: 1 } });
    f.publish(message(1));
    await f.take();
    await f.cursor.nack([1], 0, 'first');
    expect(await f.take()).toEqual([[1, 2]]);
    await f.cursor.nack([1], 0, 'second');
    expect(f.dead).toMatchObject([
      { group: 'g', reason: 'max-retries', attempts: 2, lastError: 'second', message: { offset: 1, ref } },
    ]);
    expect(f.resends.size).toBe(0);
    expect(f.named('dead-lettered')).toMatchObject([
      { offset: 1, attempt: 2, detail: { reason: 'max-retries' } },
    ]);
    expect(await f.take()).toEqual([]);
  });

  test('an ack timeout is a failure too', async () => {
    const f = fixture({ retry: { delaysMs: [0] } });
    f.publish(message(1));
    expect((await f.cursor.take(10, 1)).map((d) => d.attempt)).toEqual([1]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await f.take()).toEqual([[1, 2]]);
    expect(f.resends.get(1)).toMatchObject({ attempts: 2, lastError: '' });
  });

  test('the tag filter skips messages, traces them, and commits past them', async () => {
    const f = fixture({ tagFilter: 'a && !b' });
    f.publish(
      message(1, { tags: ['a'] }),
      message(2, { tags: ['a', 'b'] }),
      message(3, { tags: [] }),
      message(4, { tags: ['a'] }),
    );
    expect((await f.take()).map(([o]) => o)).toEqual([1, 4]);
    expect(f.named('filtered').map((e) => e.offset)).toEqual([2, 3]);
    await f.cursor.ack([1, 4]);
    expect(f.cursor.committed).toBe(4);
  });

  test('ordered mode retries in place and delivers nothing later meanwhile', async () => {
    const f = fixture({ ordering: 'ordered', retry: { delaysMs: [20] } });
    f.publish(message(1), message(2));
    expect(await f.take(1)).toEqual([[1, 1]]);
    await f.cursor.nack([1], 0, 'wait');
    expect(f.resends.size).toBe(0);
    expect(await f.take()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await f.take()).toEqual([[1, 2]]);
    expect(await f.take()).toEqual([]);
    await f.cursor.ack([1]);
    expect(await f.take()).toEqual([[2, 1]]);
  });

  test('the priority lane comes first, from the cache or from the store', async () => {
    for (const cached of [true, false]) {
      const f = fixture({}, { priority: true, cached });
      f.publish(message(1), message(2), message(3, { priority: true }), message(4));
      expect((await f.take()).map(([o]) => o)).toEqual([3, 1, 2, 4]);
      await f.cursor.ack([3, 1, 2, 4]);
      expect(f.cursor.committed).toBe(4);
    }
  });

  test('hasWork says whether a take would deliver; an ack notifies only when it opens a full window', async () => {
    const f = fixture({ maxInFlight: 2 });
    await f.take(); // reads the (empty) resend schedule once
    expect(f.cursor.hasWork(Date.now())).toBe(false);
    f.publish(message(1));
    expect(f.cursor.hasWork(Date.now())).toBe(true);
    expect(await f.take()).toEqual([[1, 1]]);
    expect(f.cursor.hasWork(Date.now())).toBe(false);
    // The window has room: the ack gives no reader anything, so it wakes none.
    let version = f.cursor.signal.version;
    await f.cursor.ack([1]);
    expect(f.cursor.signal.version).toBe(version);
    f.publish(message(2), message(3), message(4));
    expect(await f.take()).toEqual([
      [2, 1],
      [3, 1],
    ]);
    // Message 4 waits for room under maxInFlight 2.
    expect(f.cursor.hasWork(Date.now())).toBe(false);
    version = f.cursor.signal.version;
    await f.cursor.ack([2]);
    expect(f.cursor.signal.version).toBe(version + 1);
    expect(f.cursor.hasWork(Date.now())).toBe(true);
    expect(await f.take()).toEqual([[4, 1]]);
  });

  test('error texts are cut to whole characters', () => {
    expect(truncateUtf8('abc', 10)).toBe('abc');
    expect(truncateUtf8('ééé', 5)).toBe('éé');
    expect(Buffer.byteLength(truncateUtf8('€'.repeat(2000), 4096))).toBe(4095);
  });
});
