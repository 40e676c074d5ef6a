import { SendBudget } from '../../../broker/delivery/send-budget';

const settled = async (p: Promise<void>) => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('SendBudget', () => {
  test('a stream waits while the total is over the budget, until releases bring it under', async () => {
    const b = new SendBudget(100);
    let own = 60;
    b.take(60);
    expect(b.allows(own)).toBe(true);
    b.take(50);
    expect(b.bytes).toBe(110);
    expect(b.allows(own)).toBe(false);
    const waiting = b.room(() => own, new AbortController().signal);
    expect(await settled(waiting)).toBe(false);
    b.release(5); // 105: still over
    expect(await settled(waiting)).toBe(false);
    own -= 20;
    b.release(20); // 85
    expect(await settled(waiting)).toBe(true);
  });

  test('a stream with nothing unsent may always write, so one stalled reader cannot stop the others', async () => {
    const b = new SendBudget(100);
    b.take(500); // a stalled stream holds five times the budget
    expect(b.allows(0)).toBe(true);
    expect(await settled(b.room(() => 0, new AbortController().signal))).toBe(true);
    let own = 10;
    b.take(own);
    const waiting = b.room(() => own, new AbortController().signal);
    expect(await settled(waiting)).toBe(false);
    // Its own write flushed: it may write again although the stalled one still holds 500.
    own = 0;
    b.release(10);
    expect(await settled(waiting)).toBe(true);
    expect(b.bytes).toBe(500);
  });

  test('an aborted wait resolves and leaves no waiter behind', async () => {
    const b = new SendBudget(10);
    b.take(20);
    const abort = new AbortController();
    const waiting = b.room(() => 20, abort.signal);
    expect(await settled(waiting)).toBe(false);
    abort.abort();
    expect(await settled(waiting)).toBe(true);
    expect(await settled(b.room(() => 20, abort.signal))).toBe(true);
    b.release(20);
    expect(b.bytes).toBe(0);
  });
});
