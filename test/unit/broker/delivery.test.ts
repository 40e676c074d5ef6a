// Delivery's side of Admin changes and its trace events, against in-memory stores: an offset
// reset drops the group's cursor state, a resend wake-up reaches a waiting pull at once, and
// deliveries, acks and nacks are traced with the consumer.
import { silentLogger } from '../../../common/logger';
import { Delivery } from '../../../broker/delivery/delivery';
import type { DeliveryContext } from '../../../broker/delivery/delivery';
import { StaticGroupPolicies, resolveGroupPolicy } from '../../../common/group-policy';
import { PartitionLog } from '../../../broker/delivery/partition-log';
import { NO_CONSUMER_LEASES } from '../../../broker/lease/consumer-leases';
import { BrokerMetrics } from '../../../broker/metrics';
import { DEFAULTS } from '../../../common/broker-options';
import { StandaloneOwnership } from '../../../broker/ownership';
import type { Resend } from '../../../storage/retry-store';
import type { OffsetCommit, StoredMessage } from '../../../storage/storage';
import type { TraceInput } from '../../../broker/trace/tracer';
import { Topics } from '../../../broker/topics';

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

function fixture() {
  const stored = [1, 2, 3].map(message);
  const log = new PartitionLog(ref, 0, { maxMessages: 100, maxBytes: 1 << 20 });
  log.appended(stored);
  const resends: Resend[] = [];
  const commits: OffsetCommit[] = [];
  const events: TraceInput[] = [];
  const ctx: DeliveryContext = {
    topics: new Topics(
      [
        {
          name: 't',
          partitions: 1,
          storage: 'mysql',
          maxMessageBytes: 1024,
          priority: false,
          delay: false,
          retentionHours: 168,
        },
      ],
      new StandaloneOwnership(),
    ),
    logs: new Map([['t/0', log]]),
    store: {
      read: () => Promise.resolve([]),
      readOffsets: (_r, offsets) => Promise.resolve(stored.filter((m) => offsets.includes(m.offset))),
      committedOffset: () => Promise.resolve(0),
      commitOffsets: (c) => {
        commits.push(...c);
        return Promise.resolve();
      },
      forceCommittedOffset: (group, ref, offset) => {
        commits.push({ group, ref, offset });
        return Promise.resolve();
      },
    },
    retries: {
      scheduleResends: (rs) => {
        for (const r of rs) {
          const at = resends.findIndex((x) => x.offset === r.offset);
          if (at >= 0) resends[at] = r;
          else resends.push(r);
        }
        return Promise.resolve();
      },
      dueResends: (_g, _r, now) => Promise.resolve(resends.filter((r) => r.scheduleAt <= now)),
      nextResendAt: () => Promise.resolve(undefined),
      deleteResends: () => Promise.resolve(),
      deadLetter: () => Promise.resolve(),
    },
    metrics: new BrokerMetrics(() => []),
    logger: silentLogger,
    leases: NO_CONSUMER_LEASES,
    policies: new StaticGroupPolicies({}, resolveGroupPolicy()),
    tracer: { record: (e) => events.push(e) },
  };
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
  return { delivery, pull, resends, commits, events, consumer };
}

describe('Delivery', () => {
  test('a reset drops what is in flight and delivers after the new offset', async () => {
    const f = fixture();
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
    const f = fixture();
    await f.pull();
    await f.delivery.ack('g', 't', 0, [1, 2, 3], f.consumer);
    expect(await f.pull()).toEqual([]);
    const waiting = f.pull(5000);
    const started = Date.now();
    f.resends.push({ group: 'g', ref, offset: 2, scheduleAt: Date.now(), attempts: 0, lastError: '' });
    f.delivery.wakeResends('g', ref);
    expect(await waiting).toEqual([[2, 1]]);
    expect(Date.now() - started).toBeLessThan(1000);
    await f.delivery.stop();
  });

  test('deliveries, acks and nacks are traced with the consumer and attempt', async () => {
    const f = fixture();
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
