// LogExpiry's cut-offs: trace events by the trace retention, commands by theirs.
import { silentLogger } from '../../../common/logger';
import { LogExpiry } from '../../../broker/trace/log-expiry';

test('each table is expired at its own retention, from the current time', async () => {
  const calls: string[] = [];
  const store = {
    expireTrace: (before: number) => (calls.push(`trace ${before}`), Promise.resolve(3)),
    expireCommands: (before: number) => (calls.push(`commands ${before}`), Promise.resolve(1)),
  };
  const expiry = new LogExpiry(
    store,
    { intervalMs: 60_000, traceRetentionMs: 72 * 3_600_000, commandRetentionMs: 3_600_000 },
    silentLogger,
    () => 1_000_000_000,
  );
  expect(await expiry.expire()).toEqual({ traceEvents: 3, commands: 1 });
  expect(calls).toEqual([`trace ${1_000_000_000 - 72 * 3_600_000}`, `commands ${1_000_000_000 - 3_600_000}`]);
});

test('a failing store is logged by the loop, not thrown', async () => {
  const warned: string[] = [];
  let calls = 0;
  const store = {
    expireTrace: () => {
      calls++;
      return Promise.reject(new Error('down'));
    },
    expireCommands: () => Promise.resolve(0),
  };
  const expiry = new LogExpiry(
    store,
    { intervalMs: 5, traceRetentionMs: 1, commandRetentionMs: 1 },
    { ...silentLogger, warn: (msg) => warned.push(msg) },
  );
  expiry.start();
  const deadline = Date.now() + 5000;
  while (warned.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await expiry.stop();
  expect(calls).toBeGreaterThanOrEqual(1);
  expect(warned[0]).toMatch(/could not expire/);
});
