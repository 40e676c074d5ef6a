import { PartitionDelays } from '../../../broker/delay/partition-delays';
import type { DelayStore, DelayedMessage } from '../../../storage/delay-store';
import { silentLogger } from '../../../common/logger';

const ref = { topic: 't', partition: 0 };
const T0 = 1_700_000_000_000;
const options = { maxHorizonMs: 366 * 86_400_000, tickMs: 100, windowMs: 10_000, maxLoaded: 100 };

function delayed(id: number, deliverAt: number): DelayedMessage {
  return {
    id,
    deliverAt,
    message: {
      key: '',
      refKey: '',
      tags: [],
      properties: {},
      body: Buffer.from(String(id)),
      priority: false,
    },
  };
}

/** The delay table in memory; dispatch deletes rows, as the append's transaction does. */
class FakeTable implements DelayStore {
  rows: DelayedMessage[] = [];
  loads = 0;
  failLoads = 0;
  /** When set, loads read the table at once but answer only when `release` is called. */
  held: (() => void)[] | undefined;

  scheduleDelayed(): Promise<number[]> {
    throw new Error('not used');
  }

  dueDelayed(
    _ref: unknown,
    until: number,
    limit: number,
    after?: { deliverAt: number; id: number },
  ): Promise<DelayedMessage[]> {
    this.loads++;
    if (this.failLoads > 0) {
      this.failLoads--;
      return Promise.reject(new Error('store down'));
    }
    const rows = this.rows
      .filter((r) => r.deliverAt < until)
      .filter(
        (r) =>
          !after || r.deliverAt > after.deliverAt || (r.deliverAt === after.deliverAt && r.id > after.id),
      )
      .sort((a, b) => a.deliverAt - b.deliverAt || a.id - b.id);
    const page = rows.slice(0, limit);
    const held = this.held;
    if (!held) return Promise.resolve(page);
    return new Promise((resolve) => held.push(() => resolve(page)));
  }
}

function setup(maxLoaded = options.maxLoaded) {
  const table = new FakeTable();
  const dispatched: number[][] = [];
  let fail = 0;
  const delays = new PartitionDelays(
    ref,
    table,
    { ...options, maxLoaded },
    500,
    (_ref, due) => {
      if (fail > 0) {
        fail--;
        return Promise.reject(new Error('fenced'));
      }
      dispatched.push(due.map((d) => d.id));
      const ids = new Set(due.map((d) => d.id));
      table.rows = table.rows.filter((r) => !ids.has(r.id));
      return Promise.resolve();
    },
    silentLogger,
    T0,
  );
  return { table, dispatched, delays, failNext: (n: number) => (fail = n) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('PartitionDelays', () => {
  it('loads the window and dispatches each message once its tick has passed, in due order', async () => {
    const { table, dispatched, delays } = setup();
    table.rows = [delayed(3, T0 + 550), delayed(1, T0 + 250), delayed(2, T0 + 250), delayed(4, T0 + 20_000)];
    delays.tick(T0);
    await settle();
    expect(delays.loaded).toBe(3);
    delays.tick(T0 + 299);
    expect(dispatched).toEqual([]);
    delays.tick(T0 + 300);
    delays.tick(T0 + 600);
    await settle();
    expect(dispatched).toEqual([[1, 2], [3]]);
    // The message beyond the window comes in with a later load.
    delays.tick(T0 + 15_000);
    await settle();
    delays.tick(T0 + 20_100);
    await settle();
    expect(dispatched).toEqual([[1, 2], [3], [4]]);
    expect(table.rows).toEqual([]);
  });

  it('takes messages stored into the loaded window straight into the wheel', async () => {
    const { table, dispatched, delays } = setup();
    delays.tick(T0);
    await settle();
    const loads = table.loads;
    delays.stored([delayed(7, T0 + 1000), delayed(8, T0 + 50_000)]);
    expect(delays.loaded).toBe(1);
    delays.tick(T0 + 1100);
    await settle();
    expect(dispatched).toEqual([[7]]);
    expect(table.loads).toBe(loads);
  });

  it('dispatches messages overdue at takeover at once', async () => {
    const { table, dispatched, delays } = setup();
    table.rows = [delayed(2, T0 - 60_000), delayed(1, T0 - 90_000)];
    delays.tick(T0);
    await settle();
    delays.tick(T0 + 100);
    await settle();
    expect(dispatched).toEqual([[1, 2]]);
  });

  it('reloads what a failed dispatch left in the table, and retries a failed load', async () => {
    const { table, dispatched, delays, failNext } = setup();
    table.rows = [delayed(1, T0 + 100)];
    table.failLoads = 1;
    delays.tick(T0);
    await settle();
    expect(delays.loaded).toBe(0);
    delays.tick(T0 + 1000); // the load is retried after a second
    await settle();
    expect(delays.loaded).toBe(1);
    failNext(1);
    delays.tick(T0 + 1100);
    await settle();
    expect(dispatched).toEqual([]);
    expect(delays.loaded).toBe(0);
    delays.tick(T0 + 2200);
    await settle();
    delays.tick(T0 + 2300);
    await settle();
    expect(dispatched).toEqual([[1]]);
  });

  it('holds at most maxLoaded messages and loads the rest as they are dispatched', async () => {
    const { table, dispatched, delays } = setup(4);
    table.rows = Array.from({ length: 10 }, (_, i) => delayed(i + 1, T0 + 200 + i));
    delays.tick(T0);
    await settle();
    expect(delays.loaded).toBe(4);
    // Stored beyond the capped window: left in the table for a later load.
    table.rows.push(delayed(11, T0 + 300));
    delays.stored([delayed(11, T0 + 300)]);
    expect(delays.loaded).toBe(4);
    for (let now = T0 + 300; now < T0 + 1500; now += 100) {
      delays.tick(now);
      await settle();
    }
    expect(dispatched.flat().sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(dispatched.every((chunk) => chunk.length <= 4)).toBe(true);
  });

  it('does not take back a message dispatched while a load that read its row was running', async () => {
    const { table, dispatched, delays } = setup();
    table.rows = [delayed(1, T0 + 100), delayed(2, T0 + 5200), delayed(3, T0 + 5250)];
    delays.tick(T0);
    await settle();
    expect(delays.loaded).toBe(3);
    delays.tick(T0 + 200);
    await settle();
    // The half-window reload reads rows 2 and 3, and answers only after both were dispatched.
    table.held = [];
    delays.tick(T0 + 5000);
    delays.tick(T0 + 5300);
    await settle();
    expect(dispatched).toEqual([[1], [2, 3]]);
    table.held.forEach((release) => release());
    table.held = undefined;
    await settle();
    delays.tick(T0 + 5400);
    delays.tick(T0 + 5500);
    await settle();
    expect(dispatched).toEqual([[1], [2, 3]]);
    expect(delays.loaded).toBe(0);
  });

  it('drops everything when stopped', async () => {
    const { table, dispatched, delays } = setup();
    table.rows = [delayed(1, T0 + 100)];
    delays.tick(T0);
    await settle();
    delays.stop();
    delays.tick(T0 + 1000);
    delays.stored([delayed(2, T0 + 200)]);
    await settle();
    expect(dispatched).toEqual([]);
    expect(delays.loaded).toBe(0);
  });
});
