import { AckTracker } from '../../../broker/delivery/ack-tracker';

function delivered(t: AckTracker, offsets: number[], now = 0, timeout = 1000): void {
  for (const o of offsets) t.deliverNew(o, now, timeout);
}

describe('AckTracker', () => {
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

  test('gaps in the offsets (never stored) do not block the committed offset', () => {
    const t = new AckTracker(10);
    delivered(t, [12, 15]);
    t.ack(15);
    expect(t.committed).toBe(10);
    t.ack(12);
    expect(t.committed).toBe(15);
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

  test('an unacked message becomes ready after its ack timeout, with a higher attempt', () => {
    const t = new AckTracker(0);
    delivered(t, [1, 2], 0, 1000);
    expect(t.expire(999)).toBe(0);
    t.ack(2);
    expect(t.expire(1000)).toBe(1);
    expect(t.takeReady(10, 1000, 500)).toEqual([[1, 2]]);
    expect(t.nextDue()).toBe(1500);
    expect(t.expire(1500)).toBe(1);
    expect(t.takeReady(10, 1500, 500)).toEqual([[1, 3]]);
  });

  test('a message acked after its timeout is not redelivered', () => {
    const t = new AckTracker(0);
    delivered(t, [1]);
    t.expire(5000);
    expect(t.readyCount()).toBe(1);
    t.ack(1);
    expect(t.readyCount()).toBe(0);
    expect(t.takeReady(10, 5000, 1000)).toEqual([]);
    expect(t.committed).toBe(1);
  });

  test('nack with a delay makes the message ready after the delay; without, at once', () => {
    const t = new AckTracker(0);
    delivered(t, [1, 2, 3], 0, 60_000);
    t.nack(2, 100, 0);
    expect(t.takeReady(10, 100, 60_000)).toEqual([[2, 2]]);
    t.nack(1, 100, 500);
    expect(t.expire(599)).toBe(0);
    expect(t.expire(600)).toBe(1);
    expect(t.takeReady(10, 600, 60_000)).toEqual([[1, 2]]);
  });

  test('ready messages come back lowest offset first', () => {
    const t = new AckTracker(0);
    t.deliverNew(1, 0, 300);
    t.deliverNew(2, 0, 100);
    t.deliverNew(3, 0, 200);
    t.expire(1000);
    expect(t.takeReady(2, 1000, 100).map(([o]) => o)).toEqual([1, 2]);
    expect(t.takeReady(2, 1000, 100).map(([o]) => o)).toEqual([3]);
  });

  test('offsets must be delivered in increasing order', () => {
    const t = new AckTracker(0);
    delivered(t, [3]);
    expect(() => t.deliverNew(2, 0, 1)).toThrow('not after 3');
  });
});
