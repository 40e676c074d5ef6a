// The Producer's routing against stand-in servers on loopback: a Meta that answers GetRoutes
// (slowly, and with a stale owner first) and two brokers, one of which says NOT_PARTITION_OWNER
// with the owner's address. Checks the order of a key's messages, the redirect, and batching.
// The stand-in brokers serve Publish and PublishStream alike (the producer uses the stream, and
// unary Publish where only a forwarding broker can help).
import * as grpc from '@grpc/grpc-js';
import { Producer } from '../../../client';
import { HeraldError } from '../../../common/errors';
import { partitionForKey } from '../../../common/partitioner';
import { toRpcStatus, toServiceError } from '../../../common/grpc/status';
import { loadMetaProto, loadProtos } from '../../../proto/load';
import type { BrokerHandlers } from '../../../proto/gen/herald/v1/Broker';
import type { MetaHandlers } from '../../../proto/gen/herald/v1/Meta';
import type { PublishRequest } from '../../../proto/gen/herald/v1/PublishRequest';
import type { PublishResponse__Input } from '../../../proto/gen/herald/v1/PublishResponse';
import type { PublishStreamRequest } from '../../../proto/gen/herald/v1/PublishStreamRequest';

type Reply = (err: HeraldError | undefined, res?: PublishResponse__Input) => void;

/** Publish and PublishStream handlers that both answer through `serve`, in arrival order. */
function publishHandlers(serve: (req: PublishRequest, reply: Reply) => void) {
  const handlers: Pick<BrokerHandlers, 'Publish' | 'PublishStream'> = {
    Publish(call, cb) {
      serve(call.request, (err, res) => (err ? cb(toServiceError(err)) : cb(null, res)));
    },
    PublishStream(call) {
      call.on('data', (req: PublishStreamRequest) =>
        serve(req.publish!, (err, res) =>
          call.write(
            err
              ? { requestId: req.requestId, error: toRpcStatus(err) }
              : { requestId: req.requestId, ok: res },
          ),
        ),
      );
      call.on('end', () => call.end());
    },
  };
  return handlers;
}

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

async function broker(answer: (req: PublishRequest) => HeraldError | undefined): Promise<Stub> {
  const stub: Stub = { server: new grpc.Server(), address: '', publishes: [] };
  const handlers = publishHandlers((req, reply) => {
    stub.publishes.push(req);
    const err = answer(req);
    if (err) return reply(err);
    reply(undefined, {
      topic: req.topic,
      partition: req.partition ?? 0,
      results: req.messages.map((_, i) => ({ offset: stub.publishes.length * 1000 + i, messageId: `m${i}` })),
    });
  });
  stub.server.addService(loadProtos().grpc.herald.v1.Broker.service, handlers);
  stub.address = await listen(stub.server);
  return stub;
}

beforeAll(async () => {
  owner = await broker(() => undefined);
  stale = await broker(
    (req) =>
      new HeraldError('NOT_PARTITION_OWNER', 'not mine', {
        topic: req.topic,
        partition: String(req.partition),
        owner: owner.address,
      }),
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
  const handlers = publishHandlers((req, reply) => {
    seen.push(req);
    const partition = req.route === 'key' ? partitionForKey(req.key!, 4) : req.partition!;
    setTimeout(
      () =>
        reply(undefined, {
          topic: req.topic,
          partition,
          partitions: 4,
          results: req.messages.map((_, i) => ({ offset: seen.length * 1000 + i, messageId: `m${i}` })),
        }),
      5,
    );
  });
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

test('maxInFlight 2: a send goes while the Publish before it is in flight, and a partition keeps send() order', async () => {
  const seen: PublishRequest[] = [];
  let inFlight = 0;
  let most = 0;
  const server = new grpc.Server();
  // Answers in arrival order, each 20 ms after the one before it (one commit at a time, as a broker).
  let last = Promise.resolve();
  const handlers = publishHandlers((req, reply) => {
    seen.push(req);
    most = Math.max(most, ++inFlight);
    last = last
      .then(() => new Promise((resolve) => setTimeout(resolve, 20)))
      .then(() => {
        inFlight--;
        reply(undefined, {
          topic: req.topic,
          partition: 0,
          partitions: 1,
          results: req.messages.map((_, i) => ({ offset: i, messageId: `m${i}` })),
        });
      });
  });
  server.addService(loadProtos().grpc.herald.v1.Broker.service, handlers);
  const address = await listen(server);
  const producer = new Producer({ broker: address, maxInFlight: 2 });
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < 40; i++) {
    sends.push(producer.send('t', { partition: 0, body: `m${i}` }));
    if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 7));
  }
  await Promise.all(sends);
  await producer.close();
  expect(most).toBe(2);
  expect(seen.flatMap((r) => r.messages.map((m) => m.body.toString()))).toEqual(
    Array.from({ length: 40 }, (_, i) => `m${i}`),
  );
});

test('direct mode: a broker that does not own the partition gets the batch again as a unary Publish, which it forwards', async () => {
  const via: string[] = [];
  const server = new grpc.Server();
  const notMine = new HeraldError('NOT_PARTITION_OWNER', 'not mine', { partition: '2', owner: '' });
  const forwarding: Pick<BrokerHandlers, 'Publish' | 'PublishStream'> = {
    Publish(call, cb) {
      via.push('unary');
      cb(null, { topic: call.request.topic, partition: 2, results: [{ offset: 7, messageId: 't/2/7' }] });
    },
    PublishStream(call) {
      call.on('data', (req: PublishStreamRequest) => {
        via.push('stream');
        call.write({ requestId: req.requestId, error: toRpcStatus(notMine) });
      });
      call.on('end', () => call.end());
    },
  };
  server.addService(loadProtos().grpc.herald.v1.Broker.service, forwarding);
  const address = await listen(server);
  const producer = new Producer({ broker: address });
  const r = await producer.send('t', { partition: 2, body: 'x' });
  await producer.close();
  expect(r).toMatchObject({ partition: 2, offset: 7, messageId: 't/2/7' });
  expect(via).toEqual(['stream', 'unary']);
});

test('a stream that a refusal ends takes the other requests in flight with it: each gets its own answer by unary Publish', async () => {
  const denied = new HeraldError('PERMISSION_DENIED', 'may not publish to secret', { topic: 'secret' });
  const server = new grpc.Server();
  const ok = (req: PublishRequest): PublishResponse__Input => ({
    topic: req.topic,
    partition: 0,
    results: [{ offset: 1, messageId: `${req.topic}/0/1` }],
  });
  const handlers: Pick<BrokerHandlers, 'Publish' | 'PublishStream'> = {
    Publish(call, cb) {
      if (call.request.topic === 'secret') cb(toServiceError(denied));
      else cb(null, ok(call.request));
    },
    PublishStream(call) {
      // Holds every request; one for the refused topic ends the stream.
      call.on('data', (req: PublishStreamRequest) => {
        if (req.publish?.topic === 'secret') call.emit('error', toServiceError(denied));
      });
    },
  };
  server.addService(loadProtos().grpc.herald.v1.Broker.service, handlers);
  const address = await listen(server);
  const producer = new Producer({ broker: address });
  const allowed = producer.send('open', { partition: 0, body: 'a' });
  await new Promise((resolve) => setTimeout(resolve, 20)); // in flight on the stream
  const refused = producer.send('secret', { partition: 0, body: 'b' });
  const [a, r] = await Promise.allSettled([allowed, refused]);
  expect(a).toMatchObject({ status: 'fulfilled', value: { messageId: 'open/0/1' } });
  expect(r).toMatchObject({ status: 'rejected', reason: { reason: 'PERMISSION_DENIED' } });
  await producer.close();
});

test("a key's Publish in flight holds only that key: another key of its partition goes at once, and a retry keeps the key's order", async () => {
  // One partition; every answer 30 ms after arrival; the first request carrying 'a1' fails
  // retriably. Records what was stored, and the keys of the requests in flight.
  const stored: string[] = [];
  const arrivals: { bodies: string[]; keysInFlight: string[] }[] = [];
  const inFlight = new Map<string, number>();
  let failedOnce = false;
  const server = new grpc.Server();
  const handlers = publishHandlers((req, reply) => {
    const bodies = req.messages.map((msg) => msg.body.toString());
    const keys = [...new Set(req.messages.map((msg) => msg.key))];
    arrivals.push({ bodies, keysInFlight: [...inFlight.keys()] });
    for (const k of keys) inFlight.set(k, (inFlight.get(k) ?? 0) + 1);
    setTimeout(() => {
      for (const k of keys) {
        const n = inFlight.get(k)! - 1;
        if (n > 0) inFlight.set(k, n);
        else inFlight.delete(k);
      }
      if (bodies.includes('a1') && !failedOnce) {
        failedOnce = true;
        return reply(new HeraldError('STORAGE_UNAVAILABLE', 'try again', {}));
      }
      stored.push(...bodies);
      reply(undefined, {
        topic: req.topic,
        partition: 0,
        partitions: 1,
        results: req.messages.map((_, i) => ({ offset: stored.length + i, messageId: `m${i}` })),
      });
    }, 30);
  });
  server.addService(loadProtos().grpc.herald.v1.Broker.service, handlers);
  const address = await listen(server);
  const producer = new Producer({ broker: address, retry: { initialMs: 5, maxMs: 5 } });
  await producer.send('t', { key: 'a', body: 'a0' }); // teaches the partition count
  const a1 = producer.send('t', { key: 'a', body: 'a1' });
  await new Promise((resolve) => setTimeout(resolve, 10)); // a1 in flight
  const b1 = producer.send('t', { key: 'b', body: 'b1' });
  const a2 = producer.send('t', { key: 'a', body: 'a2' });
  await Promise.all([a1, b1, a2]);
  await producer.close();
  // b1 went while a1 was in flight; a2 waited for a1's answer, and then for its retry.
  expect(arrivals.map((a) => a.bodies)).toEqual([['a0'], ['a1'], ['b1'], ['a1'], ['a2']]);
  expect(arrivals[2].keysInFlight).toEqual(['a']);
  expect(arrivals.every((a, i) => i === 0 || !a.bodies.some((b) => a.keysInFlight.includes(b[0])))).toBe(
    true,
  );
  expect(stored.filter((b) => b.startsWith('a'))).toEqual(['a0', 'a1', 'a2']);
  expect(stored).toContain('b1');
});
