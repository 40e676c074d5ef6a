// The SDK's own cost of a send() (a script, not a test), issue #15: 64 loops each awaiting every
// send, keyed, 1 KiB bodies, direct mode, against a stand-in broker in a child process that
// answers every PublishStream request at once, so what is measured is the Producer and
// grpc-js on the client side. Prints sends/s, this process's CPU per send and the promises
// created per send (async_hooks; independent of the machine's load).
//   BENCH_SENDS=1000 node -r ts-node/register/transpile-only bench/sdk-per-send.ts
import * as grpc from '@grpc/grpc-js';
import { createHook } from 'node:async_hooks';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Producer } from '../client';
import { loadProtos } from '../proto/load';
import type { BrokerHandlers } from '../proto/gen/herald/v1/Broker';
import type { PublishStreamRequest } from '../proto/gen/herald/v1/PublishStreamRequest';
import { runBenchmark } from './results';

const SENDS = Number(process.env.BENCH_SENDS ?? 1000);
const PRODUCERS = 64;
const WARM_UP = 200;

async function serve(): Promise<void> {
  const server = new grpc.Server();
  let offset = 0;
  const handlers: Pick<BrokerHandlers, 'PublishStream'> = {
    PublishStream(call) {
      call.on('data', (req: PublishStreamRequest) => {
        const publish = req.publish!;
        const results = publish.messages.map((_, i) => ({
          offset: offset + i,
          messageId: `t/0/${offset + i}`,
        }));
        offset += results.length;
        call.write({
          requestId: req.requestId,
          ok: { topic: publish.topic, partition: 0, partitions: 16, results },
        });
      });
      call.on('end', () => call.end());
    },
  };
  server.addService(loadProtos().grpc.herald.v1.Broker.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  process.send?.(port);
}

async function drive(port: number): Promise<void> {
  const producer = new Producer({ broker: `127.0.0.1:${port}` });
  const body = Buffer.alloc(1024, 1);
  const loop = async (i: number, n: number) => {
    for (let k = 0; k < n; k++) await producer.send('t', { key: `k${i}`, body });
  };
  const all = (n: number) => Promise.all(Array.from({ length: PRODUCERS }, (_, i) => loop(i, n)));
  await all(WARM_UP); // connections, the topic's partition count
  let promises = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') promises++;
    },
  });
  const cpu = process.cpuUsage();
  const started = performance.now();
  const requests = producer.publishRequests;
  hook.enable();
  await all(SENDS);
  hook.disable();
  const used = process.cpuUsage(cpu);
  const sends = PRODUCERS * SENDS;
  console.log(
    JSON.stringify({
      sends,
      perSecond: Math.round(sends / ((performance.now() - started) / 1000)),
      clientUsPerSend: Number(((used.user + used.system) / sends).toFixed(1)),
      promisesPerSend: Number((promises / sends).toFixed(2)),
      requestsPerSend: Number(((producer.publishRequests - requests) / sends).toFixed(3)),
      load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    }),
  );
  await producer.close();
}

if (process.argv[2] === 'serve') void serve();
else
  runBenchmark(async () => {
    const child = fork(__filename, ['serve'], { execArgv: ['-r', 'ts-node/register/transpile-only'] });
    try {
      const port = await new Promise<number>((resolve) => child.once('message', (p) => resolve(Number(p))));
      await drive(port);
    } finally {
      child.kill();
    }
  });
