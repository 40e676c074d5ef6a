import {
  BROKER_LEASE,
  checkDurations,
  holderValidUntil,
  metaExpiresAt,
  nextEpoch,
  renewIntervalMs,
} from '../../../common/lease-math';

test('the holder stops a safety margin before the meta-server lets go', () => {
  const sentAt = 1_000;
  const receivedAt = 1_003;
  expect(holderValidUntil(sentAt, BROKER_LEASE)).toBe(9_000);
  expect(metaExpiresAt(receivedAt, BROKER_LEASE)).toBe(11_003);
  expect(holderValidUntil(sentAt, BROKER_LEASE)).toBeLessThan(metaExpiresAt(receivedAt, BROKER_LEASE));
});

test('renewal fits three tries into one lease', () => {
  expect(renewIntervalMs(BROKER_LEASE)).toBe(3_333);
  expect(renewIntervalMs({ durationMs: 2, safetyMarginMs: 0 })).toBe(1);
});

test('epochs go up only when the holder changes', () => {
  expect(nextEpoch(undefined, 'a')).toBe(1);
  expect(nextEpoch({ holder: 'a', epoch: 4 }, 'a')).toBe(4);
  expect(nextEpoch({ holder: 'a', epoch: 4 }, 'b')).toBe(5);
});

test('durations are checked with the field named', () => {
  expect(() => checkDurations('leases.broker', { durationMs: 0, safetyMarginMs: 0 })).toThrow(
    'leases.broker.durationMs must be a positive integer',
  );
  expect(() => checkDurations('leases.broker', { durationMs: 10_000, safetyMarginMs: 5_000 })).toThrow(
    'leases.broker.safetyMarginMs must be an integer in 0..durationMs/2',
  );
  expect(checkDurations('x', BROKER_LEASE)).toBe(BROKER_LEASE);
});
