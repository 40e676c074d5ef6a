// The Kafka adapter's one-shot read scheduling: FetchBatcher merges concurrent reads into one
// fetch per leader (bounded), ReadAhead keeps what a fetch brought beyond its read (bounded).
import { FetchBatcher } from '../../../storage/kafka/fetch-batcher';
import type { FetchAnswer, FetchWant } from '../../../storage/kafka/fetch-batcher';
import { ReadAhead, messageBytes } from '../../../storage/kafka/read-ahead';
import type { StoredMessage } from '../../../storage/storage';

interface Want extends FetchWant {
  n: number;
}

/** A fake fetch per call, answered when the test says so. */
function harness(options = { maxInFlight: 2, maxPartitions: 3 }) {
  const calls: {
    leader: string;
    wants: Want[];
    answer(a?: FetchAnswer<string>[]): void;
    fail(e: unknown): void;
  }[] = [];
  const batcher = new FetchBatcher<Want, string>(
    (leader, wants) =>
      new Promise((resolve, reject) =>
        calls.push({
          leader,
          wants,
          answer: (a) => resolve(a ?? wants.map((w) => ({ ok: true, value: `${w.key}#${w.n}` }))),
          fail: reject,
        }),
      ),
    options,
  );
  return { batcher, calls };
}

const tick = () => new Promise((r) => setImmediate(r));
const want = (leader: string, key: string, n: number): Want => ({ leader, key, n });

describe('FetchBatcher', () => {
  it('merges what waits while the fetches in flight are at their bound, one read per partition', async () => {
    const { batcher, calls } = harness({ maxInFlight: 1, maxPartitions: 3 });
    const first = batcher.request(want('1', 'p0', 0));
    const rest = [
      batcher.request(want('1', 'p1', 1)),
      batcher.request(want('1', 'p1', 2)),
      batcher.request(want('1', 'p2', 3)),
      batcher.request(want('1', 'p3', 4)),
      batcher.request(want('1', 'p4', 5)),
    ];
    expect(calls.map((c) => c.wants.map((w) => w.n))).toEqual([[0]]);
    calls[0].answer();
    expect(await first).toBe('p0#0');
    await tick();
    // Three partitions at most, p1's second read held for a later fetch, arrival order kept.
    expect(calls.map((c) => c.wants.map((w) => w.n))).toEqual([[0], [1, 3, 4]]);
    expect(batcher.outstanding('1')).toBe(1);
    calls[1].answer();
    await tick();
    expect(calls[2].wants.map((w) => w.n)).toEqual([2, 5]);
    calls[2].answer();
    expect(await Promise.all(rest)).toEqual(['p1#1', 'p1#2', 'p2#3', 'p3#4', 'p4#5']);
    expect(batcher.outstanding('1')).toBe(0);
  });

  it('keeps at most maxInFlight fetches per leader, and leaders apart', async () => {
    const { batcher, calls } = harness({ maxInFlight: 2, maxPartitions: 1 });
    const all = ['a', 'b', 'c'].flatMap((k, i) => [
      batcher.request(want('1', k, i)),
      batcher.request(want('2', k, 10 + i)),
    ]);
    expect(calls.map((c) => [c.leader, c.wants.map((w) => w.n)])).toEqual([
      ['1', [0]],
      ['2', [10]],
      ['1', [1]],
      ['2', [11]],
    ]);
    expect(batcher.outstanding('1')).toBe(2);
    calls[0].answer();
    await tick();
    expect(calls.map((c) => c.wants[0].n)).toEqual([0, 10, 1, 11, 2]);
    for (const c of calls.slice(1)) c.answer();
    await tick();
    for (const c of calls.slice(5)) c.answer();
    expect(await Promise.all(all)).toHaveLength(6);
    expect(batcher.outstanding('2')).toBe(0);
  });

  it("gives each read its own answer or error, fails a thrown fetch's reads, and goes on after", async () => {
    const { batcher, calls } = harness({ maxInFlight: 1, maxPartitions: 3 });
    const a = batcher.request(want('1', 'p0', 0));
    const b = batcher.request(want('1', 'p1', 1));
    const c = batcher.request(want('1', 'p2', 2));
    calls[0].fail(new Error('connection lost'));
    await expect(a).rejects.toThrow('connection lost');
    await tick();
    calls[1].answer([
      { ok: true, value: 'x' },
      { ok: false, error: new Error('out of range') },
    ]);
    await expect(b).resolves.toBe('x');
    await expect(c).rejects.toThrow('out of range');
    const d = batcher.request(want('1', 'p0', 3));
    calls[2].answer([]);
    await expect(d).rejects.toThrow('no answer for p0');
  });

  it('refuses bounds below one', () => {
    expect(() => harness({ maxInFlight: 0, maxPartitions: 1 })).toThrow('maxInFlight');
    expect(() => harness({ maxInFlight: 1, maxPartitions: 0 })).toThrow('maxPartitions');
  });
});

function messages(from: number, count: number, bodyBytes = 100): StoredMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: from + i,
    publishedAt: 0,
    key: '',
    refKey: '',
    tags: [],
    properties: {},
    body: Buffer.alloc(bodyBytes),
    priority: false,
  }));
}

describe('ReadAhead', () => {
  it('hands what was kept to the read from where the last one stopped, once', () => {
    const ahead = new ReadAhead(1_000_000);
    ahead.keep('t\u00000', 501, { messages: messages(501, 499), coveredTo: 999, end: 5000 });
    expect(ahead.take('t\u00000', 500)).toBeUndefined();
    expect(ahead.take('t\u00001', 501)).toBeUndefined();
    const chunk = ahead.take('t\u00000', 501);
    expect(chunk?.messages.map((m) => m.offset)).toEqual(Array.from({ length: 499 }, (_, i) => 501 + i));
    expect(chunk).toMatchObject({ coveredTo: 999, end: 5000 });
    expect(ahead.take('t\u00000', 501)).toBeUndefined();
    expect(ahead.bytes).toBe(0);
  });

  it('keeps one entry per position, so two groups on one partition do not evict each other', () => {
    const ahead = new ReadAhead(1_000_000);
    ahead.keep('p', 11, { messages: messages(11, 5), coveredTo: 15, end: 100 });
    ahead.keep('p', 51, { messages: messages(51, 5), coveredTo: 55, end: 100 });
    expect(ahead.take('p', 51)?.messages[0].offset).toBe(51);
    expect(ahead.take('p', 11)?.messages[0].offset).toBe(11);
  });

  it('stays within its byte budget, the oldest entries giving way', () => {
    const one = messageBytes(messages(1, 1)[0]);
    const ahead = new ReadAhead(one * 10);
    ahead.keep('a', 1, { messages: messages(1, 4), coveredTo: 4, end: 9 });
    ahead.keep('b', 1, { messages: messages(1, 4), coveredTo: 4, end: 9 });
    ahead.keep('c', 1, { messages: messages(1, 4), coveredTo: 4, end: 9 });
    expect(ahead.bytes).toBe(one * 8);
    expect(ahead.take('a', 1)).toBeUndefined();
    expect(ahead.take('b', 1)).toBeDefined();
    // Larger than the whole budget: not kept, nothing else evicted.
    ahead.keep('d', 1, { messages: messages(1, 11), coveredTo: 11, end: 20 });
    expect(ahead.take('d', 1)).toBeUndefined();
    expect(ahead.take('c', 1)).toBeDefined();
    expect(ahead.bytes).toBe(0);
    // A budget of 0 keeps nothing.
    const none = new ReadAhead(0);
    none.keep('a', 1, { messages: messages(1, 1), coveredTo: 1, end: 1 });
    expect(none.take('a', 1)).toBeUndefined();
  });

  it("forgets a dropped topic's partitions", () => {
    const ahead = new ReadAhead(1_000_000);
    ahead.keep('gone\u00000', 1, { messages: messages(1, 2), coveredTo: 2, end: 2 });
    ahead.keep('kept\u00000', 1, { messages: messages(1, 2), coveredTo: 2, end: 2 });
    ahead.dropWhere((key) => key.startsWith('gone\u0000'));
    expect(ahead.take('gone\u00000', 1)).toBeUndefined();
    expect(ahead.take('kept\u00000', 1)).toBeDefined();
  });
});
