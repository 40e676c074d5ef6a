// A topic's rate limit holds for the topic as a whole: its partitions on three brokers, each
// admitting its share (limit × partitions held / partitions), eight SDK producers pushing as
// fast as they can. Refusals are RATE_LIMITED with a wait the SDK honours; nothing accepted is
// lost; a raised limit reaches the brokers through the meta-server within seconds.
import { Producer } from '../../../client/producer';
import { HeraldError } from '../../../common/errors';
import type { Logger } from '../../../common/logger';
import { silentLogger } from '../../../common/logger';
import { body, failure, metricValue, unary } from '../broker/helpers';
import { kubectlApply, topicManifest } from '../operator/helpers';
import type { PublishRequest__Input } from '../../../proto/gen/herald/v1/PublishRequest';
import type { PublishResponse } from '../../../proto/gen/herald/v1/PublishResponse';
import { partitionHistoryProblems, startLeaseCluster } from './helpers';
import type { Acked, LeaseCluster } from './helpers';

jest.setTimeout(420_000);

const TOPIC = 'limited';
const PARTITIONS = 6;

let cluster: LeaseCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
});

/** A logger that keeps the error of every publish retry the producer logs. */
function retryRecorder(errors: unknown[]): Logger {
  const make = (): Logger => ({
    ...silentLogger,
    debug: (msg, fields) => {
      if (msg === 'publish retry') errors.push(fields?.err);
    },
    namespace: () => make(),
  });
  return make();
}

interface Pusher {
  acked: (Acked & { at: number })[];
  failed: unknown[];
  stop(): Promise<void>;
}

/** Keeps `window` sends in flight on each producer until stopped. */
function push(producers: Producer[], window: number): Pusher {
  const acked: Pusher['acked'] = [];
  const failed: unknown[] = [];
  let running = true;
  let n = 0;
  const lanes = producers.map(async (p, i) => {
    const inFlight = new Set<Promise<void>>();
    while (running) {
      while (running && inFlight.size < window) {
        const text = `p${i}-${n++}`;
        const s: Promise<void> = p.send(TOPIC, { body: Buffer.from(text) }).then(
          (r) => {
            acked.push({ partition: r.partition, offset: r.offset, body: text, at: Date.now() });
            inFlight.delete(s);
          },
          (err: unknown) => {
            failed.push(err);
            inFlight.delete(s);
          },
        );
        inFlight.add(s);
      }
      await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  });
  return {
    acked,
    failed,
    async stop() {
      running = false;
      await Promise.all(lanes);
    },
  };
}

/** Messages acked per second over [from, to). */
function rate(acked: { at: number }[], from: number, to: number): number {
  return (acked.filter((a) => a.at >= from && a.at < to).length * 1000) / (to - from);
}

// The limit, and the raised limit of the must-show.
const LIMIT = 1000;
const RAISED = 3000;

const waitMs = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('1,000 msg/s over 3 brokers and 8 producers holds within 10 %, and follows a raise to 3,000 within 5 s', async () => {
  cluster = await startLeaseCluster({
    prefix: 'ratelimit',
    brokers: 3,
    topics: [{ name: TOPIC, partitions: PARTITIONS, extra: `  rateLimit: {messagesPerSecond: ${LIMIT}}` }],
    // Routes (and so topic definitions) refresh every second: the option users have.
    brokerOverrides: [0, 1, 2].map(() => ({ meta: { routeTtlMs: 1_000 } })),
  });
  const c = cluster;
  const ids = c.brokers.map((b) => b.id);
  const routes = await c.waitBalanced(TOPIC, ids);

  // Over the limit, a call straight to an owner is RESOURCE_EXHAUSTED / RATE_LIMITED with a wait.
  const owner = c.brokers.find((b) => b.id === routes[0].brokerId)!;
  const publish = (req: PublishRequest__Input) =>
    unary<PublishRequest__Input, PublishResponse>((r, cb) => owner.clients.broker.Publish(r, cb), req);
  let refused: Awaited<ReturnType<typeof failure>> | undefined;
  for (let i = 0; i < 10 && !refused; i++) {
    const flood = Array.from({ length: 400 }, (_, j) => body(`flood-${i}-${j}`));
    // failure() throws when the call succeeds: admitted, so flood again.
    refused = await failure(publish({ topic: TOPIC, partition: routes[0].partition, messages: flood })).catch(
      () => undefined,
    );
  }
  expect(refused?.code).toBe(8); // RESOURCE_EXHAUSTED
  expect(refused?.info?.reason).toBe('RATE_LIMITED');
  expect(Number(refused?.info?.metadata.retry_after_ms)).toBeGreaterThan(0);
  expect(refused?.info?.metadata.limit).toBe(String(LIMIT));

  const retries: unknown[] = [];
  const producers = Array.from(
    { length: 8 },
    () =>
      new Producer({
        meta: [c.operator.metaAddress],
        namespace: c.ns.name,
        // Batches of 100: a refused batch waits for 100 tokens, so few calls are refused.
        maxBatchMessages: 100,
        logger: retryRecorder(retries),
      }),
  );
  const pusher = push(producers, 400);
  try {
    // Past the first burst and the routes' first fetch, 20 s at the limit.
    await waitMs(3_000);
    const from = Date.now();
    const refusedBefore = retries.length;
    await waitMs(20_000);
    const held = rate(pusher.acked, from, Date.now());
    process.stdout.write(
      `accepted at a limit of ${LIMIT}/s: ${held.toFixed(0)} msg/s over 20 s (${retries.length - refusedBefore} calls refused meanwhile)\n`,
    );
    expect(held).toBeGreaterThanOrEqual(LIMIT * 0.9);
    expect(held).toBeLessThanOrEqual(LIMIT * 1.1);

    await kubectlApply(
      c.ns.name,
      topicManifest(TOPIC, PARTITIONS, `  rateLimit: {messagesPerSecond: ${RAISED}}`),
    );
    // The Topic has the new limit from here (kubectl returns once the apiserver stored it).
    const raised = Date.now();
    // The brokers' shares add up to the new limit (each sets its share gauge as it admits).
    const shares = () =>
      Promise.all(
        c.brokers.map((b) =>
          metricValue(
            b.process.metricsAddress,
            `herald_rate_limit_share_messages_per_second{topic="${TOPIC}"}`,
          ),
        ),
      ).then((v) => v.reduce((a, b) => a + b, 0));
    let appliedAfter: number | undefined;
    while (appliedAfter === undefined && Date.now() - raised < 12_000) {
      if (Math.round(await shares()) === RAISED) appliedAfter = Date.now() - raised;
      else await waitMs(100);
    }
    const refusedAtRaise = retries.length;
    // The first whole second at the raised limit ± 10 % starts within 5 s of the change.
    await waitMs(Math.max(0, raised + 12_000 - Date.now()));
    let followedAfter: number | undefined;
    for (let t = raised; t + 1000 <= Date.now(); t += 250) {
      const r = rate(pusher.acked, t, t + 1000);
      if (r >= RAISED * 0.9 && r <= RAISED * 1.1) {
        followedAfter = t + 1000 - raised;
        break;
      }
    }
    const after = rate(pusher.acked, raised + 6_000, raised + 11_000);
    process.stdout.write(
      `raised to ${RAISED}/s: the brokers' shares added up to it after ${appliedAfter ?? 'never'} ms; the accepted rate followed after ${followedAfter ?? 'never'} ms; then ${after.toFixed(0)} msg/s over 5 s (${retries.length - refusedAtRaise} calls refused meanwhile)\n`,
    );
    expect(appliedAfter).toBeDefined();
    expect(appliedAfter!).toBeLessThanOrEqual(5_000);
    expect(followedAfter).toBeDefined();
    expect(followedAfter!).toBeLessThanOrEqual(5_000);
    // The raised limit holds: never more than it over 5 s. How close to it the producers get
    // over those 5 s measures the machine, not the limiter (a fresh-clone CI run measured
    // 2,600 msg/s there once), so the lower bound asks only that the raise took hold: well
    // above the old limit.
    expect(after).toBeGreaterThanOrEqual(LIMIT * 2);
    expect(after).toBeLessThanOrEqual(RAISED * 1.1);
  } finally {
    await pusher.stop();
    for (const p of producers) await p.close();
  }

  // Every refusal the producers saw was RATE_LIMITED with a wait; none gave up.
  expect(retries.length).toBeGreaterThan(0);
  const other = retries.filter(
    (e) =>
      !(e instanceof HeraldError && e.reason === 'RATE_LIMITED' && Number(e.metadata.retry_after_ms) > 0),
  );
  expect(other).toEqual([]);
  expect(pusher.failed).toEqual([]);
  expect(producers.reduce((n, p) => n + p.throttledRequests, 0)).toBe(retries.length);

  // Nothing accepted is lost: each acked message is stored once, at its offset.
  const problems = await partitionHistoryProblems(c.ns.database, TOPIC, PARTITIONS, c.brokers, [
    ...pusher.acked,
  ]);
  expect(problems).toEqual([]);

  // Throttled requests are counted per topic.
  const throttled = await Promise.all(
    c.brokers.map((b) =>
      metricValue(
        b.process.metricsAddress,
        `herald_publish_requests_total{topic="${TOPIC}",outcome="RATE_LIMITED"}`,
      ).catch(() => 0),
    ),
  );
  expect(throttled.reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0)).toBeGreaterThan(0);
});
