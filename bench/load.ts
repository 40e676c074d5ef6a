// Load generation shared by the benchmarks: concurrent loops for a fixed time, percentiles,
// and a producer on its own PublishStream.
import type { BrokerClient } from '../proto/gen/herald/v1/Broker';
import type { PublishRequest__Input } from '../proto/gen/herald/v1/PublishRequest';
import type { PublishStreamResponse } from '../proto/gen/herald/v1/PublishStreamResponse';

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
