import { silentLogger } from '../../../common/logger';
import { Controller, TerminalError } from '../../../operator/controllers/controller';
import { Checkpointer } from '../../../operator/meta/checkpointer';
import { MetaCore } from '../../../operator/meta/meta-core';

const durations = {
  broker: { durationMs: 10_000, safetyMarginMs: 2_000 },
  consumer: { durationMs: 20_000, safetyMarginMs: 2_000 },
};

function setup() {
  const core = new MetaCore();
  core.setPool('ns', 'p', durations);
  core.setTopic({ namespace: 'ns', name: 't', pool: 'p', partitions: 2 });
  const writes: { name: string; status: object }[] = [];
  let failNext = false;
  const sink = {
    writeTopic: (_ns: string, name: string, status: object) => {
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('apiserver unavailable'));
      }
      writes.push({ name, status });
      return Promise.resolve();
    },
    writeGroup: () => Promise.resolve(),
  };
  const checkpointer = new Checkpointer(core, sink, silentLogger, () => 0);
  return { core, writes, checkpointer, fail: () => (failNext = true) };
}

const broker = { id: 'b0', address: 'b0:7600', zone: '', weight: 1 };

test('a grant is written once; renewals write nothing', async () => {
  const { core, writes, checkpointer } = setup();
  core.acquireBrokerLeases('ns', 'p', broker, 0);
  await checkpointer.flush();
  expect(writes).toEqual([
    {
      name: 't',
      status: {
        assignment: [
          { partition: 0, broker: 'b0', address: 'b0:7600', epoch: 1 },
          { partition: 1, broker: 'b0', address: 'b0:7600', epoch: 1 },
        ],
      },
    },
  ]);
  for (let t = 1_000; t < 60_000; t += 3_000) {
    core.tick(t);
    core.acquireBrokerLeases('ns', 'p', broker, t);
    await checkpointer.flush();
  }
  expect(writes).toHaveLength(1);
  expect(checkpointer.writes).toBe(1);
});

test('a failed write fails the flush and is written again by the next one', async () => {
  const { core, writes, checkpointer, fail } = setup();
  fail();
  core.acquireBrokerLeases('ns', 'p', broker, 0);
  await expect(checkpointer.flush()).rejects.toThrow('apiserver unavailable');
  expect(writes).toHaveLength(0);
  await checkpointer.flush();
  expect(writes).toHaveLength(1);
});

test('the controller retries failures, drops terminal ones, and requeues on request', async () => {
  const calls: string[] = [];
  let failures = 2;
  const done = new Promise<void>((resolve) => {
    const controller = new Controller(
      'test',
      (key) => {
        calls.push(key);
        if (key === 'terminal') return Promise.reject(new TerminalError('bad spec'));
        if (key === 'flaky' && failures-- > 0) return Promise.reject(new Error('conflict'));
        if (key === 'poll' && calls.filter((k) => k === 'poll').length < 3)
          return Promise.resolve({ requeueAfterMs: 5 });
        if (
          calls.filter((k) => k === 'poll').length === 3 &&
          calls.filter((k) => k === 'flaky').length === 3
        ) {
          setTimeout(() => void controller.stop().then(resolve), 50);
        }
        return Promise.resolve(undefined);
      },
      silentLogger,
    );
    controller.start();
    for (const key of ['terminal', 'flaky', 'poll']) controller.enqueue(key);
  });
  await done;
  expect(calls.filter((k) => k === 'terminal')).toHaveLength(1);
  expect(calls.filter((k) => k === 'flaky')).toHaveLength(3); // two failures backed off, then success
  expect(calls.filter((k) => k === 'poll')).toHaveLength(3);
});
