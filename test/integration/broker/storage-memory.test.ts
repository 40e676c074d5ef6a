// A standalone broker on the memory store, over real gRPC: it serves the whole publish and
// delivery path without MySQL (the SDK-development broker), and the publish path refuses
// what a topic's storage lacks with INVALID_REQUEST naming the feature, storing nothing.
import * as grpc from '@grpc/grpc-js';
import { startBroker } from '../../../broker/broker';
import type { BrokerOptionsInput } from '../../../common/broker-options';
import { openStorage } from '../../../storage/index';
import { api, body, connect, failure, testLogger } from './helpers';

const options = (topics: BrokerOptionsInput['topics']): BrokerOptionsInput => ({
  listen: '127.0.0.1:0',
  metricsListen: '127.0.0.1:0',
  httpListen: '127.0.0.1:0',
  storage: 'memory',
  topics,
  shutdownTimeoutMs: 5000,
});

test('storage: memory serves publish, priority, delay, pull, ack and lag without MySQL', async () => {
  const broker = await startBroker(
    options([{ name: 'dev', partitions: 2, priority: true, delay: true }]),
    testLogger,
  );
  const clients = connect(broker.address);
  const call = api(clients);
  try {
    await call.publish({ topic: 'dev', partition: 0, messages: [body('plain')] });
    await call.publish({ topic: 'dev', partition: 0, messages: [{ ...body('urgent'), priority: true }] });
    const delayed = await call.publish({
      topic: 'dev',
      partition: 0,
      messages: [{ ...body('later'), delayMs: 200 }],
    });
    expect(Number(delayed.results[0].deliverAtMs)).toBeGreaterThan(0);
    const pull = (maxWaitMs: number) =>
      call.pull({ group: 'g', topic: 'dev', partition: 0, maxMessages: 10, maxWaitMs });
    const first = await pull(0);
    expect(first.messages.map((m) => m.body.toString())).toEqual(['urgent', 'plain']);
    // The delayed message falls due and wakes the waiting pull.
    const due = await pull(5000);
    expect(due.messages.map((m) => m.body.toString())).toEqual(['later']);
    const offsets = [...first.messages, ...due.messages].map((m) => Number(m.offset));
    await call.ack({ group: 'g', topic: 'dev', partition: 0, offsets });
    const lag = await call.getLag({ group: 'g', topic: 'dev' });
    expect(lag.partitions.find((p) => p.partition === 0)).toMatchObject({ lag: 0 });
  } finally {
    clients.close();
    await broker.shutdown();
  }
});

describe('a topic whose storage lacks a feature', () => {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let clients: ReturnType<typeof connect>;

  beforeAll(async () => {
    // The topic asks for priority and delay; its (test-reduced) store offers neither.
    const storage = await openStorage(
      { memory: { capabilities: { priorityLanes: false, delayedMessages: false } } },
      testLogger,
    );
    broker = await startBroker(
      options([{ name: 'plain', partitions: 1, priority: true, delay: true }]),
      testLogger,
      undefined,
      storage,
    );
    clients = connect(broker.address);
  });
  afterAll(async () => {
    clients.close();
    await broker.shutdown();
  });

  test('refuses a priority message with INVALID_REQUEST naming the feature, storing nothing', async () => {
    const f = await failure(
      api(clients).publish({ topic: 'plain', messages: [body('ok'), { ...body('urgent'), priority: true }] }),
    );
    expect(f.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(f.info).toMatchObject({
      reason: 'INVALID_REQUEST',
      metadata: { topic: 'plain', storage: 'memory', feature: 'priorityLanes' },
    });
    expect(f.message).toMatch(/does not support priority messages/);
    const lag = await api(clients).getLag({ group: 'g', topic: 'plain' });
    expect(lag.partitions[0]).toMatchObject({ endOffset: 0 });
  });

  test('refuses a delayed message with INVALID_REQUEST naming the feature', async () => {
    const f = await failure(
      api(clients).publish({ topic: 'plain', messages: [{ ...body('later'), delayMs: 1000 }] }),
    );
    expect(f.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(f.info).toMatchObject({
      reason: 'INVALID_REQUEST',
      metadata: { topic: 'plain', storage: 'memory', feature: 'delayedMessages' },
    });
    expect(f.message).toMatch(/does not support delayed messages/);
  });

  test('still stores what the storage supports', async () => {
    const out = await api(clients).publish({ topic: 'plain', messages: [body('fine')] });
    expect(Number(out.results[0].offset)).toBe(1);
  });
});
