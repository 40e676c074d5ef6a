// The meta-server with TLS from the operator's own CA, authentication and authorization on, and
// real lease-mode brokers that reach it (and forward to each other) with their certificates:
// brokers and the meta-server authenticate each other by certificate (mTLS). Against the real
// apiserver (the operator fixture), over real TLS. The meta-server's certificate lives 15 s here,
// so it is renewed (at two thirds) several times while the file runs; /metrics is HTTPS.
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readErrorInfo } from '../../../common/errors';
import { channelCredentials } from '../../../common/grpc/credentials';
import type { ClientSecurity } from '../../../common/grpc/credentials';
import { MetaConnection } from '../../../common/meta-client';
import { createCa, issue } from '../../../operator/ca/ca';
import type { KeyPair, Validity } from '../../../operator/ca/ca';
import { loadMetaProto, loadProtos } from '../../../proto/load';
import type { GetLeaderResponse } from '../../../proto/gen/herald/v1/GetLeaderResponse';
import type { GetRoutesResponse } from '../../../proto/gen/herald/v1/GetRoutesResponse';
import type { AcquireBrokerLeasesResponse } from '../../../proto/gen/herald/v1/AcquireBrokerLeasesResponse';
import { Consumer } from '../../../client';
import { groupManifest, secureOperatorArgs, startOperatorFixture } from '../operator/fixture';
import type { OperatorFixture } from '../operator/fixture';
import { applyAccessPolicy, kube, kubectlApply, serviceAccountToken, waitReady } from '../operator/helpers';
import { startLeaseBroker } from '../leases/helpers';
import type { LeaseBroker } from '../leases/helpers';
import { testEnv } from '../env';
import { waitFor } from '../wait';
import { expectNoCredentials } from './leaks';

jest.setTimeout(240_000);

const TOPIC = 'orders';
const PARTITIONS = 4;
/** The meta-server certificate's lifetime: renewed after 10 s, re-read every 200 ms. */
const CERT_LIFETIME_S = 15;

let fixture: OperatorFixture;
let dir: string;
let ca: KeyPair;
const brokers: LeaseBroker[] = [];
/** Every token and key this file makes, looked for in logs and objects at the end. */
const credentials: string[] = [];

const caFile = () => join(dir, 'meta-tls', 'ca.crt');
const metaAddress = () => fixture.operators[0].metaAddress;

function writePair(name: string, pair: KeyPair): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, pair.cert);
  writeFileSync(keyFile, pair.key, { mode: 0o600 });
  credentials.push(pair.key);
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
  const token = await serviceAccountToken(fixture.ns.name, sa);
  credentials.push(token);
  return token;
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
      '--meta-certificate-lifetime-seconds',
      String(CERT_LIFETIME_S),
      '--tls-refresh-ms',
      '200',
      '--metrics-tls',
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

test('a consumer refused by the meta-server fails fast: at its join, and when its rule goes away', async () => {
  await kubectlApply(fixture.ns.name, groupManifest({ name: 'billing', topic: TOPIC }));
  const token = await createToken('member');
  const denied = new Consumer({
    meta: [metaAddress()],
    namespace: fixture.ns.name,
    group: 'billing',
    caFile: caFile(),
    token,
  });
  await expect(denied.run({ eachMessage: () => undefined })).rejects.toMatchObject({
    reason: 'PERMISSION_DENIED',
  });
  await denied.close();

  await applyAccessPolicy(
    fixture.ns.name,
    'member',
    '[{kind: ServiceAccount, name: member}]',
    `[{operations: [consume], topics: [{name: ${TOPIC}}], groups: [{name: billing}]}]`,
  );
  // `herald consume --follow`, the CLI a user runs, until the rule is removed under it.
  const child = spawn(
    process.execPath,
    [join(__dirname, '..', '..', '..', 'bin', 'herald'), 'consume', TOPIC, '--group', 'billing', '--follow'],
    {
      env: {
        ...process.env,
        HERALD_META: metaAddress(),
        HERALD_NAMESPACE: fixture.ns.name,
        HERALD_CA_FILE: caFile(),
        HERALD_TOKEN: token,
      },
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await waitFor(
      'the CLI consuming',
      () => Promise.resolve(stderr.includes('consuming') ? true : undefined),
      {
        timeoutMs: 60_000,
      },
    );
    await kube().custom.deleteNamespacedCustomObject({
      group: 'herald.dev',
      version: 'v1alpha1',
      plural: 'accesspolicies',
      namespace: fixture.ns.name,
      name: 'member',
    });
    const removedAt = Date.now();
    expect(await exited).toBe(1);
    expect(Date.now() - removedAt).toBeLessThan(15_000);
    expect(stderr).toContain('herald: PERMISSION_DENIED');
  } finally {
    child.kill('SIGKILL');
  }
});

// Every RPC of herald.v1.Meta, who may call it, and a request. A new RPC without a case here
// fails the first test. `server`: Herald server certificates only; `consume`/`admin`: a rule
// for that operation on the group / every topic; `any`: any authenticated caller.
const CASES: Record<string, { allowed: 'server' | 'consume' | 'admin' | 'any'; request: object }> = {
  '/herald.v1.Meta/AcquireBrokerLeases': {
    allowed: 'server',
    request: { namespace: 'rpc', pool: 'none', broker: { id: 'rpc', address: 'rpc:1', zone: '', weight: 1 } },
  },
  '/herald.v1.Meta/RenewBrokerLeases': {
    allowed: 'server',
    request: { namespace: 'rpc', pool: 'none', brokerId: 'rpc', leases: [] },
  },
  '/herald.v1.Meta/ReleaseBrokerLeases': {
    allowed: 'server',
    request: { namespace: 'rpc', pool: 'none', brokerId: 'rpc', leases: [], leaving: true },
  },
  '/herald.v1.Meta/GetConsumerLeases': { allowed: 'server', request: { namespace: 'rpc', group: 'g' } },
  '/herald.v1.Meta/JoinGroup': {
    allowed: 'consume',
    request: { namespace: 'rpc', group: 'g', consumerId: 'c', zone: '' },
  },
  '/herald.v1.Meta/GroupHeartbeat': {
    allowed: 'consume',
    request: { namespace: 'rpc', group: 'g', consumerId: 'c', leases: [] },
  },
  '/herald.v1.Meta/LeaveGroup': {
    allowed: 'consume',
    request: { namespace: 'rpc', group: 'g', consumerId: 'c' },
  },
  '/herald.v1.Meta/GetRoutes': { allowed: 'any', request: { namespace: 'rpc', topic: TOPIC } },
  '/herald.v1.Meta/ListTopics': { allowed: 'admin', request: { namespace: 'rpc' } },
  '/herald.v1.Meta/GetLeader': { allowed: 'any', request: {} },
};

describe('every Meta RPC', () => {
  const methods = () => Object.values(loadMetaProto().grpc.herald.v1.Meta.service);
  let identities: Record<'server' | 'ruled' | 'unruled' | 'anonymous', grpc.Client>;

  /** Calls `path` on a raw channel and returns how it ended. */
  const call = (client: grpc.Client, path: string) =>
    new Promise<Outcome>((resolve) => {
      const def = methods().find((m) => m.path === path)!;
      client.makeUnaryRequest(
        path,
        def.requestSerialize,
        def.responseDeserialize,
        CASES[path].request,
        { deadline: Date.now() + 5_000 },
        (err) => resolve(err ? outcome(err) : { code: grpc.status.OK }),
      );
    });

  beforeAll(async () => {
    const ca = { caFile: caFile() };
    const client = (security: ClientSecurity) => new grpc.Client(metaAddress(), channelCredentials(security));
    await applyAccessPolicy(
      fixture.ns.name,
      'rpc-ruled',
      '[{kind: ServiceAccount, name: rpc-ruled}]',
      '[{operations: [consume, admin], topics: [{prefix: ""}], groups: [{prefix: ""}]}]',
    );
    identities = {
      server: client({ tls: { ...ca, ...(await brokerCert('rpc-server')) } }),
      ruled: client({ tls: ca, auth: { token: await createToken('rpc-ruled') } }),
      unruled: client({ tls: ca, auth: { token: await createToken('rpc-unruled') } }),
      anonymous: client({ tls: ca }),
    };
  });

  afterAll(() => Object.values(identities ?? {}).forEach((c) => c.close()));

  test('every RPC of Meta has a case in this table', () => {
    expect(Object.keys(CASES).sort()).toEqual(
      methods()
        .map((m) => m.path)
        .sort(),
    );
  });

  test.each(Object.keys(CASES))('%s: allowed with the right identity, refused without', async (path) => {
    const { allowed } = CASES[path];
    // The right identity reaches the handler (which may still refuse on its own terms).
    const right = allowed === 'server' ? identities.server : identities.ruled;
    const ok = await waitFor('the policy seen', async () => {
      const o = await call(right, path);
      return o.reason !== 'PERMISSION_DENIED' ? o : undefined;
    });
    expect(ok.code).not.toBe(grpc.status.UNAUTHENTICATED);
    expect(await call(identities.anonymous, path)).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      reason: 'CREDENTIALS_MISSING',
    });
    if (allowed === 'any') {
      expect((await call(identities.unruled, path)).code).not.toBe(grpc.status.UNAUTHENTICATED);
      return;
    }
    // The wrong one: a token with every client rule for a server RPC, none for the others.
    const wrong = allowed === 'server' ? identities.ruled : identities.unruled;
    expect(await call(wrong, path)).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      reason: 'PERMISSION_DENIED',
    });
  });
});

test('the meta-server serves its renewed certificate without a restart; clients keep working', async () => {
  const security: ClientSecurity = {
    tls: { caFile: caFile() },
    auth: { token: await createToken('renewal') },
  };
  const [host, port] = metaAddress().split(':');
  const served = () =>
    new Promise<{ serial: string; notAfter: number }>((resolve, reject) => {
      const s = tlsConnect({ host, port: Number(port), ca: ca.cert, ALPNProtocols: ['h2'] }, () => {
        const c = s.getPeerCertificate();
        resolve({ serial: c.serialNumber, notAfter: new Date(c.valid_to).getTime() });
        s.end();
      });
      s.on('error', reject);
    });
  // One connection made before the renewal, used throughout.
  const kept = new MetaConnection([metaAddress()], () => channelCredentials(security));
  try {
    expect(await getLeader(kept)).toHaveProperty('isLeader', true);
    const first = await served();
    const renewed = await waitFor(
      'a renewed certificate',
      async () => {
        const now = await served();
        return now.serial !== first.serial ? now : undefined;
      },
      { timeoutMs: CERT_LIFETIME_S * 1000 + 10_000, intervalMs: 200 },
    );
    expect(renewed.notAfter).toBeGreaterThan(first.notAfter);
    // Once the first certificate has expired, the old connection and new ones still work: a
    // new client verifies what is served now.
    await waitFor(
      'the first certificate expired',
      () => Promise.resolve(Date.now() > first.notAfter + 500 ? true : undefined),
      {
        timeoutMs: CERT_LIFETIME_S * 1000 + 5_000,
        intervalMs: 200,
      },
    );
    expect(await getLeader(kept)).toHaveProperty('isLeader', true);
    expect(await metaCall(security, getLeader)).toHaveProperty('isLeader', true);
    // /metrics is HTTPS with the same renewed certificate, verified against the CA.
    const [mHost, mPort] = fixture.operators[0].metricsAddress.split(':');
    const status = await new Promise<number>((resolve, reject) =>
      httpsGet({ host: mHost, port: Number(mPort), path: '/metrics', ca: ca.cert }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject),
    );
    expect(status).toBe(200);
    await expect(fetch(`http://${fixture.operators[0].metricsAddress}/metrics`)).rejects.toThrow();
  } finally {
    kept.close();
  }
});

test('no token or private key appears in any log or any non-Secret object', async () => {
  await expectNoCredentials({
    namespaces: [fixture.ns.name],
    credentials,
    logs: brokers.map((b): [string, string] => [`broker ${b.id}`, b.process.logs.join('\n')]),
  });
});
