// A lease-mode cluster for tests: the operator fixture (namespace, database, CRDs, operator
// replicas, a BrokerPool with short leases set through spec.leases, Topics and ConsumerGroups)
// plus real broker processes in lease mode (the config the pool's ConfigMap holds, plus the
// pod's environment).
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { MetaConnection } from '../../../common/meta-client';
import type { GetRoutesResponse } from '../../../proto/gen/herald/v1/GetRoutesResponse';
import type { PartitionRoute } from '../../../proto/gen/herald/v1/PartitionRoute';
import type { RowDataPacket } from 'mysql2/promise';
import type { BrokerOptionsInput, MetaOptionsInput } from '../../../common/broker-options';
import { brokerOptions, connect, spawnBroker, sql } from '../broker/helpers';
import type { BrokerProcess, Clients } from '../broker/helpers';
import { poolManifest, waitReady } from '../operator/helpers';
import type { OperatorProcess, TestNamespace } from '../operator/helpers';
import { leasesLine, SHORT_LEASES, startOperatorFixture } from '../operator/fixture';
import type { OperatorFixture } from '../operator/fixture';
import { testEnv } from '../env';
import { waitFor } from '../wait';

export interface LeaseClusterOptions {
  prefix: string;
  brokers: number;
  /** `extra`: more spec lines of the Topic, indented two spaces ("  priority: true"). */
  topics: { name: string; partitions: number; extra?: string }[];
  /** `spec`: more fields of the ConsumerGroup's spec, as YAML flow ("tagFilter: red"). */
  groups?: { name: string; topic: string; spec?: string }[];
  brokerLeaseSeconds?: number;
  consumerLeaseSeconds?: number;
  /** Operator replicas (default 1) and their command-line options (see startOperatorFixture). */
  operators?: number;
  operatorArgs?: string[];
  /** Extra environment for the broker processes, e.g. HERALD_DEBUG. */
  brokerEnv?: Record<string, string>;
  /** Per-broker option overrides, by index (`meta` fields are added to the lease-mode ones). */
  brokerOverrides?: BrokerOverrides[];
  /** The pool also serves Kafka topics, from the environment's Kafka (default false). */
  kafka?: boolean;
}

export type BrokerOverrides = Partial<Omit<BrokerOptionsInput, 'meta'>> & {
  meta?: Partial<MetaOptionsInput>;
};

export interface LeaseBroker {
  id: string;
  address: string;
  process: BrokerProcess;
  clients: Clients;
}

export interface LeaseCluster {
  fixture: OperatorFixture;
  ns: TestNamespace;
  /** The first operator replica. */
  operator: OperatorProcess;
  brokers: LeaseBroker[];
  meta: MetaConnection;
  brokerLeaseMs: number;
  routes(topic: string): Promise<PartitionRoute[]>;
  /** Starts one more lease-mode broker process against every operator replica. */
  addBroker(id: string, overrides?: BrokerOverrides): Promise<LeaseBroker>;
  /** Waits until every partition of the topic has a broker among `ids`. */
  waitAssigned(topic: string, ids: string[], timeoutMs?: number): Promise<PartitionRoute[]>;
  /**
   * Waits until the topic's partitions are spread over all of `ids` (counts differ by at most
   * one): brokers start one after another, so the first ones hold everything for a while.
   */
  waitBalanced(topic: string, ids: string[], timeoutMs?: number): Promise<PartitionRoute[]>;
  stop(): Promise<void>;
}

/** A port that is free now, for a broker whose advertised address must be known up front. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startLeaseBroker(
  ns: TestNamespace,
  metaAddress: string,
  id: string,
  env: Record<string, string> = {},
  overrides: BrokerOverrides = {},
): Promise<LeaseBroker> {
  const address = `127.0.0.1:${await freePort()}`;
  const options = brokerOptions(ns.database, [], {
    ...overrides,
    listen: address,
    meta: {
      ...overrides.meta,
      address: metaAddress,
      namespace: ns.name,
      pool: 'default',
      leases: { safetyMarginSeconds: 1 },
    },
  });
  // Identity and advertised address come from the environment, as in a pod.
  const process = await spawnBroker(options, [], {
    HERALD_POD_NAME: id,
    HERALD_ADVERTISED_ADDRESS: address,
    ...env,
  });
  return { id, address, process, clients: connect(address) };
}

export async function startLeaseCluster(o: LeaseClusterOptions): Promise<LeaseCluster> {
  const brokerSeconds = o.brokerLeaseSeconds ?? SHORT_LEASES.brokerSeconds;
  const consumerSeconds = o.consumerLeaseSeconds ?? SHORT_LEASES.consumerSeconds;
  const fixture = await startOperatorFixture({
    prefix: o.prefix,
    operators: o.operators,
    operatorArgs: o.operatorArgs,
    pool: poolManifest('default', leasesLine({ ...SHORT_LEASES, brokerSeconds, consumerSeconds })).replace(
      'storage: {mysql: {secretRef: {name: mysql}}}',
      o.kafka
        ? `storage: {mysql: {secretRef: {name: mysql}}, kafka: {bootstrapServers: ${JSON.stringify(testEnv().kafkaBrokers)}}}`
        : '$&',
    ),
    topics: o.topics,
    groups: o.groups,
  });
  const { ns, meta } = fixture;
  const brokers: LeaseBroker[] = [];
  const routes = async (topic: string) =>
    (
      await meta.call<GetRoutesResponse>((c, cb) => c.getRoutes({ namespace: ns.name, topic }, cb))
    ).routes.sort((a, b) => a.partition - b.partition);
  const cluster: LeaseCluster = {
    fixture,
    ns,
    operator: fixture.operators[0],
    brokers,
    meta,
    brokerLeaseMs: brokerSeconds * 1000,
    routes,
    addBroker: async (id, overrides) => {
      // A Kafka publish must end within the lease safety margin (1 s here).
      const kafka = o.kafka
        ? { kafka: { bootstrapServers: testEnv().kafkaBrokers, publishTimeoutMs: 800 } }
        : {};
      const b = await startLeaseBroker(ns, fixture.metaAddresses().join(','), id, o.brokerEnv, {
        ...kafka,
        ...overrides,
      });
      brokers.push(b);
      return b;
    },
    waitAssigned: (topic, ids, timeoutMs = 60_000) =>
      waitFor(
        `every partition of ${topic} held by one of ${ids.join(',')}`,
        async () => {
          const r = await routes(topic);
          return r.length > 0 && r.every((x) => ids.includes(x.brokerId)) ? r : undefined;
        },
        { timeoutMs, intervalMs: 100 },
      ),
    waitBalanced: (topic, ids, timeoutMs = 60_000) =>
      waitFor(
        `${topic} spread over ${ids.join(',')}`,
        async () => {
          const r = await routes(topic);
          const counts = ids.map((id) => r.filter((x) => x.brokerId === id).length);
          const all = counts.reduce((a, b) => a + b, 0) === r.length;
          return r.length > 0 && all && Math.max(...counts) - Math.min(...counts) <= 1 ? r : undefined;
        },
        { timeoutMs, intervalMs: 100 },
      ),
    async stop() {
      for (const b of brokers) {
        b.clients.close();
        if (b.process.child.exitCode === null && b.process.child.signalCode === null) {
          b.process.child.kill('SIGTERM');
          await b.process.exited;
        }
      }
      await fixture.stop();
    },
  };
  try {
    for (let i = 0; i < o.brokers; i++) await cluster.addBroker(`b${i}`, o.brokerOverrides?.[i]);
    for (const t of o.topics) await waitReady(ns.name, t.name);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** Waits until the broker says it serves the partition (its lease is valid and the log loaded). */
export function waitServing(
  b: LeaseBroker,
  topic: string,
  partition: number,
  timeoutMs = 60_000,
): Promise<true> {
  return waitFor(
    `${b.id} serving ${topic}/${partition}`,
    () =>
      Promise.resolve(
        b.process.logs.some((line) => {
          try {
            const l = JSON.parse(line) as { msg?: string; topic?: string; partition?: number };
            return l.msg === 'serving partition' && l.topic === topic && l.partition === partition;
          } catch {
            return false;
          }
        })
          ? true
          : undefined,
      ),
    { timeoutMs, intervalMs: 100 },
  );
}

/** A publish the broker acknowledged. */
export interface Acked {
  partition: number;
  offset: number;
  body: string;
}

/**
 * Checks a topic's history after a takeover, from storage and the brokers' write trace
 * (HERALD_DEBUG=broker.publish: "committed" lines; "serving partition" lines with the lease
 * epoch and the end offset read at takeover), and returns the problems found:
 * - every partition's stored offsets are 1..N without a gap;
 * - every acked publish is stored exactly once, at its offset, and no body twice;
 * - the traced writes of a partition, in offset order, never go back to an older epoch, and each
 *   epoch writes only above the end offset it read when it took over: one writer at a time.
 */
export async function partitionHistoryProblems(
  database: string,
  topic: string,
  partitions: number,
  brokers: LeaseBroker[],
  acked: Acked[],
): Promise<string[]> {
  const problems: string[] = [];
  const bodies = new Map<string, number>();
  const stored = new Map<string, string>();
  const ends: number[] = [];
  for (let p = 0; p < partitions; p++) {
    const rows = await sql<RowDataPacket>(database, `SELECT id, body FROM \`m_${topic}_${p}\` ORDER BY id`);
    rows.forEach((r, i) => {
      if (Number(r.id) !== i + 1) problems.push(`${topic}/${p}: offset ${String(r.id)} at position ${i + 1}`);
      const b = Buffer.from(r.body as Buffer).toString();
      stored.set(`${p}/${String(r.id)}`, b);
      bodies.set(b, (bodies.get(b) ?? 0) + 1);
    });
    ends.push(rows.length);
  }
  for (const a of acked) {
    if (stored.get(`${a.partition}/${a.offset}`) !== a.body)
      problems.push(`acked ${a.body} at ${a.partition}/${a.offset} is not stored there`);
    if (bodies.get(a.body) !== 1) problems.push(`acked ${a.body} stored ${bodies.get(a.body) ?? 0} times`);
  }

  interface Write {
    broker: string;
    epoch: number;
    takeoverEnd: number;
    first: number;
    count: number;
  }
  const writes = new Map<number, Write[]>();
  for (const b of brokers) {
    const epochs = new Map<number, { epoch: number; end: number }>();
    for (const line of b.process.logs) {
      let l: {
        msg?: string;
        topic?: string;
        partition?: number;
        epoch?: number;
        endOffset?: number;
        firstOffset?: number;
        count?: number;
      };
      try {
        l = JSON.parse(line) as typeof l;
      } catch {
        continue;
      }
      if (l.topic !== topic || l.partition === undefined) continue;
      if (l.msg === 'serving partition') epochs.set(l.partition, { epoch: l.epoch!, end: l.endOffset! });
      if (l.msg === 'committed') {
        const e = epochs.get(l.partition);
        if (!e) {
          problems.push(`${b.id} wrote ${topic}/${l.partition} without serving it`);
          continue;
        }
        const list = writes.get(l.partition) ?? [];
        list.push({
          broker: b.id,
          epoch: e.epoch,
          takeoverEnd: e.end,
          first: l.firstOffset!,
          count: l.count!,
        });
        writes.set(l.partition, list);
      }
    }
  }
  for (const [p, list] of writes) {
    list.sort((x, y) => x.first - y.first);
    let last: Write | undefined;
    for (const w of list) {
      if (w.first <= w.takeoverEnd)
        problems.push(
          `${topic}/${p}: ${w.broker} epoch ${w.epoch} wrote ${w.first} at or below its takeover end ${w.takeoverEnd}`,
        );
      if (last && w.first < last.first + last.count)
        problems.push(`${topic}/${p}: writes overlap at ${w.first}`);
      if (last && w.epoch < last.epoch)
        problems.push(
          `${topic}/${p}: epoch ${w.epoch} (${w.broker}) wrote ${w.first} after epoch ${last.epoch} (${last.broker}) wrote ${last.first}`,
        );
      last = w;
    }
  }
  return problems;
}
