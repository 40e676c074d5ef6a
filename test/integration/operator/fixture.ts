// The cluster every operator and lease integration test starts from: a namespace and database of
// its own, the CRDs, a BrokerPool with short leases (spec.leases, the option users have), the
// test's Topics and ConsumerGroups, and the operator replicas as child processes running
// operator/main.ts with test timings set through its own flags. Teardown goes through the
// product: the Herald objects are deleted while an operator runs, so its finalizers release them
// (a replica is started for that if the test killed them all), then the operators stop and the
// namespace and database go.
import type { GetLeaderResponse } from '../../../proto/gen/herald/v1/GetLeaderResponse';
import { MetaConnection } from '../../../common/meta-client';
import { PAUSED_ANNOTATION } from '../../../operator/controllers/context';
import { runTool } from '../exec';
import { waitFor } from '../wait';
import {
  installCrds,
  kubectlApply,
  poolManifest,
  spawnOperator,
  testNamespace,
  topicManifest,
} from './helpers';
import type { OperatorProcess, TestNamespace } from './helpers';

/** spec.leases of the fixture's BrokerPool: a broker lease of 4 s, a consumer lease of 6 s. */
export const SHORT_LEASES = { brokerSeconds: 4, consumerSeconds: 6, safetyMarginSeconds: 1 };

export function leasesLine(l: {
  brokerSeconds: number;
  consumerSeconds?: number;
  safetyMarginSeconds: number;
}) {
  const consumer = l.consumerSeconds === undefined ? '' : `, consumerSeconds: ${l.consumerSeconds}`;
  return `  leases: {brokerSeconds: ${l.brokerSeconds}${consumer}, safetyMarginSeconds: ${l.safetyMarginSeconds}}`;
}

/**
 * The operator options of a secured install, as the chart sets them: the meta-server's
 * certificate issued from the operator's CA into `certDir` (for 127.0.0.1 here), authentication
 * and authorization.
 */
export function secureOperatorArgs(certDir: string): string[] {
  return [
    '--meta-certificate-dir',
    certDir,
    '--meta-dns-names',
    'localhost',
    '--meta-ip-addresses',
    '127.0.0.1',
    '--authentication',
    '--authorization',
  ];
}

export interface OperatorFixtureOptions {
  prefix: string;
  /** Operator replicas; the first leads before the next ones start. Default 1; 0 for none. */
  operators?: number;
  /** The operators' command-line options. Default: assignment rechecked every 500 ms. */
  operatorArgs?: string[];
  /** The BrokerPool "default" as a manifest, or false for none. Default: MySQL with SHORT_LEASES. */
  pool?: string | false;
  /** `extra`: more spec lines of the Topic, indented two spaces ("  priority: true"). */
  topics?: { name: string; partitions: number; extra?: string }[];
  /** `spec`: more fields of the ConsumerGroup's spec, as YAML flow ("tagFilter: red"). */
  groups?: { name: string; topic: string; spec?: string }[];
}

export interface OperatorFixture {
  ns: TestNamespace;
  /** Every replica started, in order (killed ones included). */
  operators: OperatorProcess[];
  /** A Meta connection to all replicas (it follows the leader). */
  meta: MetaConnection;
  metaAddresses(): string[];
  /** Starts one more replica. */
  addOperator(): Promise<OperatorProcess>;
  /** The replica that leads now, by asking each live one. */
  waitLeader(timeoutMs?: number): Promise<OperatorProcess>;
  stop(): Promise<void>;
}

const alive = (o: OperatorProcess) => o.child.exitCode === null && o.child.signalCode === null;

export function leaderOf(address: string): Promise<GetLeaderResponse> {
  const conn = new MetaConnection([address]);
  return conn.call<GetLeaderResponse>((c, cb) => c.getLeader({}, cb)).finally(() => conn.close());
}

export function groupManifest(g: { name: string; topic: string; spec?: string }): string {
  return `apiVersion: herald.dev/v1alpha1
kind: ConsumerGroup
metadata: {name: ${g.name}}
spec: {topic: ${g.topic}${g.spec ? `, ${g.spec}` : ''}}
`;
}

export async function startOperatorFixture(o: OperatorFixtureOptions): Promise<OperatorFixture> {
  await installCrds();
  const ns = await testNamespace(o.prefix);
  const operators: OperatorProcess[] = [];
  const args = o.operatorArgs ?? ['--assignment-poll-ms', '500'];
  let meta: MetaConnection | undefined;
  const fixture: OperatorFixture = {
    ns,
    operators,
    get meta() {
      meta ??= new MetaConnection(fixture.metaAddresses());
      return meta;
    },
    metaAddresses: () => operators.map((p) => p.metaAddress),
    async addOperator() {
      const p = await spawnOperator(ns.name, args);
      operators.push(p);
      return p;
    },
    waitLeader: (timeoutMs = 60_000) =>
      waitFor(
        'an operator to lead',
        async () => {
          for (const p of operators.filter(alive)) {
            if ((await leaderOf(p.metaAddress).catch(() => undefined))?.isLeader) return p;
          }
          return undefined;
        },
        { timeoutMs, intervalMs: 200 },
      ),
    async stop() {
      meta?.close();
      await finalizeHeraldObjects(fixture);
      await Promise.all(operators.map((p) => p.stop()));
      await ns.delete();
    },
  };
  try {
    // One kubectl apply for everything: a process per object costs about half a second each.
    const manifests = [
      ...(o.pool === false ? [] : [o.pool ?? poolManifest('default', leasesLine(SHORT_LEASES))]),
      ...(o.topics ?? []).map((t) => topicManifest(t.name, t.partitions, t.extra)),
      ...(o.groups ?? []).map(groupManifest),
    ];
    if (manifests.length > 0) await kubectlApply(ns.name, manifests.join('\n---\n'));
    for (let i = 0; i < (o.operators ?? 1); i++) {
      await fixture.addOperator();
      if (i === 0 && (o.operators ?? 1) > 1) await fixture.waitLeader();
    }
  } catch (err) {
    await fixture.stop();
    throw err;
  }
  return fixture;
}

/**
 * Deletes the namespace's Topics, ConsumerGroups and BrokerPools and waits until they are gone.
 * Topics carry the operator's finalizer: they are unpaused so a running operator finalizes them
 * (deletionPolicy decides whether their storage is dropped).
 */
async function finalizeHeraldObjects(f: OperatorFixture): Promise<void> {
  const ns = f.ns.name;
  const kubectl = async (...a: string[]) => {
    const r = await runTool('kubectl', ['-n', ns, ...a]);
    if (r.code !== 0) throw new Error(`kubectl ${a.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const finalized = (await kubectl('get', 'topics', '-o', 'jsonpath={.items[*].metadata.finalizers}')).trim();
  if (finalized !== '') {
    if (!f.operators.some(alive)) await f.addOperator();
    await kubectl('annotate', 'topics,consumergroups,brokerpools', '--all', `${PAUSED_ANNOTATION}-`);
  }
  await kubectl('delete', 'topics', '--all', '--wait=true', '--timeout=120s');
  await kubectl('delete', 'consumergroups,brokerpools', '--all', '--wait=true', '--timeout=60s');
}
