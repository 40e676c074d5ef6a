import { presenceOf } from '../../../operator/controllers/consumer-group';

const alerts = { minConsumers: 2, offlineSeconds: 30 };
const at = (s: number) => s * 1000;
const iso = (s: number) => new Date(at(s)).toISOString();

test('without minConsumers there is no ConsumersOnline condition', () => {
  expect(presenceOf(undefined, 0, 10, undefined, 0)).toBeUndefined();
  expect(presenceOf({ offlineSeconds: 60, maxLagMessages: 5 }, 0, 10, undefined, 0)).toBeUndefined();
});

test('enough consumers: True, and the below-minimum clock is cleared', () => {
  const p = presenceOf(alerts, 2, 10, iso(5), at(100))!;
  expect(p.condition).toMatchObject({ type: 'ConsumersOnline', status: 'True', reason: 'ConsumersOnline' });
  expect(p.belowSince).toBeUndefined();
});

test('too few with a backlog: True during offlineSeconds (recheck when it ends), then False', () => {
  const first = presenceOf(alerts, 1, 10, undefined, at(100))!;
  expect(first.condition).toMatchObject({ status: 'True', reason: 'TooFewConsumers' });
  expect(first.belowSince).toBe(iso(100));
  expect(first.recheckMs).toBe(30_000);
  const later = presenceOf(alerts, 0, 10, first.belowSince, at(120))!;
  expect(later.condition.status).toBe('True');
  expect(later.recheckMs).toBe(10_000);
  const off = presenceOf(alerts, 0, 10, first.belowSince, at(130))!;
  expect(off.condition).toMatchObject({ status: 'False', reason: 'ConsumersOffline' });
  expect(off.condition.message).toContain(
    '0 of at least 2 consumers online for 30s with 10 messages waiting',
  );
  expect(off.belowSince).toBe(iso(100));
});

test('too few but nothing waiting: True (NoBacklog), the clock keeps running', () => {
  const p = presenceOf(alerts, 0, 0, iso(10), at(500))!;
  expect(p.condition).toMatchObject({ status: 'True', reason: 'NoBacklog' });
  expect(p.belowSince).toBe(iso(10));
  // A backlog arriving after a long absence alerts at once.
  expect(presenceOf(alerts, 0, 1, p.belowSince, at(501))!.condition.status).toBe('False');
});

test('an unreadable since in status restarts the clock', () => {
  expect(presenceOf(alerts, 0, 5, 'yesterday', at(50))!.belowSince).toBe(iso(50));
});
