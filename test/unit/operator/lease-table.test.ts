import { LeaseTable } from '../../../operator/leases/lease-table';

const d = { durationMs: 10_000, safetyMarginMs: 2_000 };

test('a valid lease is refused to another holder and renewed for its own', () => {
  const t = new LeaseTable();
  expect(t.grant('k', 'a', 0, d)).toEqual({
    key: 'k',
    holder: 'a',
    epoch: 1,
    expiresAt: 10_000,
    holderChanged: true,
  });
  expect(t.grant('k', 'b', 9_999, d)).toBeUndefined();
  expect(t.grant('k', 'a', 5_000, d)).toMatchObject({ epoch: 1, expiresAt: 15_000, holderChanged: false });
});

test('after expiry the next holder gets the next epoch, and the old holder cannot renew', () => {
  const t = new LeaseTable();
  t.grant('k', 'a', 0, d);
  expect(t.current('k', 10_000)).toBeUndefined();
  expect(t.grant('k', 'b', 10_000, d)).toMatchObject({ holder: 'b', epoch: 2, holderChanged: true });
  expect(t.renew('k', 'a', 1, 10_001, d)).toBeUndefined();
  expect(t.renew('k', 'b', 1, 10_001, d)).toBeUndefined();
  expect(t.renew('k', 'b', 2, 10_001, d)).toMatchObject({ expiresAt: 20_001 });
});

test('an expired lease nobody took over can be renewed by its holder; a released one cannot', () => {
  const t = new LeaseTable();
  t.grant('k', 'a', 0, d);
  expect(t.renew('k', 'a', 1, 12_000, d)).toMatchObject({ epoch: 1, expiresAt: 22_000 });
  expect(t.release('k', 'a', 1)).toBe(true);
  expect(t.release('k', 'a', 1)).toBe(false);
  expect(t.renew('k', 'a', 1, 12_001, d)).toBeUndefined();
  expect(t.grant('k', 'b', 12_001, d)).toMatchObject({ epoch: 2 });
});

test('release with a stale epoch does nothing', () => {
  const t = new LeaseTable();
  t.grant('k', 'a', 0, d);
  expect(t.release('k', 'a', 7)).toBe(false);
  expect(t.current('k', 1)?.holder).toBe('a');
});

test('restored leases keep holder and epoch; forget drops keys', () => {
  const t = new LeaseTable();
  t.restore('k', 'a', 9, 5_000);
  expect(t.grant('k', 'b', 4_999, d)).toBeUndefined();
  expect(t.grant('k', 'a', 4_999, d)).toMatchObject({ epoch: 9, holderChanged: false });
  t.forget((k) => k !== 'k');
  expect(t.last('k')).toBeUndefined();
});
