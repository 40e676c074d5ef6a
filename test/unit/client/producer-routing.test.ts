// The Producer's routing against stand-in servers on loopback: a Meta that answers GetRoutes
// (slowly, and with a stale owner first) and two brokers, one of which says NOT_PARTITION_OWNER
// with the owner's address. Checks the order of a key's messages, the redirect, and batching.
import * as grpc from '@grpc/grpc-js';
import { Producer } from '../../../client';
import { HeraldError } from '../../../common/errors';
import { partitionForKey } from '../../../common/partitioner';
import { toServiceError } from '../../../common/grpc/status';
import { loadMetaProto, loadProtos } from '../../../proto/load';
import type { BrokerHandlers } from '../../../proto/gen/herald/v1/Broker';
import type { MetaHandlers } from '../../../proto/gen/herald/v1/Meta';
import type { PublishRequest } from '../../../proto/gen/herald/v1/PublishRequest';

interface Stub {
  server: grpc.Server;
  address: string;
  publishes: PublishRequest[];
}

const servers: grpc.Server[] = [];
let owner: Stub;
let stale: Stub;
let meta: { address: string; routesAsked: number; answerWith: () => string };

async function listen(server: grpc.Server): Promise<string> {
  servers.push(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return `127.0.0.1:${port}`;
}

async function broker(
  answer: (req: PublishRequest) => Partial<grpc.StatusObject> | undefined,
): Promise<Stub> {
  const stub: Stub = { server: new grpc.Server(), address: '', publishes: [] };
  const handlers: Pick<BrokerHandlers, 'Publish'> = {
    Publish(call, cb) {
      stub.publishes.push(call.request);
      const err = answer(call.request);
      if (err) return cb(err);
      cb(null, {
        topic: call.request.topic,
        partition: call.request.partition ?? 0,
        results: call.request.messages.map((_, i) => ({
          offset: stub.publishes.length * 1000 + i,
          messageId: `m${i}`,
        })),
      });
    },
  };
  stub.server.addService(loadProtos().grpc.herald.v1.Broker.service, handlers);
  stub.address = await listen(stub.server);
  return stub;
}

beforeAll(async () => {
  owner = await broker(() => undefined);
  stale = await broker((req) =>
    toServiceError(
      new HeraldError('NOT_PARTITION_OWNER', 'not mine', {
        topic: req.topic,
        partition: String(req.partition),
        owner: owner.address,
      }),
    ),
  );
  const server = new grpc.Server();
  meta = { address: '', routesAsked: 0, answerWith: () => stale.address };
  const handlers: Pick<MetaHandlers, 'GetRoutes'> = {
    GetRoutes(call, cb) {
      meta.routesAsked++;
      if (call.request.topic !== 'orders') {
        return cb(
          toServiceError(new HeraldError('TOPIC_NOT_FOUND', 'no such topic', { topic: call.request.topic })),
        );
      }
      const address = meta.answerWith();
      // Slow, so the first sends wait for it while later ones are made.
      setTimeout(
        () =>
          cb(null, {
            topic: 'orders',
            routes: [0, 1, 2].map((partition) => ({ partition, brokerId: 'b', address })),
            maxMessageBytes: 100,
          }),
        50,
      );
    },
  };
  server.addService(loadMetaProto().grpc.herald.v1.Meta.service, handlers);
  meta.address = await listen(server);
});

afterAll(() => servers.forEach((s) => s.forceShutdown()));

test("a key's messages keep send() order through a slow GetRoutes and a NOT_PARTITION_OWNER redirect", async () => {
  const producer = new Producer({ meta: meta.address, lingerMs: 20 });
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < 30; i++) {
    sends.push(producer.send('orders', { key: 'customer-17', body: `m${i}` }));
    if (i === 10) await new Promise((resolve) => setTimeout(resolve, 60)); // the routes arrived meanwhile
  }
  await Promise.all(sends);
  await producer.close();
  // The stale broker answered NOT_PARTITION_OWNER with the owner; everything was stored there, in order.
  expect(stale.publishes.length).toBeGreaterThan(0);
  const stored = owner.publishes.flatMap((p) => p.messages.map((m) => m.body.toString()));
  expect(stored).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
  expect(
    owner.publishes.every((p) => p.route === 'partition' && p.messages.every((m) => m.key === 'customer-17')),
  ).toBe(true);
  // Batched: far fewer Publish calls than messages.
  expect(owner.publishes.length).toBeLessThanOrEqual(4);
  expect(meta.routesAsked).toBe(1);
});

test('fails fast: an unknown topic, an oversize message; a closed producer refuses sends', async () => {
  const producer = new Producer({ meta: meta.address });
  await expect(producer.send('nope', { body: 'x' })).rejects.toMatchObject({ reason: 'TOPIC_NOT_FOUND' });
  await expect(producer.send('orders', { body: 'x'.repeat(101) })).rejects.toMatchObject({
    reason: 'MESSAGE_TOO_LARGE',
    metadata: { limit: '100' },
  });
  await expect(producer.send('orders', { partition: 3, body: 'x' })).rejects.toMatchObject({
    reason: 'PARTITION_OUT_OF_RANGE',
  });
  await producer.close();
  await expect(producer.send('orders', { body: 'x' })).rejects.toMatchObject({ reason: 'INVALID_REQUEST' });
});

test('an unreachable owner makes the routes stale: the retry asks the meta-server again', async () => {
  const dead = await listen(new grpc.Server()); // listening, but without the Broker service: UNIMPLEMENTED
  servers.pop()?.forceShutdown(); // ... and now not listening at all: UNAVAILABLE
  let first = true;
  meta.answerWith = () => {
    const a = first ? dead : owner.address;
    first = false;
    return a;
  };
  const asked = meta.routesAsked;
  const before = owner.publishes.length;
  const producer = new Producer({ meta: meta.address, lingerMs: 0, retry: { initialMs: 10, maxMs: 20 } });
  const r = await producer.send('orders', { partition: 1, body: 'after a failover' });
  await producer.close();
  expect(r.partition).toBe(1);
  expect(meta.routesAsked - asked).toBe(2);
  expect(owner.publishes.length).toBe(before + 1);
});

test('direct mode: the first answer teaches the partition count, then concurrent keyed sends batch per partition in order', async () => {
  // A broker that hashes keys as the real one does and says how many partitions the topic has.
  const seen: PublishRequest[] = [];
  const server = new grpc.Server();
  const handlers: Pick<BrokerHandlers, 'Publish'> = {
    Publish(call, cb) {
      const req = call.request;
      seen.push(req);
      const partition = req.route === 'key' ? partitionForKey(req.key!, 4) : req.partition!;
      setTimeout(
        () =>
          cb(null, {
            topic: req.topic,
            partition,
            partitions: 4,
            results: req.messages.map((_, i) => ({ offset: seen.length * 1000 + i, messageId: `m${i}` })),
          }),
        5,
      );
    },
  };
  server.addService(loadProtos().grpc.herald.v1.Broker.service, handlers);
  const address = await listen(server);
  const producer = new Producer({ broker: address });
  // 64 senders, each awaiting every send, 10 sends each, one key per sender.
  const results = await Promise.all(
    Array.from({ length: 64 }, async (_, s) => {
      const out = [];
      for (let i = 0; i < 10; i++) out.push(await producer.send('t', { key: `k${s}`, body: `${s}:${i}` }));
      return out;
    }),
  );
  await producer.close();
  expect(seen[0].route).toBe('key');
  expect(seen.slice(1).every((r) => r.route === 'partition')).toBe(true);
  results.forEach((rs, s) => rs.forEach((r) => expect(r.partition).toBe(partitionForKey(`k${s}`, 4))));
  // Each sender's messages were stored in send() order.
  for (let s = 0; s < 64; s++) {
    const bodies = seen
      .flatMap((r) => r.messages.map((m) => m.body.toString()))
      .filter((b) => b.startsWith(`${s}:`));
    expect(bodies).toEqual(Array.from({ length: 10 }, (_, i) => `${s}:${i}`));
  }
  // Batched per partition: 640 messages in a few dozen calls, not one call per message.
  expect(producer.publishRequests).toBe(seen.length);
  expect(seen.length).toBeLessThanOrEqual(1 + 4 * 12);
});
