// The CommandPoller against a fake command log and target: it starts after the newest
// command, applies only what this broker owns, in order, retries a command whose application
// met an unreachable store, and skips one that fails otherwise.
import { HeraldError } from '../../../common/errors';
import { silentLogger } from '../../../common/logger';
import { CommandPoller } from '../../../broker/commands/command-poller';
import type { CommandTarget } from '../../../broker/commands/command-poller';
import type { PartitionRef } from '../../../storage/storage';
import type { Command } from '../../../storage/trace-store';

class FakeLog {
  commands: { id: number; command: Command }[] = [];
  append(command: Command): number {
    const id = this.commands.length + 1;
    this.commands.push({ id, command });
    return id;
  }
  commandsAfter(afterId: number, limit: number) {
    return Promise.resolve(this.commands.filter((c) => c.id > afterId).slice(0, limit));
  }
  lastCommandId() {
    return Promise.resolve(this.commands.length);
  }
}

class FakeTarget implements CommandTarget {
  applied: string[] = [];
  failWith: Error | undefined;
  reset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    if (this.failWith) return Promise.reject(this.failWith);
    this.applied.push(`reset ${group} ${ref.topic}/${ref.partition} ${offset}`);
    return Promise.resolve();
  }
  wakeResends(group: string, ref: PartitionRef): void {
    this.applied.push(`wake ${group} ${ref.topic}/${ref.partition}`);
  }
}

const p = (partition: number) => ({ topic: 'orders', partition });
const reset = (partition: number, offset: number): Command => ({
  kind: 'reset',
  group: 'g',
  ref: p(partition),
  offset,
});

function poller(log: FakeLog, target: FakeTarget, batch = 2) {
  const owned = new Set([0, 1]);
  return new CommandPoller(
    log,
    target,
    (ref) => owned.has(ref.partition),
    { intervalMs: 60_000, batch },
    silentLogger,
  );
}

test('starts after the newest command and applies the owned ones in order, across batches', async () => {
  const log = new FakeLog();
  log.append(reset(0, 99)); // before the broker started: already in the store
  const target = new FakeTarget();
  const poll = poller(log, target);
  await poll.start();
  expect(poll.position).toBe(1);
  log.append(reset(0, 5));
  log.append(reset(2, 7)); // another broker's partition
  log.append({ kind: 'resend-wakeup', group: 'h', ref: p(1) });
  log.append(reset(1, 3));
  await poll.poll();
  expect(target.applied).toEqual(['reset g orders/0 5', 'wake h orders/1', 'reset g orders/1 3']);
  expect(poll.position).toBe(5);
  await poll.poll();
  expect(target.applied).toHaveLength(3);
  await poll.stop();
});

test('a command that met an unreachable store is applied again next round', async () => {
  const log = new FakeLog();
  const target = new FakeTarget();
  const poll = poller(log, target);
  await poll.start();
  log.append(reset(0, 5));
  target.failWith = new HeraldError('STORAGE_UNAVAILABLE', 'down');
  await expect(poll.poll()).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
  expect(poll.position).toBe(0);
  target.failWith = undefined;
  await poll.poll();
  expect(target.applied).toEqual(['reset g orders/0 5']);
  expect(poll.position).toBe(1);
  await poll.stop();
});

test('a command that fails for another reason is skipped', async () => {
  const log = new FakeLog();
  const target = new FakeTarget();
  const poll = poller(log, target);
  await poll.start();
  log.append(reset(0, 5));
  target.failWith = new HeraldError('NOT_PARTITION_OWNER', 'moved');
  await poll.poll();
  expect(poll.position).toBe(1);
  expect(target.applied).toEqual([]);
  await poll.stop();
});

test('the timer polls by itself until stopped', async () => {
  const log = new FakeLog();
  const target = new FakeTarget();
  const poll = new CommandPoller(log, target, () => true, { intervalMs: 5, batch: 10 }, silentLogger);
  await poll.start();
  log.append(reset(0, 1));
  const deadline = Date.now() + 5000;
  while (target.applied.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect(target.applied).toEqual(['reset g orders/0 1']);
  await poll.stop();
});
