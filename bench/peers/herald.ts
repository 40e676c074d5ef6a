// Herald as a peer: one broker process (dist/broker/main.js, compiled as the image runs it;
// standalone) on a fresh MariaDB database with the product's default options, driven two ways:
// - "sdk": the TypeScript SDK as an application writes it: one Producer shared by every
//   producer loop (send() per message, keyed), one Consumer in direct mode on Subscribe streams;
// - "grpc": the generated gRPC client: a batch is one unary Publish, single messages go on a
//   PublishStream per producer; Subscribe per partition with credits, deliveries several to a
//   response (max_batch) and acks on the stream (BENCH_GRPC_ACKS=unary: one delivery per
//   response and batched unary Acks, the idiom before those fields).
import * as grpc from '@grpc/grpc-js';
import { Consumer, Producer as SdkProducer } from '../../client';
import type { ProducerOptions } from '../../client';
import type { BrokerOptionsInput } from '../../common/broker-options';
import type { Delivery } from '../../proto/gen/herald/v1/Delivery';
import type { SubscribeResponse } from '../../proto/gen/herald/v1/SubscribeResponse';
import { api, connect, spawnBroker } from '../../test/integration/broker/helpers';
import type { BrokerProcess } from '../../test/integration/broker/helpers';
import { ioCounters, pidsNamed } from '../proc';
import { streamProducer } from '../load';
import type { Driver, Producer } from './driver';
import { brokerProfile } from './profile';
import type { MetricsSnapshot } from './profile';

export const PARTITIONS = 16;
const GROUP = 'bench';
const ACK_EVERY = 100;
// The acks of one partition wait up to ACK_LINGER_MS (or ACK_EVERY offsets) and go as one ack,
// as the SDK's consumer does (client/consumer.ts). At 62 msg/s per partition that is ~1 ack per message.
const ACK_LINGER_MS = Number(process.env.BENCH_ACK_LINGER_MS ?? 5);
const STREAM_ACKS = (process.env.BENCH_GRPC_ACKS ?? 'stream') === 'stream';

export interface Herald {
  broker: BrokerProcess;
  sdk: Driver;
  grpc: Driver;
  close(): Promise<void>;
}

export async function startHerald(
  mysqlUrl: string,
  topics: string[],
  options: Partial<BrokerOptionsInput>,
  nodeArgs: string[],
  /** The compiled broker entry point (dist/broker/main.js). */
  compiled: string,
  /** Merged into the SDK Producer's options (BENCH_SDK_OPTIONS). */
  sdkOptions: Partial<ProducerOptions> = {},
): Promise<Herald> {
  const broker = await spawnBroker(
    {
      listen: '127.0.0.1:0',
      metricsListen: '127.0.0.1:0',
      httpListen: '127.0.0.1:0',
      mysql: { url: mysqlUrl },
      topics: topics.map((name) => ({ name, partitions: PARTITIONS })),
      ...options,
    },
    nodeArgs,
    {},
    compiled,
  );
  const processes = () => ({ broker: [broker.child.pid!], mariadb: pidsNamed('mariadbd') });
  const sdk = new SdkDriver(broker.address, broker.metricsAddress, processes, sdkOptions);
  const raw = new GrpcDriver(broker.address, broker.metricsAddress, processes);
  return {
    broker,
    sdk,
    grpc: raw,
    close: async () => {
      await sdk.close();
      await raw.close();
      broker.child.kill('SIGTERM');
      await broker.exited;
    },
  };
}

/** Herald topics are declared when the broker starts (standalone mode): nothing to create. */
abstract class HeraldDriver {
  constructor(
    protected readonly address: string,
    private readonly metricsAddress: string,
    private readonly processes: () => Record<string, number[]>,
  ) {}

  serverProcesses(): Record<string, number[]> {
    return this.processes();
  }

  /** The broker's /metrics, plus its syscall counters from /proc (as `proc_syscw` / `proc_syscr`). */
  async profile(): Promise<MetricsSnapshot> {
    const snapshot = await brokerProfile(this.metricsAddress);
    const io = ioCounters(this.processes().broker[0]);
    snapshot.set('proc_syscw', io.syscw);
    snapshot.set('proc_syscr', io.syscr);
    return snapshot;
  }

  createQueue(): Promise<void> {
    return Promise.resolve();
  }

  deleteQueue(): Promise<void> {
    return Promise.resolve();
  }
}

class SdkDriver extends HeraldDriver implements Driver {
  readonly name = 'Herald (SDK)';
  readonly id = 'herald-sdk';
  private producers = new Map<string, SdkProducer>();
  private closedCalls = 0;

  constructor(
    address: string,
    metricsAddress: string,
    processes: () => Record<string, number[]>,
    private readonly producerOptions: Partial<ProducerOptions>,
  ) {
    super(address, metricsAddress, processes);
  }

  publishCalls(): number {
    return this.closedCalls + [...this.producers.values()].reduce((n, p) => n + p.publishRequests, 0);
  }

  producer(queue: string): Promise<Producer> {
    let p = this.producers.get(queue);
    if (!p) {
      p = new SdkProducer({ ...this.producerOptions, broker: this.address });
      this.producers.set(queue, p);
    }
    const shared = p;
    return Promise.resolve({
      publish: (bodies, key) =>
        Promise.all(bodies.map((body) => shared.send(queue, { key, body }))).then(() => undefined),
      close: () => Promise.resolve(),
    });
  }

  async consume(queue: string, onMessage: (body: Buffer, storedAtMs?: number) => void) {
    const consumer = new Consumer({
      broker: this.address,
      group: GROUP,
      topic: queue,
      partitions: Array.from({ length: PARTITIONS }, (_, i) => i),
      fetch: 'subscribe',
      concurrency: 2000,
    });
    await consumer.run({ eachMessage: (m) => onMessage(m.body, m.publishTimeMs) });
    return { stop: () => consumer.close() };
  }

  async close(): Promise<void> {
    for (const p of this.producers.values()) {
      await p.close();
      this.closedCalls += p.publishRequests;
    }
    this.producers.clear();
  }
}

class GrpcDriver extends HeraldDriver implements Driver {
  readonly name = 'Herald (gRPC)';
  readonly id = 'herald-grpc';
  private readonly clients: ReturnType<typeof connect>;
  private readonly call: ReturnType<typeof api>;

  constructor(address: string, metricsAddress: string, processes: () => Record<string, number[]>) {
    super(address, metricsAddress, processes);
    this.clients = connect(address);
    this.call = api(this.clients);
  }

  producer(queue: string): Promise<Producer> {
    let stream: ReturnType<typeof streamProducer> | undefined;
    return Promise.resolve({
      publish: async (bodies, key) => {
        if (bodies.length > 1) {
          await this.call.publish({ topic: queue, key, messages: bodies.map((body) => ({ body })) });
          return;
        }
        stream ??= streamProducer(this.clients.broker);
        await stream.publish({ topic: queue, key, messages: [{ body: bodies[0] }] });
      },
      close: () => {
        stream?.end();
        return Promise.resolve();
      },
    });
  }

  consume(queue: string, onMessage: (body: Buffer, storedAtMs?: number) => void) {
    const streams = Array.from({ length: PARTITIONS }, (_, partition) => {
      const stream = this.clients.broker.Subscribe();
      let received = 0;
      let toAck: number[] = [];
      let timer: NodeJS.Timeout | undefined;
      const flush = () => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        if (toAck.length === 0) return;
        const offsets = toAck;
        toAck = [];
        if (STREAM_ACKS) stream.write({ ack: { offsets } });
        else
          this.call
            .ack({ group: GROUP, topic: queue, partition, offsets })
            .catch((err: unknown) => console.error('ack failed', err));
      };
      const take = (d: Delivery) => {
        onMessage(d.body, d.publishTimeMs);
        toAck.push(d.offset);
        if (++received % 500 === 0) stream.write({ credits: 500 });
      };
      stream.on('data', (r: SubscribeResponse) => {
        if (r.ackRefused) console.error('ack refused', r.ackRefused);
        if (r.delivery) take(r.delivery);
        r.deliveries.forEach(take);
        if (toAck.length >= ACK_EVERY) flush();
        else if (toAck.length > 0) timer ??= setTimeout(flush, ACK_LINGER_MS);
      });
      stream.on('error', (err: grpc.ServiceError) => {
        if (err.code !== grpc.status.CANCELLED) console.error('subscribe failed', err);
      });
      stream.write({
        start: {
          group: GROUP,
          topic: queue,
          partition,
          credits: 1000,
          ackTimeoutMs: 60_000,
          maxBatch: STREAM_ACKS ? ACK_EVERY : 0,
        },
      });
      return () => {
        flush();
        // Half-closing lets the broker read the last acks written on the stream.
        if (STREAM_ACKS) stream.end();
        else stream.cancel();
      };
    });
    return Promise.resolve({
      stop: () => {
        streams.forEach((stop) => stop());
        return Promise.resolve();
      },
    });
  }

  close(): Promise<void> {
    this.clients.close();
    return Promise.resolve();
  }
}
