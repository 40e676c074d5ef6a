// The Consumer's credits on a Subscribe stream, against a stand-in broker on loopback that
// delivers while it holds credits (as the real one does) and records every grant.
import * as grpc from '@grpc/grpc-js';
import { Consumer } from '../../../client';
import { HeraldError } from '../../../common/errors';
import { toRpcStatus } from '../../../common/grpc/status';
import { loadProtos } from '../../../proto/load';
import type { BrokerHandlers } from '../../../proto/gen/herald/v1/Broker';
import type { SubscribeRequest } from '../../../proto/gen/herald/v1/SubscribeRequest';

const servers: grpc.Server[] = [];
afterAll(() => servers.forEach((s) => s.forceShutdown()));

/** A broker with `total` messages on partition 0: sends while credits last; acks (on the stream or unary) are counted. */
async function broker(total: number, refuseStreamAcks = false) {
  const seen = { start: 0, grants: [] as number[], acked: 0, streamAcked: 0, sent: 0 };
  const server = new grpc.Server();
  servers.push(server);
  const handlers: Pick<BrokerHandlers, 'Subscribe' | 'Ack'> = {
    Subscribe(call) {
      let credits = 0;
      const pump = () => {
        for (; credits > 0 && seen.sent < total; credits--, seen.sent++) {
          call.write({
            delivery: { topic: 't', partition: 0, offset: seen.sent, body: Buffer.from(`m${seen.sent}`) },
          });
        }
      };
      call.on('data', (req: SubscribeRequest) => {
        if (req.kind === 'start') {
          seen.start = req.start!.credits;
          credits += req.start!.credits;
        } else if (req.kind === 'ack') {
          seen.streamAcked += req.ack!.offsets.length;
          if (refuseStreamAcks) {
            const err = new HeraldError('STORAGE_UNAVAILABLE', 'the store is away');
            call.write({ ackRefused: { offsets: req.ack!.offsets, status: toRpcStatus(err) } });
          }
        } else {
          seen.grants.push(req.credits!);
          credits += req.credits!;
        }
        pump();
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
    Ack(call, cb) {
      seen.acked += call.request.offsets.length;
      cb(null, {});
    },
  };
  server.addService(loadProtos().grpc.herald.v1.Broker.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { seen, address: `127.0.0.1:${port}` };
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A subscribe-mode consumer of partition 0 with a window of 4. */
const subscriber = (address: string) =>
  new Consumer({
    broker: address,
    group: 'g',
    topic: 't',
    partitions: [0],
    fetch: 'subscribe',
    concurrency: 4,
  });

test('credits go back in batches of half the window, with no timer, and the broker never runs dry', async () => {
  const b = await broker(11);
  const handled: string[] = [];
  const consumer = subscriber(b.address);
  try {
    await consumer.run({ eachMessage: (m) => void handled.push(m.body.toString()) });
    // 4 credits to start; each grant of 2 lets the broker send 2 more, until all 11 are handled.
    await until(() => handled.length === 11 && b.seen.grants.length === 5);
    expect(handled).toEqual(Array.from({ length: 11 }, (_, i) => `m${i}`));
    expect(b.seen.start).toBe(4);
    expect(b.seen.grants).toEqual([2, 2, 2, 2, 2]);
    // The 11th handled delivery owes one credit: with no timer it stays owed (the broker holds 3).
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(b.seen.grants).toEqual([2, 2, 2, 2, 2]);
    // Handled messages are acked on the stream while it is open.
    await until(() => b.seen.streamAcked === 11);
  } finally {
    await consumer.close();
  }
  expect(b.seen.acked).toBe(0);
});

test('an ack refused on the stream for a reason that may pass goes again as a unary Ack', async () => {
  const b = await broker(3, true);
  const consumer = subscriber(b.address);
  try {
    await consumer.run({ eachMessage: () => undefined });
    await until(() => b.seen.streamAcked === 3 && b.seen.acked === 3);
  } finally {
    await consumer.close();
  }
  expect(b.seen.acked).toBe(3);
});
