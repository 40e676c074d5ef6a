// Meta ListTopics: the namespace's topics with their spec (owner and contact among it), how many
// partitions a broker holds, and the groups reading each; through MetaCore and over real gRPC on
// loopback.
import { Registry } from 'prom-client';
import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '../../../common/logger';
import { MetaCore } from '../../../operator/meta/meta-core';
import { Checkpointer } from '../../../operator/meta/checkpointer';
import { startMetaServer } from '../../../operator/meta/server';
import type { MetaServer } from '../../../operator/meta/server';
import { loadMetaProto } from '../../../proto/load';
import type { ListTopicsResponse } from '../../../proto/gen/herald/v1/ListTopicsResponse';
import { readErrorInfo } from '../../../common/errors';

const durations = {
  broker: { durationMs: 10_000, safetyMarginMs: 2_000 },
  consumer: { durationMs: 20_000, safetyMarginMs: 2_000 },
};

function declared(): MetaCore {
  const c = new MetaCore();
  c.setPool('ns', 'default', durations);
  c.setPool('ns', 'big', durations);
  c.setTopic({
    namespace: 'ns',
    name: 'orders',
    pool: 'default',
    partitions: 4,
    maxMessageBytes: 2048,
    storage: 'mysql',
    priority: true,
    delay: true,
    retentionHours: 24,
    owner: 'payments',
    contact: '#payments-oncall',
  });
  c.setTopic({
    namespace: 'ns',
    name: 'clicks',
    pool: 'big',
    partitions: 2,
    storage: 'kafka',
    retentionHours: 168,
  });
  c.setTopic({ namespace: 'other', name: 'elsewhere', pool: 'default', partitions: 1 });
  c.setGroup({ namespace: 'ns', name: 'shipping', topic: 'orders', mode: 'clustering' });
  c.setGroup({ namespace: 'ns', name: 'billing', topic: 'orders', mode: 'broadcast' });
  c.setGroup({ namespace: 'other', name: 'billing-x', topic: 'orders', mode: 'clustering' });
  return c;
}

test('topics of the namespace by name, with spec, assignment and readers', () => {
  const c = declared();
  // One broker in pool default takes the partitions of orders; pool big has none.
  c.acquireBrokerLeases('ns', 'default', { id: 'b0', address: 'b0:7600', zone: '', weight: 1 }, 0);
  expect(c.listTopics('ns', 1)).toEqual([
    {
      name: 'clicks',
      partitions: 2,
      storage: 'kafka',
      pool: 'big',
      priority: false,
      delay: false,
      retentionHours: 168,
      maxMessageBytes: 0,
      assignedPartitions: 0,
      groups: [],
      owner: '',
      contact: '',
    },
    {
      name: 'orders',
      partitions: 4,
      storage: 'mysql',
      pool: 'default',
      priority: true,
      delay: true,
      retentionHours: 24,
      maxMessageBytes: 2048,
      assignedPartitions: 4,
      groups: ['billing', 'shipping'],
      owner: 'payments',
      contact: '#payments-oncall',
    },
  ]);
  // Expired leases no longer count as assigned.
  expect(c.listTopics('ns', 60_000).find((t) => t.name === 'orders')?.assignedPartitions).toBe(0);
  expect(c.listTopics('empty', 0)).toEqual([]);
});

describe('over gRPC', () => {
  let server: MetaServer;
  let client: grpc.Client & {
    listTopics(req: object, cb: (err: grpc.ServiceError | null, res?: ListTopicsResponse) => void): void;
  };
  let leader = true;

  beforeAll(async () => {
    const core = declared();
    const sink = { writeTopic: () => Promise.resolve(), writeGroup: () => Promise.resolve() };
    const checkpointer = new Checkpointer(core, sink, silentLogger);
    server = await startMetaServer({
      listen: '127.0.0.1:0',
      logger: silentLogger,
      state: () => ({ core, checkpointer }),
      leader: () => ({ identity: 'me', address: 'meta-0:7700' }),
      isLeader: () => leader,
      registry: new Registry(),
    });
    const Meta = loadMetaProto().grpc.herald.v1.Meta;
    client = new Meta(server.address, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  const listTopics = (namespace: string) =>
    new Promise<ListTopicsResponse>((resolve, reject) =>
      client.listTopics({ namespace }, (err, res) => (err ? reject(err) : resolve(res!))),
    );

  test('ListTopics answers with the summaries', async () => {
    const res = await listTopics('ns');
    expect(res.topics.map((t) => [t.name, t.storage, t.partitions, t.groups])).toEqual([
      ['clicks', 'kafka', 2, []],
      ['orders', 'mysql', 4, ['billing', 'shipping']],
    ]);
  });

  test('an empty namespace is INVALID_REQUEST naming the field; a follower redirects', async () => {
    const err = (await listTopics('').catch((e: unknown) => e)) as grpc.ServiceError;
    expect(readErrorInfo(err)).toMatchObject({ reason: 'INVALID_REQUEST', metadata: { field: 'namespace' } });
    leader = false;
    try {
      const redirected = (await listTopics('ns').catch((e: unknown) => e)) as grpc.ServiceError;
      expect(readErrorInfo(redirected)).toMatchObject({ reason: 'NOT_LEADER' });
    } finally {
      leader = true;
    }
  });
});
