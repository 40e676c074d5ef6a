// Load generation shared by the benchmarks: concurrent loops for a fixed time, percentiles,
// a producer on its own PublishStream, and a consumer of every partition.
import * as grpc from '@grpc/grpc-js';
import type { BrokerClient } from '../proto/gen/herald/v1/Broker';
import type { Delivery } from '../proto/gen/herald/v1/Delivery';
import type { PublishRequest__Input } from '../proto/gen/herald/v1/PublishRequest';
import type { PublishStreamResponse } from '../proto/gen/herald/v1/PublishStreamResponse';
import type { api, connect } from '../test/integration/broker/helpers';

/** Runs `worker` in `n` concurrent loops for `seconds`; returns units (its results) per second. */
export async function loops(
  n: number,
  seconds: number,
  worker: (i: number) => Promise<number>,
): Promise<number> {
  const stopAt = performance.now() + seconds * 1000;
  const started = performance.now();
  const counts = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      let count = 0;
      while (performance.now() < stopAt) count += await worker(i);
      return count;
    }),
  );
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - started) / 1000);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A producer on its own PublishStream: publish() resolves when that request is answered. */
export function streamProducer(broker: BrokerClient) {
  const stream = broker.PublishStream();
  const waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let nextId = 1;
  stream.on('data', (r: PublishStreamResponse) => {
    const id = Number(r.requestId);
    const w = waiting.get(id);
    waiting.delete(id);
    if (r.error) w?.reject(new Error(r.error.message));
    else w?.resolve();
  });
  stream.on('error', (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  });
  return {
    publish: (publish: PublishRequest__Input) =>
      new Promise<void>((resolve, reject) => {
        const requestId = nextId++;
        waiting.set(requestId, { resolve, reject });
        stream.write({ requestId, publish });
      }),
    end: () => stream.end(),
  };
}

/** Subscribes to every partition; calls onMessage per delivery; acks in batches. */
export function subscribeAll(
  clients: ReturnType<typeof connect>,
  call: ReturnType<typeof api>,
  partitions: number,
  topic: string,
  group: string,
  onMessage: (d: Delivery) => void,
) {
  const streams = Array.from({ length: partitions }, (_, partition) => {
    const stream = clients.broker.Subscribe();
    let received = 0;
    let toAck: number[] = [];
    const flushAcks = () => {
      if (toAck.length === 0) return;
      const offsets = toAck;
      toAck = [];
      call
        .ack({ group, topic, partition, offsets })
        .catch((err: unknown) => console.error('ack failed', err));
    };
    const timer = setInterval(flushAcks, 50);
    stream.on('data', (r: { delivery: Delivery | null }) => {
      const d = r.delivery!;
      onMessage(d);
      toAck.push(d.offset);
      if (++received % 500 === 0) {
        stream.write({ credits: 500 });
        flushAcks();
      }
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) console.error('subscribe failed', err);
    });
    stream.write({ start: { group, topic, partition, credits: 1000, ackTimeoutMs: 60_000 } });
    return {
      stop: () => {
        clearInterval(timer);
        flushAcks();
        stream.cancel();
      },
    };
  });
  return { stop: () => streams.forEach((s) => s.stop()) };
}
