import { AckTracker } from '../../../broker/delivery/ack-tracker';

/** Delivers offsets in order, as a single-lane cursor does. */
function delivered(t: AckTracker, offsets: number[], now = 0, timeout = 1000): void {
  for (const o of offsets) {
    t.deliverNew(o, now, timeout);
    t.advanceSeen(o);
  }
}

describe('AckTracker', () => {
  test('deliveredAt: when an in-flight offset was handed out (first delivery or redelivery)', () => {
    const t = new AckTracker(0);
    delivered(t, [1, 2], 100);
    expect(t.deliveredAt(1)).toBe(100);
    t.ack(1);
    expect(t.deliveredAt(1)).toBeUndefined();
    // Timed out and redelivered: timed from the redelivery.
    expect(t.expire(1200)).toEqual([[2, 1]]);
    t.retryAt(2, 1300);
    t.expire(1300);
    expect(t.takeReady(10, 1500, 1000)).toEqual([[2, 2]]);
    expect(t.deliveredAt(2)).toBe(1500);
    expect(t.deliveredAt(3)).toBeUndefined();
  });

  test('the committed offset is the highest contiguous ack', () => {
    const t = new AckTracker(0);
    delivered(t, [1, 2, 3, 4]);
    expect(t.ack(2)).toBe('acked');
    expect(t.ack(4)).toBe('acked');
    expect(t.committed).toBe(0);
    t.ack(1);
    expect(t.committed).toBe(2);
    t.ack(3);
    expect(t.committed).toBe(4);
    expect(t.outstanding).toBe(0);
  });

  test('gaps in the offsets (never stored, or filtered) do not block the committed offset', () => {
    const t = new AckTracker(10);
    delivered(t, [12, 15]);
    // 11 was never stored: the committed offset may pass it, but not the unacked 12.
    expect(t.committed).toBe(11);
    t.ack(15);
    expect(t.committed).toBe(11);
    t.ack(12);
    expect(t.committed).toBe(15);
    t.advanceSeen(20);
    expect(t.committed).toBe(20);
  });

  test('out-of-order deliveries (two lanes) commit only up to what was seen in every lane', () => {
    const t = new AckTracker(0);
    // A priority message at 5 is delivered while the normal lane has only been read to 2.
    t.deliverNew(5, 0, 1000);
    delivered(t, [1, 2]);
    t.ack(5);
    t.ack(1);
    t.ack(2);
    expect(t.committed).toBe(2);
    delivered(t, [3, 4]);
    t.ack(3);
    expect(t.committed).toBe(3);
    t.ack(4);
    expect(t.committed).toBe(4);
    // The normal lane has been read past 5: 5 (acked, priority) is covered too.
    t.advanceSeen(6);
    expect(t.committed).toBe(6);
  });

  test('acks of offsets never delivered, or of another range, are refused', () => {
    const t = new AckTracker(5);
    delivered(t, [6, 8]);
    expect(t.check(7)).toBe('not-delivered');
    expect(t.check(9)).toBe('not-delivered');
    expect(t.ack(9)).toBe('not-delivered');
    expect(t.committed).toBe(5);
  });

  test('repeated acks and acks at or below the committed offset are harmless', () => {
    const t = new AckTracker(5);
    delivered(t, [6, 7]);
    t.ack(7);
    expect(t.ack(7)).toBe('already-acked');
    expect(t.ack(3)).toBe('already-acked');
    expect(t.outstanding).toBe(1);
  });

  test('an unacked message times out as failing, once, with its attempts', () => {
    const t = new AckTracker(0);
    delivered(t, [1, 2], 0, 1000);
    expect(t.expire(999)).toEqual([]);
    t.ack(2);
    // Equal deadlines come out in no particular order.
    expect(t.expire(1000).sort((a, b) => a[0] - b[0])).toEqual([[1, 1]]);
    expect(t.expire(5000)).toEqual([]);
    expect(t.troubled).toBe(1);
    // Its retry is stored elsewhere: acking it moves the committed offset past it.
    t.ack(1);
    expect(t.committed).toBe(2);
    expect(t.troubled).toBe(0);
  });

  test('a failing message retried in place comes back after its delay with a higher attempt', () => {
    const t = new AckTracker(0);
    delivered(t, [1, 2, 3], 0, 60_000);
    expect(t.fail(2)).toBe(1);
    expect(t.fail(2)).toBeUndefined();
    t.retryAt(2, 500);
    expect(t.expire(499)).toEqual([]);
    expect(t.readyCount()).toBe(0);
    t.expire(500);
    expect(t.takeReady(10, 500, 100)).toEqual([[2, 2]]);
    expect(t.nextDue()).toBe(600);
    expect(t.expire(600)).toEqual([[2, 2]]);
  });

  test('a failing message whose retry could not be stored goes back into flight', () => {
    const t = new AckTracker(0);
    delivered(t, [1], 0, 1000);
    t.fail(1);
    t.unfail(1, 2000);
    expect(t.inFlight(1)).toBe(true);
    expect(t.expire(2000)).toEqual([[1, 1]]);
  });

  test('a ready message acked before its redelivery is not redelivered', () => {
    const t = new AckTracker(0);
    delivered(t, [1]);
    t.fail(1);
    t.retryAt(1, 10);
    t.expire(5000);
    expect(t.readyCount()).toBe(1);
    t.ack(1);
    expect(t.readyCount()).toBe(0);
    expect(t.takeReady(10, 5000, 1000)).toEqual([]);
    expect(t.committed).toBe(1);
  });

  test('ready messages come back lowest offset first', () => {
    const t = new AckTracker(0);
    delivered(t, [1, 2, 3]);
    for (const [o, at] of [
      [1, 300],
      [2, 100],
      [3, 200],
    ]) {
      t.fail(o);
      t.retryAt(o, at);
    }
    t.expire(1000);
    expect(t.takeReady(2, 1000, 100).map(([o]) => o)).toEqual([1, 2]);
    expect(t.takeReady(2, 1000, 100).map(([o]) => o)).toEqual([3]);
  });

  test('an offset cannot be delivered twice as new, nor at or below the committed offset', () => {
    const t = new AckTracker(2);
    delivered(t, [3]);
    expect(() => t.deliverNew(3, 0, 1)).toThrow('delivered before');
    expect(() => t.deliverNew(2, 0, 1)).toThrow('delivered before');
  });
  test('ackAll acks as ack does each, and moves the committed offset once for all', () => {
    const t = new AckTracker(0);
    delivered(t, [1, 2, 3, 4, 5]);
    t.ackAll([2, 1, 3, 3, 5]);
    expect(t.committed).toBe(3);
    expect(t.outstanding).toBe(1);
    expect(t.check(5)).toBe('already-acked');
    expect(t.check(4)).toBe('acked');
  });

  test('deadlines stay right after many acked deliveries left stale ones behind', () => {
    const t = new AckTracker(0);
    // 5,000 delivered at 0 and acked: their deadlines (1000) are stale; 3 are left unacked.
    const first = Array.from({ length: 5000 }, (_, i) => i + 1);
    delivered(t, first, 0, 1000);
    t.ackAll(first.filter((o) => o !== 10 && o !== 4000 && o !== 5000));
    delivered(t, [5001, 5002], 500, 1000);
    t.ackAll([5001]);
    expect(t.nextDue()).toBe(1000);
    expect(t.expire(999)).toEqual([]);
    // Equal deadlines come out in no particular order.
    expect(t.expire(1000).sort((a, b) => a[0] - b[0])).toEqual([
      [10, 1],
      [4000, 1],
      [5000, 1],
    ]);
    expect(t.nextDue()).toBe(1500);
    expect(t.expire(1500)).toEqual([[5002, 1]]);
    expect(t.nextDue()).toBeUndefined();
  });
});
