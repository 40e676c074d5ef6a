// Consumer leases on the delivery path: while a consumer holds a group's partition, a Pull, Ack
// or Nack from anyone else (another id, a stale epoch, no id at all) is refused with
// LEASE_EXPIRED. A consumer that stops heartbeating loses its leases; once another consumer
// holds them, the zombie's ack is refused and the new holder acks what it redelivered.
import { api, body, failure } from '../broker/helpers';
import type { JoinGroupResponse } from '../../../proto/gen/herald/v1/JoinGroupResponse';
import type { GroupHeartbeatResponse } from '../../../proto/gen/herald/v1/GroupHeartbeatResponse';
import type { ConsumerLease } from '../../../proto/gen/herald/v1/ConsumerLease';
import type { ServiceError } from '@grpc/grpc-js';
import { readErrorInfo } from '../../../common/errors';
import type { SubscribeResponse } from '../../../proto/gen/herald/v1/SubscribeResponse';
import { waitFor } from '../wait';
import { startLeaseCluster } from './helpers';
import type { LeaseCluster } from './helpers';

jest.setTimeout(180_000);

const CONSUMER_LEASE_SECONDS = 4;
let cluster: LeaseCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
});

test('an ack from a consumer without the current lease is rejected with LEASE_EXPIRED', async () => {
  cluster = await startLeaseCluster({
    prefix: 'cl',
    brokers: 2,
    topics: [{ name: 'orders', partitions: 4 }],
    groups: [{ name: 'billing', topic: 'orders' }],
    consumerLeaseSeconds: CONSUMER_LEASE_SECONDS,
  });
  const { meta, ns } = cluster;
  // Publish once the partitions have settled on both brokers, not during the first handover.
  await cluster.waitBalanced('orders', ['b0', 'b1']);
  const c = api(cluster.brokers[0].clients);
  for (let p = 0; p < 4; p++)
    await c.publish({ topic: 'orders', partition: p, messages: [body('1'), body('2'), body('3')] });

  const join = async (consumerId: string) =>
    (
      await meta.call<JoinGroupResponse>((m, cb) =>
        m.joinGroup({ namespace: ns.name, group: 'billing', consumerId, zone: '' }, cb),
      )
    ).assignment?.leases ?? [];
  const a = await join('consumer-a');
  expect(a.map((l) => l.partition).sort()).toEqual([0, 1, 2, 3]);
  const aEpoch = Number(a[0].epoch);
  const pa = a[0].partition;
  const claimA = { consumerId: 'consumer-a', leaseEpoch: aEpoch };
  const where = { group: 'billing', topic: 'orders', partition: pa };

  const pulled = await c.pull({ ...where, ...claimA, maxMessages: 3, maxWaitMs: 5000, ackTimeoutMs: 1000 });
  expect(pulled.messages).toHaveLength(3);
  expect(Number((await c.ack({ ...where, ...claimA, offsets: [1] })).committedOffset)).toBe(1);

  // Not the holder: no id, a stale epoch, another consumer.
  for (const claim of [
    {},
    { consumerId: 'consumer-a', leaseEpoch: aEpoch + 7 },
    { consumerId: 'intruder', leaseEpoch: aEpoch },
  ]) {
    const f = await failure(c.ack({ ...where, ...claim, offsets: [2] }));
    expect(f.info?.reason).toBe('LEASE_EXPIRED');
    expect((await failure(c.nack({ ...where, ...claim, offsets: [2] }))).info?.reason).toBe('LEASE_EXPIRED');
    expect((await failure(c.pull({ ...where, ...claim, maxWaitMs: 0 }))).info?.reason).toBe('LEASE_EXPIRED');
  }

  // consumer-a also subscribes to another partition and takes its three messages.
  const pb = a[1].partition;
  const stream = cluster.brokers[0].clients.broker.Subscribe();
  const streamed: number[] = [];
  const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
  stream.on('data', (r: SubscribeResponse) => streamed.push(Number(r.delivery!.offset)));
  stream.write({
    start: {
      group: 'billing',
      topic: 'orders',
      partition: pb,
      credits: 100,
      ackTimeoutMs: 60_000,
      ...claimA,
    },
  });
  await waitFor('three deliveries on the stream', () =>
    Promise.resolve(streamed.length === 3 ? true : undefined),
  );

  // consumer-a goes silent (a zombie); consumer-b joins and heartbeats until it holds everything.
  let b: ConsumerLease[] = await join('consumer-b');
  b = await waitFor(
    'consumer-b holds every partition',
    async () => {
      const res = await meta.call<GroupHeartbeatResponse>((m, cb) =>
        m.groupHeartbeat({ namespace: ns.name, group: 'billing', consumerId: 'consumer-b', leases: b }, cb),
      );
      b = res.assignment?.leases ?? [];
      return b.length === 4 ? b : undefined;
    },
    { timeoutMs: (CONSUMER_LEASE_SECONDS + 5) * 1000, intervalMs: 500 },
  );
  const zombie = await failure(c.ack({ ...where, ...claimA, offsets: [2] }));
  expect(zombie.info?.reason).toBe('LEASE_EXPIRED');
  expect(zombie.info?.metadata.partition).toBe(String(pa));
  // The zombie's stream ends with LEASE_EXPIRED (it re-checks its lease while idle) and never
  // delivers what is published after.
  await c.publish({ topic: 'orders', partition: pb, messages: [body('4')] });
  const streamEnd = await ended;
  expect(readErrorInfo(streamEnd)?.reason).toBe('LEASE_EXPIRED');
  expect(streamed).toEqual([1, 2, 3]);

  // The new holder gets the zombie's unacked messages again and acks them.
  const claimB = { consumerId: 'consumer-b', leaseEpoch: Number(b.find((l) => l.partition === pa)!.epoch) };
  expect(claimB.leaseEpoch).toBeGreaterThan(aEpoch);
  const redelivered = await waitFor(
    'redelivery to consumer-b',
    async () => {
      const r = await c.pull({ ...where, ...claimB, maxMessages: 3, maxWaitMs: 2000 });
      return r.messages.length > 0 ? r.messages : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  const offsets = redelivered.map((m) => Number(m.offset));
  expect(offsets).toEqual([2, 3]);
  expect(Number((await c.ack({ ...where, ...claimB, offsets })).committedOffset)).toBe(3);
});
