import type * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../../../common/errors';
import { RouteTable } from '../../../broker/lease/route-table';
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RETENTION_HOURS } from '../../../common/broker-options';
import type { TopicOptions } from '../../../common/broker-options';
import type { MetaConnection } from '../../../common/meta-client';
import type { GetRoutesResponse } from '../../../proto/gen/herald/v1/GetRoutesResponse';
import type { MetaClient } from '../../../proto/gen/herald/v1/Meta';

function fakeMeta(answer: (topic: string) => GetRoutesResponse | Error) {
  const meta = {
    calls: 0,
    call<Res>(
      invoke: (client: MetaClient, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void,
    ): Promise<Res> {
      meta.calls++;
      const client = {
        getRoutes: (req: { topic: string }, cb: (err: Error | null, res?: GetRoutesResponse) => void) => {
          const a = answer(req.topic);
          setImmediate(() => (a instanceof Error ? cb(a) : cb(null, a)));
        },
      } as unknown as MetaClient;
      return new Promise<Res>((resolve, reject) =>
        invoke(client, (err, res) => (err ? reject(err) : resolve(res!))),
      );
    },
  } satisfies Pick<MetaConnection, 'call'> & { calls: number };
  return meta;
}

const routes = (maxMessageBytes: number): GetRoutesResponse => ({
  topic: 'orders',
  pushGroups: [],
  maxMessageBytes,
  priority: false,
  delay: false,
  retentionHours: 0,
  storage: 'mysql',
  rateLimit: null,
  routes: [
    { partition: 1, brokerId: 'b1', address: 'b1:7600', epoch: 4, zone: 'zone-b' },
    { partition: 0, brokerId: 'b0', address: 'b0:7600', epoch: 2, zone: '' },
  ],
});

test('routes define the topic: one route per partition, maxMessageBytes or the default', async () => {
  const defined: TopicOptions[] = [];
  const table = new RouteTable(
    fakeMeta(() => routes(0)),
    'ns',
    5_000,
    (t) => defined.push(t),
  );
  const r = await table.get('orders');
  expect(r.topic).toEqual({
    name: 'orders',
    storage: 'mysql',
    partitions: 2,
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    delay: false,
    retentionHours: DEFAULT_RETENTION_HOURS,
    priority: false,
  });
  expect(defined).toEqual([r.topic]);
  expect(table.cached('orders', 1)).toEqual({ partition: 1, brokerId: 'b1', address: 'b1:7600', epoch: 4 });
});

test('routes carry the topic spec: delay and retention hours', async () => {
  const table = new RouteTable(
    fakeMeta(() => ({ ...routes(0), delay: true, retentionHours: 24 })),
    'ns',
    5_000,
    () => undefined,
  );
  expect((await table.get('orders')).topic).toMatchObject({ delay: true, retentionHours: 24 });
});

test('routes carry the rate limit; none when unset', async () => {
  const limited = new RouteTable(
    fakeMeta(() => ({ ...routes(0), rateLimit: { messagesPerSecond: 1000, burst: 0 } })),
    'ns',
    5_000,
    () => undefined,
  );
  expect((await limited.get('orders')).topic.rateLimit).toEqual({ messagesPerSecond: 1000, burst: 0 });
  const free = new RouteTable(
    fakeMeta(() => routes(0)),
    'ns',
    5_000,
    () => undefined,
  );
  expect((await free.get('orders')).topic).not.toHaveProperty('rateLimit');
});

test("routes carry the topic's storage kind: '' (an older meta-server) is mysql, an unknown one is refused", async () => {
  const answers: Record<string, string> = { k: 'kafka', old: '', odd: 'tape' };
  const table = new RouteTable(
    fakeMeta((topic) => ({ ...routes(0), storage: answers[topic] })),
    'ns',
    5_000,
    () => undefined,
  );
  expect((await table.get('k')).topic.storage).toBe('kafka');
  expect((await table.get('old')).topic.storage).toBe('mysql');
  const err = await table.get('odd').catch((e: unknown) => e);
  expect(err).toMatchObject({ reason: 'INVALID_REQUEST', metadata: { topic: 'odd', storage: 'tape' } });
});

test('cached for the TTL; concurrent refreshes share one call', async () => {
  let now = 0;
  const meta = fakeMeta(() => routes(2048));
  const table = new RouteTable(
    meta,
    'ns',
    5_000,
    () => undefined,
    () => now,
  );
  await Promise.all([table.get('orders'), table.get('orders'), table.refresh('orders')]);
  expect(meta.calls).toBe(1);
  now = 4_999;
  expect((await table.get('orders')).topic.maxMessageBytes).toBe(2048);
  expect(meta.calls).toBe(1);
  now = 5_000;
  await table.get('orders');
  expect(meta.calls).toBe(2);
});

test('an unreachable meta-server is NOT_PARTITION_OWNER (retriable), never a crash', async () => {
  const table = new RouteTable(
    fakeMeta(() => new Error('connect ECONNREFUSED')),
    'ns',
    5_000,
    () => undefined,
  );
  const err = await table.get('orders').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HeraldError);
  expect((err as HeraldError).reason).toBe('NOT_PARTITION_OWNER');
  expect((err as HeraldError).retriable).toBe(true);
});
