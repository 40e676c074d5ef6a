import { ADAPTIVE_DEFAULTS, AdaptiveRate } from '../../../../broker/push/adaptive-rate';

const controller = (maxRate = 100) => new AdaptiveRate({ ...ADAPTIVE_DEFAULTS, maxRate }, 0);

/** One period with `ok` successes and `failed` failures. */
function period(r: AdaptiveRate, ok: number, failed: number): void {
  for (let i = 0; i < ok; i++) r.record(false);
  for (let i = 0; i < failed; i++) r.record(true);
  r.evaluate();
}

describe('adaptive push rate', () => {
  test('starts at the ceiling and stays there while the endpoint succeeds', () => {
    const r = controller();
    period(r, 100, 0);
    expect(r.rate).toBe(100);
    expect(r.state).toBe('rising');
    expect(r.healthy).toBe(true);
  });

  test('holds on a few failures, halves on many', () => {
    const r = controller();
    period(r, 97, 3); // 3 %: between the tolerances
    expect(r.state).toBe('holding');
    expect(r.rate).toBe(100);
    period(r, 50, 50);
    expect(r.state).toBe('falling');
    expect(r.rate).toBe(50);
    expect(r.healthy).toBe(false);
    period(r, 10, 10);
    expect(r.rate).toBe(25);
  });

  test('a period without requests changes nothing', () => {
    const r = controller();
    period(r, 0, 10);
    period(r, 0, 0);
    expect(r.rate).toBe(50);
    expect(r.state).toBe('falling');
  });

  test('an endpoint that fails everything ends on a heartbeat, and its success recovers it', () => {
    const r = controller();
    const rates: number[] = [];
    for (let i = 0; i < 8; i++) {
      period(r, 0, 5);
      rates.push(r.rate);
    }
    // 50, 25, 12.5, 6.25, 3.125, 1.5625, then below 1 msg/s: down.
    expect(rates.slice(0, 6)).toEqual([50, 25, 12.5, 6.25, 3.125, 1.5625]);
    expect(r.state).toBe('down');
    expect(r.rate).toBe(1000 / ADAPTIVE_DEFAULTS.heartbeatIntervalMs);
    period(r, 0, 1); // the heartbeat failed: still down
    expect(r.state).toBe('down');
    period(r, 1, 0); // it succeeded: the minimum rate, rising
    expect(r.state).toBe('rising');
    expect(r.rate).toBe(ADAPTIVE_DEFAULTS.minRate);
    let before = r.rate;
    for (let i = 0; i < 30; i++) {
      period(r, 10, 0);
      expect(r.rate).toBeGreaterThan(before - 1e-9);
      before = r.rate;
    }
    expect(r.rate).toBe(100);
  });

  test('rises a fifth of the remaining way per good period', () => {
    const r = controller();
    period(r, 0, 10); // 50
    period(r, 10, 0);
    expect(r.rate).toBeCloseTo(60);
    period(r, 10, 0);
    expect(r.rate).toBeCloseTo(68);
  });

  test('paces requests at the rate, with a small burst, and one per heartbeat while down', () => {
    const r = new AdaptiveRate({ ...ADAPTIVE_DEFAULTS, maxRate: 10 }, 0);
    // Burst of max(1, rate / 10) = 1 message.
    expect(r.waitMs(0)).toBe(0);
    r.sent(1, 0);
    expect(r.waitMs(0)).toBe(100);
    expect(r.waitMs(100)).toBe(0);
    r.sent(5, 100); // a batch may overdraw: the next waits for its credit
    expect(r.waitMs(100)).toBe(500);
    for (let i = 0; i < 10; i++) period(r, 0, 1);
    expect(r.state).toBe('down');
    r.sent(1, 10_000);
    expect(r.waitMs(10_000)).toBe(ADAPTIVE_DEFAULTS.heartbeatIntervalMs);
    expect(r.waitMs(10_000 + ADAPTIVE_DEFAULTS.heartbeatIntervalMs)).toBe(0);
  });

  test('a lower ceiling caps the rate at once; a share below the minimum still sends', () => {
    const r = controller(100);
    r.setMaxRate(40);
    expect(r.rate).toBe(40);
    const tiny = controller(0.25);
    expect(tiny.rate).toBe(0.25);
    period(tiny, 0, 10);
    expect(tiny.state).toBe('down');
    period(tiny, 1, 0);
    expect(tiny.rate).toBe(0.25);
  });
});
