import { HeraldError } from '../../../common/errors';
import { loads } from '../../../operator/assignment/assign';
import { holderValidUntil } from '../../../common/lease-math';
import { MetaCore } from '../../../operator/meta/meta-core';
import type { AcquireResult, BrokerLeaseRef } from '../../../operator/meta/meta-core';
import { seeded } from './random';
import type { Random } from './random';

const durations = {
  broker: { durationMs: 10_000, safetyMarginMs: 2_000 },
  consumer: { durationMs: 20_000, safetyMarginMs: 2_000 },
};
const NS = 'ns';
const POOL = 'default';

function core(topics: Record<string, number>): MetaCore {
  const c = new MetaCore({ maxMovesPerStep: 8 });
  c.setPool(NS, POOL, durations);
  for (const [name, partitions] of Object.entries(topics))
    c.setTopic({ namespace: NS, name, pool: POOL, partitions });
  return c;
}

const broker = (id: string, zone = '') => ({ id, address: `${id}:7600`, zone, weight: 1 });

/** What a well-behaved broker does every renew interval: acquire, and release what is revoked. */
function sync(c: MetaCore, id: string, now: number): AcquireResult {
  const result = c.acquireBrokerLeases(NS, POOL, broker(id), now);
  c.releaseBrokerLeases(NS, POOL, id, result.revoked, false, now);
  return result;
}

function perTopic(c: MetaCore, topic: string, now: number): Map<number, string> {
  return new Map(
    c
      .routes(NS, topic, now)
      .filter((r) => r.brokerId !== '')
      .map((r) => [r.partition, r.brokerId]),
  );
}

test('three brokers share 16 partitions within one, and routes name them', () => {
  const c = core({ orders: 16 });
  for (const t of [0, 1, 2]) for (const id of ['b0', 'b1', 'b2']) sync(c, id, t);
  const routes = c.routes(NS, 'orders', 3);
  expect(routes.every((r) => r.brokerId !== '' && r.address === `${r.brokerId}:7600` && r.epoch >= 1)).toBe(
    true,
  );
  expect([...loads(perTopic(c, 'orders', 3)).values()].sort()).toEqual([5, 5, 6]);
});

test('a broker that stops renewing loses its partitions only after they expire', () => {
  const c = core({ orders: 16 });
  for (const t of [0, 1]) for (const id of ['b0', 'b1', 'b2']) sync(c, id, t);
  const held = sync(c, 'b2', 2).leases.map((l) => l.partition);
  expect(held.length).toBeGreaterThanOrEqual(5);
  // b2 goes silent. Its leases stay its own until 10 s after its last call.
  for (let t = 3_000; t < 12_000; t += 3_000) {
    c.tick(t);
    for (const id of ['b0', 'b1'])
      expect(sync(c, id, t).leases.some((l) => held.includes(l.partition))).toBe(false);
  }
  c.tick(12_003);
  for (const id of ['b0', 'b1']) sync(c, id, 12_003);
  const after = perTopic(c, 'orders', 12_003);
  expect(after.size).toBe(16);
  expect([...after.values()].includes('b2')).toBe(false);
  for (const p of held) expect(c.routes(NS, 'orders', 12_003)[p]?.epoch).toBeGreaterThan(1);
});

test('a graceful leave hands partitions over at once', () => {
  const c = core({ orders: 4 });
  for (const t of [0, 1]) for (const id of ['b0', 'b1']) sync(c, id, t);
  const b0 = sync(c, 'b0', 2);
  expect(b0.leases).toHaveLength(2);
  c.releaseBrokerLeases(NS, POOL, 'b0', [], true, 3);
  expect(sync(c, 'b1', 3).leases).toHaveLength(4);
});

test('renew: current leases are renewed, stale epochs and deleted topics are lost', () => {
  const c = core({ orders: 2 });
  const got = c.acquireBrokerLeases(NS, POOL, broker('b0'), 0).leases;
  const refs: BrokerLeaseRef[] = got.map(({ topic, partition, epoch }) => ({ topic, partition, epoch }));
  const r = c.renewBrokerLeases(NS, POOL, 'b0', [...refs, { topic: 'orders', partition: 0, epoch: 99 }], 1);
  expect(r.renewed).toHaveLength(2);
  expect(r.lost).toEqual([{ topic: 'orders', partition: 0, epoch: 99, reason: 'LEASE_EXPIRED' }]);
  c.removeTopic(NS, 'orders');
  expect(c.renewBrokerLeases(NS, POOL, 'b0', refs, 2).lost.map((l) => l.reason)).toEqual([
    'TOPIC_NOT_FOUND',
    'TOPIC_NOT_FOUND',
  ]);
});

test('checkpoints change only with holders; a restored leader renews at once and grants after the wait', () => {
  const c = core({ orders: 8 });
  for (const t of [0, 1, 2]) for (const id of ['b0', 'b1']) sync(c, id, t);
  expect(c.takeDirty()).toEqual(['topic:ns/orders']);
  for (let t = 3; t < 30_000; t += 3_000) {
    c.tick(t);
    sync(c, 'b0', t);
    sync(c, 'b1', t);
  }
  expect(c.takeDirty()).toEqual([]);
  const checkpoint = c.topicCheckpoint(NS, 'orders');
  expect(checkpoint).toHaveLength(8);

  const next = new MetaCore();
  next.setPool(NS, POOL, durations);
  const start = 100_000;
  next.restoreTopic({ namespace: NS, name: 'orders', pool: POOL, partitions: 8 }, checkpoint, start);
  next.blockGrantsUntil(start + next.longestLeaseMs());
  const renewed = next.acquireBrokerLeases(NS, POOL, broker('b0'), start + 1);
  expect(renewed.leases.map((l) => [l.partition, l.epoch])).toEqual(
    checkpoint.filter((e) => e.holder === 'b0').map((e) => [e.partition, e.epoch]),
  );
  // A newcomer gets nothing during the wait; b1 is silent, so after its leases end, b0 and b2 share them.
  expect(next.acquireBrokerLeases(NS, POOL, broker('b2'), start + 2).leases).toEqual([]);
  expect(next.takeDirty()).toEqual([]);
  const after = start + next.longestLeaseMs() + 1;
  next.tick(after);
  next.acquireBrokerLeases(NS, POOL, broker('b0'), after);
  next.acquireBrokerLeases(NS, POOL, broker('b2'), after);
  expect(perTopic(next, 'orders', after).size).toBe(8);
  expect(next.takeDirty()).toEqual(['topic:ns/orders']);
});

test('consumer groups: join, rebalance, leave; broadcast gives everyone everything', () => {
  const c = core({ orders: 6 });
  c.setGroup({ namespace: NS, name: 'billing', topic: 'orders', mode: 'clustering' });
  expect(() => c.joinGroup(NS, 'nope', 'c0', '', 0)).toThrow(HeraldError);
  expect(() => c.joinGroup(NS, 'nope', 'c0', '', 0)).toThrow('consumer group ns/nope is not declared');
  const first = c.joinGroup(NS, 'billing', 'c0', '', 0).leases;
  expect(first).toHaveLength(6);
  const c1 = c.joinGroup(NS, 'billing', 'c1', '', 1);
  expect(c1.leases).toHaveLength(0); // c0 still holds them
  // c0's heartbeat drops three partitions; its next heartbeat without them releases them.
  const hb = c.heartbeat(NS, 'billing', 'c0', first, 3);
  expect(hb.leases).toHaveLength(3);
  expect(hb.lost).toHaveLength(3);
  c.heartbeat(NS, 'billing', 'c0', hb.leases, 4);
  expect(c.heartbeat(NS, 'billing', 'c1', [], 5).leases).toHaveLength(3);
  c.leaveGroup(NS, 'billing', 'c0');
  expect(c.heartbeat(NS, 'billing', 'c1', [], 6).leases).toHaveLength(6);
  expect(c.groupCheckpoint(NS, 'billing', 6).consumers).toEqual([
    { id: 'c1', zone: '', partitions: [0, 1, 2, 3, 4, 5], lastHeartbeat: new Date(6).toISOString() },
  ]);

  c.setGroup({ namespace: NS, name: 'audit', topic: 'orders', mode: 'broadcast' });
  expect(c.joinGroup(NS, 'audit', 'x', '', 0).leases).toHaveLength(6);
  expect(c.joinGroup(NS, 'audit', 'y', '', 0).leases).toHaveLength(6);
});

// ---- A simulation: brokers with their own clocks, message latency, crashes and leaves ----

interface SimBroker {
  id: string;
  alive: boolean;
  offset: number;
  rate: number;
  nextCall: number;
  /** What the broker believes: partition key -> valid until (its clock). */
  held: Map<string, { epoch: number; validUntil: number }>;
}

function simulate(rnd: Random): void {
  const topics = { t0: 16, t1: rnd.int(1, 16) };
  const c = core(topics);
  let now = 0;
  const brokers: SimBroker[] = [];
  const pending: { at: number; run: () => void }[] = [];
  let nextId = 0;
  const addBroker = () =>
    brokers.push({
      id: `b${nextId++}`,
      alive: true,
      offset: rnd.int(-100_000, 100_000),
      rate: 1 + (rnd.next() - 0.5) / 500,
      nextCall: now,
      held: new Map(),
    });
  for (let i = 0; i < 3; i++) addBroker();
  const clock = (b: SimBroker) => b.offset + now * b.rate;

  const call = (b: SimBroker) => {
    const sentAt = clock(b);
    const there = now + rnd.int(0, 300);
    const back = there + rnd.int(0, 300);
    pending.push({
      at: there,
      run: () => {
        const result: AcquireResult = c.acquireBrokerLeases(NS, POOL, broker(b.id), now);
        pending.push({
          at: back,
          run: () => {
            if (!b.alive) return;
            b.held.clear();
            for (const l of result.leases) {
              b.held.set(`${l.topic}#${l.partition}`, {
                epoch: l.epoch,
                validUntil: holderValidUntil(sentAt, durations.broker),
              });
            }
            if (result.revoked.length > 0) {
              c.releaseBrokerLeases(NS, POOL, b.id, result.revoked, false, now);
            }
          },
        });
      },
    });
  };

  for (let step = 0; step < 3000; step++) {
    now += 50;
    pending.sort((a, b) => a.at - b.at);
    while (pending.length > 0 && (pending[0]?.at ?? Infinity) <= now) pending.shift()?.run();
    if (step % 20 === 0) c.tick(now);
    for (const b of brokers) {
      if (b.alive && now >= b.nextCall) {
        call(b);
        b.nextCall = now + 3_000;
      }
    }
    if (step < 2000 && rnd.chance(0.004)) {
      const live = brokers.filter((b) => b.alive);
      const victim = live.length > 1 ? rnd.pick(live) : undefined;
      if (victim && rnd.chance(0.5)) {
        victim.alive = false; // crash: keeps believing until its own validity ends
      } else if (victim) {
        victim.alive = false;
        const refs = [...victim.held].map(([k, v]) => ({
          topic: k.split('#')[0] ?? '',
          partition: Number(k.split('#')[1]),
          epoch: v.epoch,
        }));
        victim.held.clear();
        c.releaseBrokerLeases(NS, POOL, victim.id, refs, true, now);
      }
      if (rnd.chance(0.7)) addBroker();
    }
    // No partition is served by two brokers at any instant, each judging by its own clock.
    const serving = new Map<string, string>();
    for (const b of brokers) {
      for (const [k, v] of b.held) {
        if (clock(b) >= v.validUntil) continue;
        const other = serving.get(k);
        if (other !== undefined) throw new Error(`t=${now}: ${k} served by ${other} and ${b.id}`);
        serving.set(k, b.id);
      }
    }
  }
  // Settled: every partition is held, each topic within one partition between live brokers.
  const live = brokers.filter((b) => b.alive).map((b) => b.id);
  for (const [topic, partitions] of Object.entries(topics)) {
    const holders = perTopic(c, topic, now);
    expect(holders.size).toBe(partitions);
    const n = live.map((id) => [...holders.values()].filter((h) => h === id).length);
    expect(Math.max(...n) - Math.min(...n)).toBeLessThanOrEqual(1);
  }
}

test('property: with crashes, leaves, joins, latency and skewed clocks, no partition has two holders', () => {
  for (let seed = 1; seed <= 40; seed++) {
    try {
      simulate(seeded(seed));
    } catch (err) {
      throw new Error(`seed ${seed}: ${(err as Error).message}`);
    }
  }
});

test('many topics: each topic and the total stay within one per broker, and the result is stable', () => {
  const topics: Record<string, number> = {};
  for (let i = 0; i < 40; i++) topics[`t${i}`] = 16;
  const c = core(topics);
  const ids = ['b0', 'b1', 'b2'];
  for (let t = 0; t < 60_000; t += 500) {
    c.tick(t);
    for (const id of ids) sync(c, id, t);
  }
  const total = new Map<string, number>();
  for (const name of Object.keys(topics)) {
    const n = [...loads(perTopic(c, name, 60_000)).values()];
    expect(Math.max(...n) - Math.min(...n)).toBeLessThanOrEqual(1);
    for (const [id, k] of loads(perTopic(c, name, 60_000))) total.set(id, (total.get(id) ?? 0) + k);
  }
  const sums = [...total.values()];
  expect(sums.reduce((a, b) => a + b, 0)).toBe(640);
  expect(Math.max(...sums) - Math.min(...sums)).toBeLessThanOrEqual(1);
  c.takeDirty();
  for (let t = 60_000; t < 90_000; t += 500) {
    c.tick(t);
    for (const id of ids) sync(c, id, t);
  }
  expect(c.takeDirty()).toEqual([]);
});

describe('a topic goes only to brokers of a pool that serves its storage', () => {
  const kafkaTopic = { namespace: NS, name: 'clicks', pool: POOL, partitions: 4, storage: 'kafka' as const };

  test('a pool without Kafka gets no lease of a Kafka topic; its MySQL topics are served', () => {
    const c = core({ orders: 2 });
    c.setPool(NS, POOL, { ...durations, storages: ['mysql'] });
    c.setTopic(kafkaTopic);
    expect(c.servesStorage(kafkaTopic)).toBe(false);
    const got = sync(c, 'b0', 0);
    expect(got.leases.map((l) => l.topic)).toEqual(['orders', 'orders']);
    expect(c.routes(NS, 'clicks', 0).every((r) => r.brokerId === '')).toBe(true);
  });

  test('the pool losing Kafka revokes held leases; gaining it grants them', () => {
    const c = core({});
    c.setPool(NS, POOL, { ...durations, storages: ['mysql', 'kafka'] });
    c.setTopic(kafkaTopic);
    expect(sync(c, 'b0', 0).leases).toHaveLength(4);
    c.setPool(NS, POOL, { ...durations, storages: ['mysql'] });
    const held: BrokerLeaseRef[] = [0, 1, 2, 3].map((partition) => ({
      topic: 'clicks',
      partition,
      epoch: 1,
    }));
    const renewed = c.renewBrokerLeases(NS, POOL, 'b0', held, 1);
    expect(renewed.renewed).toEqual([]);
    expect(renewed.revoked.map((r) => r.partition)).toEqual([0, 1, 2, 3]);
    const again = sync(c, 'b0', 2);
    expect(again.leases).toEqual([]);
    // Released: no broker holds the topic.
    expect(c.routes(NS, 'clicks', 2).every((r) => r.brokerId === '')).toBe(true);
    c.setPool(NS, POOL, { ...durations, storages: ['mysql', 'kafka'] });
    expect(sync(c, 'b0', 3).leases).toHaveLength(4);
  });

  test('a restored checkpoint of a topic the pool cannot serve is revoked, not renewed', () => {
    const c = new MetaCore();
    c.setPool(NS, POOL, { ...durations, storages: ['mysql'] });
    c.restoreTopic(kafkaTopic, [{ partition: 0, holder: 'b0', address: 'b0:7600', epoch: 3 }], 0);
    const renewed = c.renewBrokerLeases(NS, POOL, 'b0', [{ topic: 'clicks', partition: 0, epoch: 3 }], 1);
    expect(renewed.renewed).toEqual([]);
    expect(renewed.revoked).toEqual([{ topic: 'clicks', partition: 0, epoch: 3, durationMs: 0 }]);
  });
});
