import type * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../../../common/errors';
import { MetaConsumerLeaseGuard } from '../../../broker/lease/consumer-leases';
import type { MetaConnection } from '../../../common/meta-client';
import type { GetConsumerLeasesResponse } from '../../../proto/gen/herald/v1/GetConsumerLeasesResponse';
import type { MetaClient } from '../../../proto/gen/herald/v1/Meta';

/** A meta-server that answers GetConsumerLeases from `answer` and counts the calls. */
function fakeMeta(answer: () => GetConsumerLeasesResponse) {
  const meta = {
    calls: 0,
    call<Res>(
      invoke: (client: MetaClient, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void,
    ): Promise<Res> {
      meta.calls++;
      const client = {
        getConsumerLeases: (_req: unknown, cb: (err: null, res: GetConsumerLeasesResponse) => void) =>
          cb(null, answer()),
      } as unknown as MetaClient;
      return new Promise<Res>((resolve, reject) =>
        invoke(client, (err, res) => (err ? reject(err) : resolve(res!))),
      );
    },
  } satisfies Pick<MetaConnection, 'call'> & { calls: number };
  return meta;
}

const ref = { topic: 'orders', partition: 0 };
const held = (consumerId: string, epoch: number, remainingMs = 6_000): GetConsumerLeasesResponse => ({
  topic: 'orders',
  mode: 'clustering',
  leases: [{ partition: 0, consumerId, epoch, remainingMs }],
  policy: null,
});

async function reason(p: Promise<void>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof HeraldError ? err.reason : String(err);
  }
}

test('the holder acks without a round trip while its lease lasts', async () => {
  let now = 0;
  const meta = fakeMeta(() => held('a', 2));
  const guard = new MetaConsumerLeaseGuard(meta, 'ns', { safetyMarginMs: 1_000, maxAgeMs: 1_000 }, () => now);
  await guard.check('g', ref, { id: 'a', epoch: 2 });
  for (now = 100; now < 5_000; now += 500) await guard.check('g', ref, { id: 'a', epoch: 2 });
  expect(meta.calls).toBe(1);
});

test('a refusal is always based on an answer younger than maxAgeMs', async () => {
  let now = 0;
  let holder = 'a';
  const meta = fakeMeta(() => held(holder, holder === 'a' ? 2 : 3));
  const guard = new MetaConsumerLeaseGuard(meta, 'ns', { safetyMarginMs: 1_000, maxAgeMs: 1_000 }, () => now);
  expect(await reason(guard.check('g', ref, { id: 'b', epoch: 3 }))).toBe('LEASE_EXPIRED');
  expect(meta.calls).toBe(1);
  // Later the lease has moved to b: the old answer is too old to refuse b, so the guard asks.
  now = 2_000;
  holder = 'b';
  expect(await reason(guard.check('g', ref, { id: 'b', epoch: 3 }))).toBeUndefined();
  expect(meta.calls).toBe(2);
  // The zombie a is refused from the fresh answer.
  expect(await reason(guard.check('g', ref, { id: 'a', epoch: 2 }))).toBe('LEASE_EXPIRED');
  expect(meta.calls).toBe(2);
});

test('calls without a consumer id pass on unleased partitions and fail on leased ones', async () => {
  const meta = fakeMeta(() => held('a', 1));
  const guard = new MetaConsumerLeaseGuard(meta, 'ns', { safetyMarginMs: 1_000, maxAgeMs: 1_000 }, () => 0);
  expect(
    await reason(guard.check('g', { topic: 'orders', partition: 1 }, { id: '', epoch: 0 })),
  ).toBeUndefined();
  expect(await reason(guard.check('g', ref, { id: '', epoch: 0 }))).toBe('LEASE_EXPIRED');
});
