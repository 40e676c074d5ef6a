import { leaseVerdict } from '../../../broker/lease/consumer-leases';
import type { LeaseSnapshot } from '../../../broker/lease/consumer-leases';

const options = { safetyMarginMs: 1_000, maxAgeMs: 1_000 };
const snapshot: LeaseSnapshot = {
  sentAt: 10_000,
  leases: [
    { partition: 0, consumerId: 'a', epoch: 3, remainingMs: 6_000 },
    { partition: 1, consumerId: 'b', epoch: 1, remainingMs: 6_000 },
  ],
};
const a = { id: 'a', epoch: 3 };
const none = { id: '', epoch: 0 };

test('the holder is allowed until its lease ends by the broker clock, minus the margin', () => {
  expect(leaseVerdict(snapshot, 0, a, 10_500, options)).toBe('allowed');
  // Still allowed long after the snapshot's max age: the lease math alone proves it.
  expect(leaseVerdict(snapshot, 0, a, 14_999, options)).toBe('allowed');
  // Past sentAt + remaining - margin: ask again.
  expect(leaseVerdict(snapshot, 0, a, 15_000, options)).toBe('ask');
});

test('anyone else is refused on a fresh snapshot and asked about on an old one', () => {
  for (const claim of [{ id: 'a', epoch: 2 }, { id: 'x', epoch: 3 }, none]) {
    expect(leaseVerdict(snapshot, 0, claim, 10_500, options)).toBe('expired');
    expect(leaseVerdict(snapshot, 0, claim, 11_000, options)).toBe('ask');
  }
  expect(leaseVerdict(snapshot, 1, a, 10_500, options)).toBe('expired');
});

test('a partition nobody holds accepts calls without a consumer id, not a claimed lease', () => {
  expect(leaseVerdict(snapshot, 2, none, 10_500, options)).toBe('allowed');
  expect(leaseVerdict(snapshot, 2, a, 10_500, options)).toBe('expired');
});

test('without an id, a lease the meta-server may still count blocks, even past the holder margin', () => {
  const fresh = { ...options, maxAgeMs: Infinity };
  expect(leaseVerdict(snapshot, 0, none, 15_500, fresh)).toBe('expired');
  expect(leaseVerdict(snapshot, 0, none, 16_000, fresh)).toBe('allowed');
});
