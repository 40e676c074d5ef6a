// RabbitMQ as a peer: Debian's rabbitmq-server run as a private node on loopback (its own
// node name, ports, epmd port, mnesia and log directories, no plugins), quorum queues (their
// write-ahead log is fsynced before a confirm), and amqplib's ConfirmChannel: a publish counts
// once its confirm arrived. Consumers ack with `multiple` every 100 messages or 5 ms.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Driver, Producer } from './driver';
import { processTree, requireFreePort } from '../proc';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
/** Erlang's port mapper (Debian's erlang-base, a dependency of rabbitmq-server). */
const EPMD = '/usr/bin/epmd';
const ACK_EVERY = 100;
const ACK_LINGER_MS = 5;

export async function startRabbitmq(dir: string, basePort: number): Promise<Driver> {
  const ports = { amqp: basePort, dist: basePort + 1, epmd: basePort + 2 };
  for (const [what, port] of Object.entries(ports)) await requireFreePort(port, `RabbitMQ ${what}`);
  for (const d of ['mnesia', 'log', 'home']) mkdirSync(join(dir, d), { recursive: true });
  const plugins = join(dir, 'enabled_plugins');
  writeFileSync(plugins, '[].\n');
  const env = {
    ...process.env,
    HOME: join(dir, 'home'), // the Erlang cookie goes here
    RABBITMQ_NODENAME: `herald-bench-${basePort}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(ports.amqp),
    RABBITMQ_DIST_PORT: String(ports.dist),
    ERL_EPMD_PORT: String(ports.epmd),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    // Erlang distribution on loopback too (it listens on every interface by default).
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: plugins,
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
  };
  const child = spawn(SERVER, [], { env, stdio: 'ignore', detached: true });
  const url = `amqp://guest:guest@127.0.0.1:${ports.amqp}`;
  let conn: ChannelModel | undefined;
  const deadline = performance.now() + 120_000;
  while (!conn) {
    if (child.exitCode !== null)
      throw new Error(`rabbitmq-server exited with ${child.exitCode} (logs in ${dir}/log)`);
    if (performance.now() > deadline)
      throw new Error(`rabbitmq-server did not accept connections within 120 s`);
    conn = await amqp.connect(url).catch(() => undefined);
    if (!conn) await new Promise((r) => setTimeout(r, 500));
  }
  return new RabbitDriver(child, conn, url, ports.epmd);
}

class RabbitDriver implements Driver {
  readonly name = 'RabbitMQ quorum';
  readonly id = 'rabbitmq';
  private admin: ConfirmChannel | undefined;
  private readonly conns: ChannelModel[] = [];

  constructor(
    private readonly child: ChildProcess,
    private readonly conn: ChannelModel,
    private readonly url: string,
    private readonly epmdPort: number,
  ) {}

  serverProcesses(): Record<string, number[]> {
    return { rabbitmq: processTree(this.child.pid!) };
  }

  private async channel(): Promise<ConfirmChannel> {
    this.admin ??= await this.conn.createConfirmChannel();
    return this.admin;
  }

  async createQueue(queue: string): Promise<void> {
    await (
      await this.channel()
    ).assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  }

  async deleteQueue(queue: string): Promise<void> {
    await (await this.channel()).deleteQueue(queue);
  }

  /** Producers share the connection (the usual idiom); each has its own confirm channel. */
  async producer(queue: string): Promise<Producer> {
    const ch = await this.conn.createConfirmChannel();
    return {
      publish: (bodies) =>
        Promise.all(
          bodies.map(
            (body) =>
              new Promise<void>((resolve, reject) => {
                ch.sendToQueue(queue, body, { persistent: true }, (err: unknown) =>
                  err ? reject(err instanceof Error ? err : new Error('publish not confirmed')) : resolve(),
                );
              }),
          ),
        ).then(() => undefined),
      close: () => ch.close(),
    };
  }

  async consume(queue: string, onMessage: (body: Buffer) => void) {
    const conn = await amqp.connect(this.url);
    this.conns.push(conn);
    const ch = await conn.createChannel();
    await ch.prefetch(1000);
    let last: ConsumeMessage | undefined;
    let unacked = 0;
    let timer: NodeJS.Timeout | undefined;
    const ack = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (last) ch.ack(last, true);
      last = undefined;
      unacked = 0;
    };
    const { consumerTag } = await ch.consume(queue, (m) => {
      if (!m) return;
      onMessage(m.content);
      last = m;
      if (++unacked >= ACK_EVERY) ack();
      else timer ??= setTimeout(ack, ACK_LINGER_MS);
    });
    return {
      stop: async () => {
        await ch.cancel(consumerTag);
        ack();
        await ch.close();
        await conn.close();
        this.conns.splice(this.conns.indexOf(conn), 1);
      },
    };
  }

  async close(): Promise<void> {
    for (const c of this.conns) await c.close().catch(() => undefined);
    await this.conn.close().catch(() => undefined);
    const exited = new Promise((r) => this.child.once('exit', r));
    if (this.child.exitCode === null) process.kill(-this.child.pid!, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (this.child.exitCode === null) process.kill(-this.child.pid!, 'SIGKILL');
    // The node started its own epmd (a daemon, on our private port): stop it too.
    await new Promise<void>((resolve) => {
      const epmd = spawn(EPMD, ['-kill'], {
        env: { ...process.env, ERL_EPMD_PORT: String(this.epmdPort) },
        stdio: 'ignore',
      });
      epmd.once('exit', () => resolve());
      epmd.once('error', () => resolve());
    });
  }
}
