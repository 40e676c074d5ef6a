// delivery.maxUnsentBytes against the real MariaDB: a Subscribe reader that stops reading
// (its HTTP/2 window full) holds the broker to the budget plus one take of deliveries written
// and not flushed, however many credits it granted; once it reads again every message arrives
// exactly once and the budget is empty.
import type { SubscribeResponse } from '../../../proto/gen/herald/v1/SubscribeResponse';
import {
  api,
  brokerOptions,
  dropTestDatabases,
  metricValue,
  runBroker,
  testDatabase,
  until,
} from './helpers';
import type { Running } from './helpers';
import { waitFor } from '../wait';

afterAll(dropTestDatabases);

const TOPIC = 'unsent';
const BODY = Buffer.alloc(8 * 1024, 'x');
const MESSAGES = 300;
const BUDGET = 16 * 1024;
/** maxPullMessages: a take's size, so the budget's overshoot is at most TAKE bodies. */
const TAKE = 2;

describe('delivery.maxUnsentBytes', () => {
  let running: Running;

  beforeEach(async () => {
    running = await runBroker(
      brokerOptions(testDatabase('unsent'), [{ name: TOPIC, partitions: 1 }], {
        delivery: { maxUnsentBytes: BUDGET, maxPullMessages: TAKE },
      }),
    );
  });
  afterEach(async () => {
    await running.stop();
  });

  test('a stalled reader holds the broker to the budget; reading again delivers everything once', async () => {
    const call = api(running.clients);
    for (let i = 0; i < MESSAGES; i += 50)
      await call.publish({
        topic: TOPIC,
        partition: 0,
        messages: Array.from({ length: 50 }, () => ({ body: BODY })),
      });
    const unsent = () => metricValue(running.broker.metricsAddress, 'herald_delivery_unsent_bytes');
    const inFlight = async () => (await call.getLag({ group: 'g', topic: TOPIC })).partitions[0].inFlight;

    const stream = running.clients.broker.Subscribe();
    const received: number[] = [];
    stream.on('data', (r: SubscribeResponse) => received.push(Number(r.delivery!.offset)));
    stream.pause();
    // Credits for everything: only the transport and the budget hold the broker back.
    stream.write({
      start: { group: 'g', topic: TOPIC, partition: 0, credits: 10_000, ackTimeoutMs: 60_000 },
    });
    await waitFor('the budget to fill', async () => ((await unsent()) >= BUDGET ? true : undefined));
    const taken = await inFlight();
    await new Promise((r) => setTimeout(r, 300));
    // Full, over it by at most one take, and nothing more taken while the reader stalls.
    expect(await unsent()).toBeLessThanOrEqual(BUDGET + TAKE * BODY.length);
    expect(await inFlight()).toBe(taken);
    expect(taken).toBeLessThan(MESSAGES);

    stream.resume();
    await until('every message', () => received.length >= MESSAGES);
    expect(new Set(received).size).toBe(MESSAGES);
    expect(received).toHaveLength(MESSAGES);
    await call.ack({ group: 'g', topic: TOPIC, partition: 0, offsets: received });
    expect(await unsent()).toBe(0);
    stream.end();
  });
});
