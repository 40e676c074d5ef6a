// The Kafka tail's loops against a cluster that fails: they retry with backoff and never reject
// (a rejected loop is an unhandled rejection, which ends a Node process).
import { silentLogger } from '../../../common/logger';
import type { HeraldCluster } from '../../../storage/kafka/cluster';
import { KafkaTail } from '../../../storage/kafka/tail';
import type { TailSink } from '../../../storage/storage';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await sleep(10);
  }
}

test('a leader out of reach and a followed topic without metadata are retried: no loop rejects', async () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  const withMetadata = new Set(['a']);
  let brokerCalls = 0;
  const raw = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    refreshMetadata: () => Promise.resolve(),
    addTargetTopic: (topic: string) =>
      withMetadata.has(topic) ? Promise.resolve() : Promise.reject(new Error(`no metadata for ${topic}`)),
    findLeaderForPartitions: (_topic: string, partitions: number[]) => ({ '1': partitions }),
  };
  const cluster = {
    raw,
    broker: () => {
      brokerCalls++;
      return Promise.reject(new Error('Connection refused'));
    },
  } as unknown as HeraldCluster;
  const sink: TailSink = { appended: () => undefined, truncated: () => undefined };
  const tail = new KafkaTail(cluster, { tailWaitMs: 50, fetchMaxBytes: 1 << 20 }, silentLogger);
  try {
    tail.follow({ topic: 'a', partition: 0 }, 0, sink);
    await until(() => brokerCalls >= 2, 5_000);
    // The running loop finds the new topic's metadata missing at its next look for the leaders.
    tail.follow({ topic: 'b', partition: 0 }, 0, sink);
    await sleep(1_000);
    withMetadata.add('b');
    const before = brokerCalls;
    await until(() => brokerCalls > before, 5_000);
  } finally {
    await tail.close();
    process.off('unhandledRejection', onRejection);
  }
  expect(rejections).toEqual([]);
});
