// The meta-server with TLS from the operator's own CA, authentication and authorization on, and
// real lease-mode brokers that reach it (and forward to each other) with their certificates:
// brokers and the meta-server authenticate each other by certificate (mTLS). Against the real
// apiserver (the operator fixture), over real TLS.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readErrorInfo } from '../../../common/errors';
import { channelCredentials } from '../../../common/grpc/credentials';
import type { ClientSecurity } from '../../../common/grpc/credentials';
import { MetaConnection } from '../../../common/meta-client';
import { createCa, issue } from '../../../operator/ca/ca';
import type { KeyPair, Validity } from '../../../operator/ca/ca';
import { loadProtos } from '../../../proto/load';
import type { GetLeaderResponse } from '../../../proto/gen/herald/v1/GetLeaderResponse';
import type { GetRoutesResponse } from '../../../proto/gen/herald/v1/GetRoutesResponse';
import type { AcquireBrokerLeasesResponse } from '../../../proto/gen/herald/v1/AcquireBrokerLeasesResponse';
import { secureOperatorArgs, startOperatorFixture } from '../operator/fixture';
import type { OperatorFixture } from '../operator/fixture';
import { applyAccessPolicy, kube, waitReady } from '../operator/helpers';
import { startLeaseBroker } from '../leases/helpers';
import type { LeaseBroker } from '../leases/helpers';
import { runTool } from '../exec';
import { testEnv } from '../env';
import { waitFor } from '../wait';

jest.setTimeout(240_000);

const TOPIC = 'orders';
const PARTITIONS = 4;

let fixture: OperatorFixture;
let dir: string;
let ca: KeyPair;
const brokers: LeaseBroker[] = [];

const caFile = () => join(dir, 'meta-tls', 'ca.crt');
const metaAddress = () => fixture.operators[0].metaAddress;

function writePair(name: string, pair: KeyPair): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, pair.cert);
  writeFileSync(keyFile, pair.key, { mode: 0o600 });
  return { certFile, keyFile };
}

/** A broker's certificate from the operator's CA (the one the operator keeps in herald-ca). */
async function brokerCert(name: string, validity?: Validity) {
  return writePair(
    name,
    await issue(ca, {
      commonName: `herald:server:broker:${fixture.ns.name}:default`,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      server: true,
      days: 1,
      validity,
    }),
  );
}

type Outcome = { code: grpc.status; reason?: string };
const outcome = (err: unknown): Outcome => {
  const e = err as grpc.ServiceError;
  return { code: e.code, reason: readErrorInfo(e)?.reason };
};

/** A Meta call on one connection, its error as an outcome. */
async function metaCall<T>(
  security: ClientSecurity | undefined,
  call: (conn: MetaConnection) => Promise<T>,
): Promise<T | Outcome> {
  const conn = new MetaConnection([metaAddress()], () => channelCredentials(security));
  try {
    return await call(conn);
  } catch (err) {
    return outcome(err);
  } finally {
    conn.close();
  }
}

const getLeader = (conn: MetaConnection) => conn.call<GetLeaderResponse>((c, cb) => c.getLeader({}, cb));
const acquire = (conn: MetaConnection, id: string) =>
  conn.call<AcquireBrokerLeasesResponse>((c, cb) =>
    c.acquireBrokerLeases(
      {
        namespace: fixture.ns.name,
        pool: 'default',
        broker: { id, address: `${id}.test:7600`, zone: '', weight: 1 },
      },
      cb,
    ),
  );

async function createToken(sa: string): Promise<string> {
  await kube().core.createNamespacedServiceAccount({
    namespace: fixture.ns.name,
    body: { metadata: { name: sa } },
  });
  const r = await runTool('kubectl', ['-n', fixture.ns.name, 'create', 'token', sa, '--audience', 'herald']);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-meta-tls-'));
  fixture = await startOperatorFixture({
    prefix: 'metatls',
    operatorArgs: [
      '--assignment-poll-ms',
      '500',
      ...secureOperatorArgs(join(dir, 'meta-tls')),
      '--review-cache-ms',
      '2000',
    ],
    topics: [{ name: TOPIC, partitions: PARTITIONS }],
  });
  // The CA the operator created for itself: its key signs the brokers' certificates below, as
  // the BrokerPool controller does.
  const secret = await kube().core.readNamespacedSecret({ namespace: fixture.ns.name, name: 'herald-ca' });
  const pem = (k: string) => Buffer.from(secret.data?.[k] ?? '', 'base64').toString('utf8');
  ca = { cert: pem('tls.crt'), key: pem('tls.key') };
  expect(readFileSync(caFile(), 'utf8')).toBe(ca.cert);
});

afterAll(async () => {
  for (const b of brokers) {
    b.clients.close();
    b.process.child.kill('SIGTERM');
    await b.process.exited;
  }
  await fixture?.stop();
});

test('a plaintext client and a client that trusts another CA are refused by the meta-server', async () => {
  expect(await metaCall(undefined, getLeader)).toMatchObject({ code: grpc.status.UNAVAILABLE });
  const other = await createCa('other', 1);
  const otherFile = join(dir, 'other-ca.crt');
  writeFileSync(otherFile, other.cert);
  expect(await metaCall({ tls: { caFile: otherFile } }, getLeader)).toMatchObject({
    code: grpc.status.UNAVAILABLE,
  });
  // Trusting the operator's CA but sending no credential: the handshake passes, the call does not.
  expect(await metaCall({ tls: { caFile: caFile() } }, getLeader)).toMatchObject({
    code: grpc.status.UNAUTHENTICATED,
    reason: 'CREDENTIALS_MISSING',
  });
});

test('a broker certificate from the CA gets leases; an expired one is refused', async () => {
  const valid = await brokerCert('broker');
  const granted = await waitFor('leases for the broker', async () => {
    const r = await metaCall({ tls: { caFile: caFile(), ...valid } }, (c) => acquire(c, 'b-cert'));
    return 'leases' in r && r.leases.length > 0 ? r : undefined;
  });
  expect(granted.leases.length).toBe(PARTITIONS);
  await metaCall({ tls: { caFile: caFile(), ...valid } }, (c) =>
    c.call((m, cb) =>
      m.releaseBrokerLeases(
        {
          namespace: fixture.ns.name,
          pool: 'default',
          brokerId: 'b-cert',
          leases: granted.leases,
          leaving: true,
        },
        cb,
      ),
    ),
  );

  const expired = await brokerCert('expired', {
    notBefore: new Date(Date.now() - 2 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  // The handshake does not verify the certificate, so the call carries no identity.
  expect(await metaCall({ tls: { caFile: caFile(), ...expired } }, (c) => acquire(c, 'b-old'))).toMatchObject(
    {
      code: grpc.status.UNAUTHENTICATED,
      reason: 'CREDENTIALS_MISSING',
    },
  );
});

test('a client with a ServiceAccount token reads routes but may not take broker leases', async () => {
  const token = await createToken('app');
  const security: ClientSecurity = { tls: { caFile: caFile() }, auth: { token } };
  const routes = await metaCall(security, (c) =>
    c.call<GetRoutesResponse>((m, cb) => m.getRoutes({ namespace: fixture.ns.name, topic: TOPIC }, cb)),
  );
  expect(routes).toHaveProperty('routes');
  expect(await metaCall(security, (c) => acquire(c, 'b-impostor'))).toMatchObject({
    code: grpc.status.PERMISSION_DENIED,
    reason: 'PERMISSION_DENIED',
  });
  // Group membership needs a consume rule on the group.
  const join = (conn: MetaConnection) =>
    conn.call((m, cb) =>
      m.joinGroup({ namespace: fixture.ns.name, group: 'billing', consumerId: 'c1', zone: '' }, cb),
    );
  expect(await metaCall(security, join)).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
});

test('lease-mode brokers with certificates hold leases and forward calls to each other over mTLS', async () => {
  const token = await createToken('writer');
  await applyAccessPolicy(
    fixture.ns.name,
    'writer',
    '[{kind: ServiceAccount, name: writer}]',
    `[{operations: [publish], topics: [{name: ${TOPIC}}]}]`,
  );
  for (const id of ['b0', 'b1']) {
    const files = await brokerCert(`lease-${id}`);
    brokers.push(
      await startLeaseBroker(
        fixture.ns,
        metaAddress(),
        id,
        {},
        {
          security: {
            tls: { caFile: caFile(), ...files },
            authentication: true,
            authorization: true,
            kubeconfig: testEnv().kubeconfig,
          },
        },
      ),
    );
  }
  await waitReady(fixture.ns.name, TOPIC);
  const security: ClientSecurity = { tls: { caFile: caFile() }, auth: { token } };
  const routes = await waitFor('partitions on both brokers', async () => {
    const r = await metaCall(security, (c) =>
      c.call<GetRoutesResponse>((m, cb) => m.getRoutes({ namespace: fixture.ns.name, topic: TOPIC }, cb)),
    );
    const ids = 'routes' in r ? new Set(r.routes.map((x) => x.brokerId)) : new Set();
    return 'routes' in r && r.routes.length === PARTITIONS && ids.has('b0') && ids.has('b1') ? r : undefined;
  });
  const entry = brokers[0];
  const foreign = routes.routes.filter((r) => r.brokerId !== entry.id).map((r) => r.partition);
  expect(foreign.length).toBeGreaterThan(0);
  const client = new (loadProtos().grpc.herald.v1.Broker)(entry.address, channelCredentials(security));
  try {
    // Every partition through one broker: the others' are forwarded with its certificate.
    for (let p = 0; p < PARTITIONS; p++) {
      const res = await waitFor(
        `publish to partition ${p}`,
        () =>
          new Promise<{ partition: number } | undefined>((resolve) =>
            client.Publish(
              { topic: TOPIC, partition: p, messages: [{ body: Buffer.from(`m${p}`) }] },
              { deadline: Date.now() + 10_000 },
              (err, r) => resolve(err ? undefined : r),
            ),
          ),
      );
      expect(res.partition).toBe(p);
    }
  } finally {
    client.close();
  }
});
