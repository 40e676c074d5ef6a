// NATS JetStream as a peer: nats-server built from its Go module (test/env/tools.sh peers),
// on loopback, JetStream file storage with `sync_interval: always` (every message fsynced
// before its PubAck; the default syncs every 2 minutes, which is not durable per message).
// Streams use work-queue retention (an ack removes the message, fsynced too), one durable
// pull consumer with explicit acks; clients @nats-io/transport-node and @nats-io/jetstream.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Driver, Producer } from './driver';
import { requireFreePort } from '../proc';

// @nats-io/nats-core's package.json names its types "./lib/mod.d.js", so under this repo's
// moduleResolution the connection's own type does not resolve: what the benchmark uses of it.
interface NatsConnection {
  close(): Promise<void>;
  drain(): Promise<void>;
}

function connectNats(port: number): Promise<NatsConnection> {
  return connect({ servers: `127.0.0.1:${port}` }) as Promise<NatsConnection>;
}

export const NATS_SERVER = join(
  process.env.HERALD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'herald'),
  'bin',
  'nats-server',
);

export async function startNats(dir: string, port: number): Promise<Driver> {
  await requireFreePort(port, 'nats-server');
  mkdirSync(join(dir, 'jetstream'), { recursive: true });
  const config = join(dir, 'nats.conf');
  writeFileSync(
    config,
    [
      `host: 127.0.0.1`,
      `port: ${port}`,
      `max_payload: 8MB`,
      `jetstream {`,
      `  store_dir: "${join(dir, 'jetstream')}"`,
      `  sync_interval: always`,
      `}`,
    ].join('\n') + '\n',
  );
  const child = spawn(NATS_SERVER, ['-c', config], { stdio: 'ignore' });
  let nc: NatsConnection | undefined;
  const deadline = performance.now() + 30_000;
  while (!nc) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
    if (performance.now() > deadline) throw new Error('nats-server did not accept connections within 30 s');
    nc = await connectNats(port).catch(() => undefined);
    if (!nc) await new Promise((r) => setTimeout(r, 200));
  }
  return new NatsDriver(child, nc, await jetstreamManager(nc), port);
}

class NatsDriver implements Driver {
  readonly name = 'NATS JetStream (sync always)';
  readonly id = 'nats';
  private readonly js: JetStreamClient;

  constructor(
    private readonly child: ChildProcess,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly port: number,
  ) {
    this.js = jetstream(nc);
  }

  serverProcesses(): Record<string, number[]> {
    return { nats: [this.child.pid!] };
  }

  async createQueue(queue: string): Promise<void> {
    await this.jsm.streams.add({
      name: queue,
      subjects: [queue],
      storage: StorageType.File,
      retention: RetentionPolicy.Workqueue,
    });
    await this.jsm.consumers.add(queue, {
      durable_name: 'bench',
      ack_policy: AckPolicy.Explicit,
      max_ack_pending: 20_000,
    });
  }

  async deleteQueue(queue: string): Promise<void> {
    await this.jsm.streams.delete(queue);
  }

  /** Producers share the connection, as a NATS application does. */
  producer(queue: string): Promise<Producer> {
    return Promise.resolve({
      publish: (bodies) => Promise.all(bodies.map((b) => this.js.publish(queue, b))).then(() => undefined),
      close: () => Promise.resolve(),
    });
  }

  async consume(queue: string, onMessage: (body: Buffer) => void) {
    const nc = await connectNats(this.port);
    const consumer = await jetstream(nc).consumers.get(queue, 'bench');
    const messages = await consumer.consume({ max_messages: 1000 });
    const done = (async () => {
      for await (const m of messages) {
        onMessage(Buffer.from(m.data));
        m.ack();
      }
    })();
    return {
      stop: async () => {
        await messages.close();
        await done;
        await nc.drain();
      },
    };
  }

  async close(): Promise<void> {
    await this.nc.close().catch(() => undefined);
    const exited = new Promise((r) => this.child.once('exit', r));
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
