// Shared plumbing for broker integration tests: options pointing at a test's own database,
// in-process and child-process brokers, typed promise wrappers for the generated clients,
// and direct SQL for checking what was stored.
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect as connectTcp, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { service as healthService } from 'grpc-health-check';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { startBroker } from '../../../broker/broker';
import type { Broker } from '../../../broker/broker';
import { createLogger, silentLogger } from '../../../common/logger';
import { POD_ENVIRONMENT } from '../../../common/broker-options';
import type { BrokerOptionsInput } from '../../../common/broker-options';
import type { Ownership } from '../../../broker/ownership';
import { readErrorInfo } from '../../../common/errors';
import { loadProtos } from '../../../proto/load';
import type { AdminClient } from '../../../proto/gen/herald/v1/Admin';
import type { BrokerClient } from '../../../proto/gen/herald/v1/Broker';
import type { ErrorInfo } from '../../../proto/gen/google/rpc/ErrorInfo';
import type { AckRequest__Input } from '../../../proto/gen/herald/v1/AckRequest';
import type { GetLagRequest__Input } from '../../../proto/gen/herald/v1/GetLagRequest';
import type { ListDeadLettersRequest__Input } from '../../../proto/gen/herald/v1/ListDeadLettersRequest';
import type { PurgeDeadLettersRequest__Input } from '../../../proto/gen/herald/v1/PurgeDeadLettersRequest';
import type { ReplayDeadLettersRequest__Input } from '../../../proto/gen/herald/v1/ReplayDeadLettersRequest';
import type { NackRequest__Input } from '../../../proto/gen/herald/v1/NackRequest';
import type { PublishRequest__Input } from '../../../proto/gen/herald/v1/PublishRequest';
import type { PullRequest__Input } from '../../../proto/gen/herald/v1/PullRequest';
import type { PeekRequest__Input } from '../../../proto/gen/herald/v1/PeekRequest';
import type { PeekResponse } from '../../../proto/gen/herald/v1/PeekResponse';
import type { ResetOffsetsRequest__Input } from '../../../proto/gen/herald/v1/ResetOffsetsRequest';
import type { ResetOffsetsResponse } from '../../../proto/gen/herald/v1/ResetOffsetsResponse';
import type { TraceRequest__Input } from '../../../proto/gen/herald/v1/TraceRequest';
import type { TraceResponse } from '../../../proto/gen/herald/v1/TraceResponse';
import { testEnv, uniqueDatabase } from '../env';
import { waitFor } from '../wait';

const created: string[] = [];

/** A database name unique to this test, dropped by dropTestDatabases (call it in afterAll). */
export function testDatabase(prefix: string): string {
  const name = uniqueDatabase(prefix);
  created.push(name);
  return name;
}

export async function dropTestDatabases(): Promise<void> {
  for (const name of created.splice(0)) await sql(name, `DROP DATABASE IF EXISTS \`${name}\``);
}

/** mysql://... of the environment with the database replaced. */
export function mysqlUrl(database: string): string {
  const url = new URL(testEnv().mysqlUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export function brokerOptions(
  database: string,
  topics: BrokerOptionsInput['topics'],
  overrides: Partial<BrokerOptionsInput> = {},
): BrokerOptionsInput {
  return {
    listen: '127.0.0.1:0',
    metricsListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    topics,
    shutdownTimeoutMs: 5000,
    ...overrides,
    // `overrides.mysql` replaces single fields (the URL, a timeout), not the test settings.
    mysql: {
      url: mysqlUrl(database),
      poolSize: 4,
      pingIntervalMs: 100,
      connectTimeoutMs: 1000,
      ...overrides.mysql,
    },
  };
}

/** Test logs: silent unless HERALD_TEST_LOGS=1. */
export const testLogger = process.env.HERALD_TEST_LOGS ? createLogger() : silentLogger;

export interface Clients {
  broker: BrokerClient;
  admin: AdminClient;
  close(): void;
}

export function connect(address: string): Clients {
  const v1 = loadProtos().grpc.herald.v1;
  const broker = new v1.Broker(address, grpc.credentials.createInsecure());
  const admin = new v1.Admin(address, grpc.credentials.createInsecure());
  return {
    broker,
    admin,
    close: () => {
      broker.close();
      admin.close();
    },
  };
}

export interface Running {
  broker: Broker;
  clients: Clients;
  stop(): Promise<void>;
}

export async function runBroker(options: BrokerOptionsInput, ownership?: Ownership): Promise<Running> {
  const broker = await startBroker(options, testLogger, ownership);
  const clients = connect(broker.address);
  return {
    broker,
    clients,
    stop: async () => {
      clients.close();
      await broker.shutdown();
    },
  };
}

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;

/** A unary call as a promise: unary(client.Publish.bind(client), request). */
export function unary<Req, Res>(fn: (req: Req, cb: Callback<Res>) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

/** The error a promise rejects with, as code + ErrorInfo; fails the test if it resolves. */
export async function failure(
  p: Promise<unknown>,
): Promise<{ code: grpc.status; info: ErrorInfo | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, info: readErrorInfo(e), message: e.details };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export async function sql<T extends RowDataPacket>(
  database: string,
  statement: string,
  values: unknown[] = [],
): Promise<T[]> {
  const conn = await mysql.createConnection(mysqlUrl(database));
  try {
    const [rows] = await conn.query<T[]>(statement, values);
    return rows;
  } finally {
    await conn.end();
  }
}

/** Rows in all message tables of a topic. */
export async function storedCount(database: string, topic: string, partitions: number): Promise<number> {
  let n = 0;
  for (let p = 0; p < partitions; p++) {
    const rows = await sql<RowDataPacket>(database, `SELECT COUNT(*) AS n FROM \`m_${topic}_${p}\``);
    n += Number(rows[0].n);
  }
  return n;
}

export async function metricValue(metricsAddress: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

/** Sum and count of a histogram on the broker's /metrics (its first label set). */
export async function histogram(
  metricsAddress: string,
  name: string,
): Promise<{ sum: number; count: number }> {
  const [sum, count] = await Promise.all([
    metricValue(metricsAddress, `${name}_sum`),
    metricValue(metricsAddress, `${name}_count`),
  ]);
  return { sum, count };
}

const spawned = new Set<ChildProcess>();

/** Kills every broker process spawnBroker started that is still running (call in afterAll). */
export function killSpawnedBrokers(): void {
  for (const child of spawned) child.kill('SIGKILL');
}

export interface BrokerProcess {
  child: ChildProcess;
  address: string;
  metricsAddress: string;
  /** The REST gateway's host:port. */
  httpAddress: string;
  exited: Promise<number | null>;
  /** Every stderr line so far (JSON log lines). */
  logs: string[];
}

/**
 * Starts broker/main.ts in a child process (TypeScript transpiled on load by ts-node), or the
 * compiled `compiled` (dist/broker/main.js, as the image runs it: ts-node alone adds ~100 MiB
 * of RSS). nodeArgs go to node itself, e.g. ['--cpu-prof']; env is added to the environment.
 */
export async function spawnBroker(
  options: BrokerOptionsInput,
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
  compiled?: string,
): Promise<BrokerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-broker-'));
  const config = join(dir, 'broker.json');
  writeFileSync(config, JSON.stringify(options));
  const root = join(__dirname, '..', '..', '..');
  const entry = compiled
    ? [compiled]
    : ['-r', 'ts-node/register/transpile-only', join(root, 'broker', 'main.ts')];
  // A pod variable in the caller's shell (HERALD_MYSQL_URL, exported by the environment's
  // env.sh) would override these options and send the broker to another database: only `env`
  // sets them.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !(POD_ENVIRONMENT as readonly string[]).includes(name)),
  );
  const child = spawn(process.execPath, [...nodeArgs, ...entry, '--config', config], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...inherited, ...env },
  });
  spawned.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      spawned.delete(child);
      resolve(code);
    }),
  );
  const lines = createInterface({ input: child.stderr });
  const stderr: string[] = [];
  const started = await new Promise<{ address: string; metricsAddress: string; httpAddress: string }>(
    (resolve, reject) => {
      lines.on('line', (line) => {
        stderr.push(line);
        if (process.env.HERALD_TEST_LOGS) process.stderr.write(line + '\n');
        try {
          const parsed = JSON.parse(line) as {
            msg?: string;
            address?: string;
            metricsAddress?: string;
            httpAddress?: string;
          };
          if (
            parsed.msg === 'broker started' &&
            parsed.address &&
            parsed.metricsAddress &&
            parsed.httpAddress
          ) {
            const { address, metricsAddress, httpAddress } = parsed;
            resolve({ address, metricsAddress, httpAddress });
          }
        } catch {
          // not a log line
        }
      });
      void exited.then((code) => reject(new Error(`broker exited with ${code}: ${stderr.join('\n')}`)));
    },
  );
  return { child, ...started, exited, logs: stderr };
}

/** The Broker and Admin calls as promises. */
export function api(c: Clients) {
  const b = c.broker;
  return {
    publish: (r: PublishRequest__Input) => unary(b.Publish.bind(b), r),
    pull: (r: PullRequest__Input) => unary(b.Pull.bind(b), r),
    ack: (r: AckRequest__Input) => unary(b.Ack.bind(b), r),
    nack: (r: NackRequest__Input) => unary(b.Nack.bind(b), r),
    getLag: (r: GetLagRequest__Input) => unary(c.admin.GetLag.bind(c.admin), r),
    trace: (r: TraceRequest__Input) =>
      unary<TraceRequest__Input, TraceResponse>(c.admin.Trace.bind(c.admin), r),
    resetOffsets: (r: ResetOffsetsRequest__Input) =>
      unary<ResetOffsetsRequest__Input, ResetOffsetsResponse>(c.admin.ResetOffsets.bind(c.admin), r),
    listDeadLetters: (r: ListDeadLettersRequest__Input) => unary(c.admin.ListDeadLetters.bind(c.admin), r),
    replayDeadLetters: (r: ReplayDeadLettersRequest__Input) =>
      unary(c.admin.ReplayDeadLetters.bind(c.admin), r),
    purgeDeadLetters: (r: PurgeDeadLettersRequest__Input) => unary(c.admin.PurgeDeadLetters.bind(c.admin), r),
    peek: (r: PeekRequest__Input) => unary<PeekRequest__Input, PeekResponse>(c.admin.Peek.bind(c.admin), r),
  };
}

export function body(text: string): { body: Buffer } {
  return { body: Buffer.from(text) };
}

/** Waits until a synchronous condition holds (checked every 10 ms). */
export function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<true> {
  return waitFor(what, () => Promise.resolve(condition() ? true : undefined), { timeoutMs, intervalMs: 10 });
}

/** grpc.health.v1 Check of the whole server ('' service): SERVING, NOT_SERVING... */
export function healthStatus(address: string): Promise<string> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const check = healthService.Check;
  return new Promise<string>((resolve, reject) => {
    client.makeUnaryRequest(
      check.path,
      check.requestSerialize,
      check.responseDeserialize,
      { service: '' },
      (err: grpc.ServiceError | null, res?: object) =>
        err ? reject(err) : resolve((res as { status: string }).status),
    );
  }).finally(() => client.close());
}

/** A started TcpProxy in front of the test MariaDB, and the URL of `database` through it. */
export async function mysqlProxy(database: string): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(testEnv().mysqlUrl);
  const proxy = new TcpProxy(target.hostname, Number(target.port));
  await proxy.start();
  const url = new URL(mysqlUrl(database));
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}

/**
 * Broker options whose MySQL connection goes through a started TcpProxy the test can cut, with
 * short connect and query timeouts so that an outage shows at once.
 */
export async function proxiedBrokerOptions(
  database: string,
  topics: BrokerOptionsInput['topics'],
  overrides: Partial<BrokerOptionsInput> = {},
): Promise<{ options: BrokerOptionsInput; proxy: TcpProxy }> {
  const { proxy, url } = await mysqlProxy(database);
  const options = brokerOptions(database, topics, {
    ...overrides,
    mysql: { ...overrides.mysql, url, connectTimeoutMs: 500, queryTimeoutMs: 2000 },
  });
  return { options, proxy };
}

/**
 * A TCP proxy in front of MariaDB that a test can cut and restore, to simulate an outage, or
 * hold: what clients send stays in the proxy (MariaDB's replies still flow) until released, as
 * writes delayed on the network would be.
 */
export class TcpProxy {
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  /** While holding: every chunk a client sent, with the connection it goes to, in arrival order. */
  private holding: { upstream: Socket; chunk: Buffer }[] | undefined;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connectTcp(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (chunk: Buffer) => {
        if (this.holding) this.holding.push({ upstream, chunk });
        else upstream.write(chunk);
      });
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** From now on keeps what clients send, on every connection, instead of passing it on. */
  hold(): void {
    this.holding ??= [];
  }

  /** What was held since hold(), as text: the SQL of the held statements is readable in it. */
  held(): string {
    return Buffer.concat((this.holding ?? []).map((h) => h.chunk)).toString('latin1');
  }

  /** Passes on what was held, each connection's bytes in their order, and stops holding. */
  release(): void {
    const held = this.holding ?? [];
    this.holding = undefined;
    for (const { upstream, chunk } of held) upstream.write(chunk);
  }

  /** Refuses new connections and breaks the open ones. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
