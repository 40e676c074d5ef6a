// A real broker with TLS, authentication and authorization on, against the real apiserver:
// ServiceAccount tokens from `kubectl create token`, HeraldUser tokens issued by the operator,
// AccessPolicies watched by the broker, certificates from the operator's CA code.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorInfoOf, readErrorInfo } from '../../../common/errors';
import type { Status } from '../../../proto/gen/google/rpc/Status';
import type { PublishStreamResponse } from '../../../proto/gen/herald/v1/PublishStreamResponse';
import { channelCredentials } from '../../../common/grpc/credentials';
import type { ClientSecurity } from '../../../common/grpc/credentials';
import { createLogger } from '../../../common/logger';
import { Authenticator, kubeTokenReviewer } from '../../../common/security/authenticator';
import { AccessWatch } from '../../../common/security/access-watch';
import { loadKubeConfig } from '../../../common/kube/config';
import { startBroker } from '../../../broker/broker';
import { Producer } from '../../../client';
import type { Broker } from '../../../broker/broker';
import { BROKER_ACCESS_BY_PATH } from '../../../broker/security/access-table';
import { createCa, issue } from '../../../operator/ca/ca';
import type { KeyPair } from '../../../operator/ca/ca';
import { loadProtos } from '../../../proto/load';
import type { AdminClient } from '../../../proto/gen/herald/v1/Admin';
import type { BrokerClient } from '../../../proto/gen/herald/v1/Broker';
import { brokerOptions, dropTestDatabases, testDatabase } from '../broker/helpers';
import {
  applyAccessPolicy,
  applyHeraldUser,
  installCrds,
  kube,
  serviceAccountToken,
  spawnOperator,
  testNamespace,
} from '../operator/helpers';
import type { OperatorProcess, TestNamespace } from '../operator/helpers';
import { docShellLines, runDocExample } from '../exec';
import { testEnv } from '../env';
import { waitFor } from '../wait';
import { capturingLogger, expectNoCredentials } from './leaks';

jest.setTimeout(240_000);

const TOPIC = 'orders';
const REVIEW_CACHE_MS = 2_000;
/** kube-apiserver caches successful token authentications this long. */
const APISERVER_TOKEN_CACHE_MS = 10_000;

let ns: TestNamespace;
let operator: OperatorProcess;
let dir: string;
let ca: KeyPair;
let broker: Broker;
const logLines: string[] = [];
const secrets: string[] = [];

function writeFiles(name: string, pair: KeyPair): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  // Like kubelet's Secret volumes: the new files replace the old ones whole.
  writeFileSync(`${keyFile}.tmp`, pair.key);
  writeFileSync(`${certFile}.tmp`, pair.cert);
  renameSync(`${keyFile}.tmp`, keyFile);
  renameSync(`${certFile}.tmp`, certFile);
  secrets.push(pair.key);
  return { certFile, keyFile };
}

const serverCert = (caPair: KeyPair, validity?: { notBefore: Date; notAfter: Date }) =>
  issue(caPair, {
    commonName: 'herald:server:broker:test:pool',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    server: true,
    days: 1,
    validity,
  });

async function createToken(sa: string, audience = 'herald'): Promise<string> {
  const token = await serviceAccountToken(ns.name, sa, audience);
  secrets.push(token);
  return token;
}

async function createServiceAccount(name: string): Promise<void> {
  await kube().core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name } } });
}

interface Clients {
  broker: BrokerClient;
  admin: AdminClient;
  close(): void;
}

function clients(address: string, security: ClientSecurity | undefined): Clients {
  const v1 = loadProtos().grpc.herald.v1;
  const creds = channelCredentials(security);
  const b = new v1.Broker(address, creds);
  const a = new v1.Admin(address, creds);
  return {
    broker: b,
    admin: a,
    close: () => {
      b.close();
      a.close();
    },
  };
}

const caFile = () => join(dir, 'ca.crt');
const withToken = (token: string): ClientSecurity => ({ tls: { caFile: caFile() }, auth: { token } });

type Outcome = { code: grpc.status; reason?: string; metadata?: Record<string, string> };

function statusOutcome(status: Status): Outcome {
  const info = errorInfoOf(status);
  return { code: status.code, reason: info?.reason, metadata: info?.metadata };
}

function outcome(err: grpc.ServiceError | null): Outcome {
  if (!err) return { code: grpc.status.OK };
  const info = readErrorInfo(err);
  return { code: err.code, reason: info?.reason, metadata: info?.metadata };
}

function publish(c: Clients, topic = TOPIC): Promise<Outcome> {
  return new Promise((resolve) =>
    c.broker.Publish(
      { topic, partition: 0, messages: [{ body: Buffer.from('x') }] },
      { deadline: Date.now() + 10_000 },
      (err) => resolve(outcome(err)),
    ),
  );
}

function policy(name: string, subjects: string, rules: string): Promise<void> {
  return applyAccessPolicy(ns.name, name, subjects, rules);
}

beforeAll(async () => {
  await installCrds();
  ns = await testNamespace('sec');
  dir = mkdtempSync(join(tmpdir(), 'herald-sec-'));
  ca = await createCa('test CA', 1);
  writeFileSync(caFile(), ca.cert);
  secrets.push(ca.key);
  const files = writeFiles('broker', await serverCert(ca));
  const database = testDatabase('sec');
  broker = await startBroker(
    brokerOptions(database, [{ name: TOPIC, partitions: 1 }], {
      security: {
        tls: { caFile: caFile(), ...files, refreshMs: 200 },
        metricsTls: true,
        authentication: true,
        authorization: true,
        kubeconfig: testEnv().kubeconfig,
        reviewCacheMs: REVIEW_CACHE_MS,
      },
    }),
    capturingLogger(logLines),
  );
  operator = await spawnOperator(ns.name);
  await createServiceAccount('writer');
  await createServiceAccount('reader');
  await createServiceAccount('nobody');
});

afterAll(async () => {
  await broker?.shutdown();
  await operator?.stop();
  await ns?.delete();
  await dropTestDatabases();
});

describe('authentication', () => {
  test('a ServiceAccount token for audience herald is accepted; another audience, none, or garbage is refused', async () => {
    await policy(
      'writer',
      `[{kind: ServiceAccount, name: writer}]`,
      `[{operations: [publish], topics: [{name: ${TOPIC}}]}]`,
    );
    const good = clients(broker.address, withToken(await createToken('writer')));
    await waitFor('the writer may publish', async () =>
      (await publish(good)).code === grpc.status.OK ? true : undefined,
    );
    const other = clients(broker.address, withToken(await createToken('writer', 'vault')));
    expect(await publish(other)).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      reason: 'CREDENTIALS_INVALID',
    });
    const none = clients(broker.address, { tls: { caFile: caFile() } });
    expect(await publish(none)).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      reason: 'CREDENTIALS_MISSING',
    });
    const forged = clients(broker.address, withToken('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA'));
    expect(await publish(forged)).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      reason: 'CREDENTIALS_INVALID',
    });
    for (const c of [good, other, none, forged]) c.close();
  });

  test('a deleted ServiceAccount token is refused within the review cache bound', async () => {
    await createServiceAccount('doomed');
    await policy(
      'doomed',
      `[{kind: ServiceAccount, name: doomed}]`,
      `[{operations: [publish], topics: [{name: ${TOPIC}}]}]`,
    );
    const c = clients(broker.address, withToken(await createToken('doomed')));
    await waitFor('doomed may publish', async () =>
      (await publish(c)).code === grpc.status.OK ? true : undefined,
    );
    await kube().core.deleteNamespacedServiceAccount({ namespace: ns.name, name: 'doomed' });
    const deletedAt = Date.now();
    const refused = await waitFor(
      'the token refused',
      async () => {
        const o = await publish(c);
        return o.code === grpc.status.UNAUTHENTICATED ? o : undefined;
      },
      { timeoutMs: REVIEW_CACHE_MS + APISERVER_TOKEN_CACHE_MS + 10_000, intervalMs: 100 },
    );
    expect(refused.reason).toBe('CREDENTIALS_INVALID');
    // Our cache bound, plus the apiserver's own cache of token authentications (10 s for
    // ServiceAccount tokens), plus slack for a loaded machine.
    expect(Date.now() - deletedAt).toBeLessThan(REVIEW_CACHE_MS + APISERVER_TOKEN_CACHE_MS + 3_000);
    c.close();
  });

  test('an expired ServiceAccount token is refused (a real token, the clock moved past its exp)', async () => {
    const kc = loadKubeConfig(testEnv().kubeconfig);
    const source = new AccessWatch({
      kc,
      logger: createLogger({ write: () => undefined }),
      relistMs: 60_000,
      watchdogMs: 60_000,
    });
    let now = Date.now();
    const auth = new Authenticator({
      source,
      review: kubeTokenReviewer(kc),
      reviewCacheMs: 60_000,
      maxCachedReviews: 10,
      now: () => now,
    });
    const token = await createToken('writer');
    expect((await Promise.resolve(auth.authenticate(`Bearer ${token}`, undefined))).subject).toBe(
      `system:serviceaccount:${ns.name}:writer`,
    );
    now += 11 * 60_000;
    await expect(
      Promise.resolve().then(() => auth.authenticate(`Bearer ${token}`, undefined)),
    ).rejects.toMatchObject({
      reason: 'CREDENTIALS_EXPIRED',
    });
  });

  test('a HeraldUser token is accepted by hash, and refused once rotated, also on a running PublishStream', async () => {
    await applyHeraldUser(
      ns.name,
      'partner',
      'token',
      '[{operations: [publish], topics: [{prefix: "ord"}]}]',
    );
    const read = async () => {
      const s = await kube().core.readNamespacedSecret({ namespace: ns.name, name: 'herald-user-partner' });
      const t = Buffer.from(s.data?.token ?? '', 'base64').toString('utf8');
      secrets.push(t);
      return t;
    };
    const token = await waitFor('the user Secret', () => read().catch(() => undefined));
    const c = clients(broker.address, withToken(token));
    await waitFor('the user may publish', async () =>
      (await publish(c)).code === grpc.status.OK ? true : undefined,
    );
    // A PublishStream opened with the token, answered before the rotation.
    const stream = c.broker.PublishStream({ deadline: Date.now() + 30_000 });
    const answers: unknown[] = [];
    stream.on('data', (a: unknown) => answers.push(a));
    const streamEnd = new Promise<Outcome>((resolve) => {
      stream.on('error', (err: grpc.ServiceError) => resolve(outcome(err)));
      stream.on('end', () => resolve({ code: grpc.status.OK }));
    });
    let requestId = 0;
    const send = () =>
      stream.write({
        requestId: ++requestId,
        publish: { topic: TOPIC, partition: 0, messages: [{ body: Buffer.from('s') }] },
      });
    send();
    await waitFor('the stream answered', () => Promise.resolve(answers.length === 1 ? true : undefined));

    await kube().core.deleteNamespacedSecret({ namespace: ns.name, name: 'herald-user-partner' });
    await waitFor('the old token refused', async () => {
      const o = await publish(c);
      return o.reason === 'CREDENTIALS_INVALID' ? true : undefined;
    });
    // The stream's next message is checked again: the stream ends, that message unanswered.
    send();
    const ended = await streamEnd;
    expect(ended).toMatchObject({ code: grpc.status.UNAUTHENTICATED, reason: 'CREDENTIALS_INVALID' });
    expect(answers).toHaveLength(1);
    const fresh = clients(
      broker.address,
      withToken(
        await waitFor('a new token', async () => {
          const t = await read().catch(() => undefined);
          return t && t !== token ? t : undefined;
        }),
      ),
    );
    await waitFor('the new token works', async () =>
      (await publish(fresh)).code === grpc.status.OK ? true : undefined,
    );
    c.close();
    fresh.close();
  });
});

describe('SDK', () => {
  test('the SDK sends with a CA and a token file, and re-reads the file when it changes', async () => {
    await policy(
      'sdk',
      `[{kind: ServiceAccount, name: writer}]`,
      `[{operations: [publish], topics: [{name: ${TOPIC}}]}]`,
    );
    const tokenFile = join(dir, 'sdk-token');
    writeFileSync(tokenFile, await createToken('writer'));
    const producer = new Producer({
      broker: broker.address,
      caFile: caFile(),
      tokenFile,
      deliveryTimeoutMs: 5_000,
    });
    try {
      expect((await producer.send(TOPIC, { body: Buffer.from('sdk') })).offset).toBeGreaterThan(0);
      // kubelet rotates the projected token by replacing the file: the next call sends the new one.
      writeFileSync(`${tokenFile}.tmp`, await createToken('writer', 'vault'));
      renameSync(`${tokenFile}.tmp`, tokenFile);
      await expect(producer.send(TOPIC, { body: Buffer.from('sdk') })).rejects.toMatchObject({
        reason: 'CREDENTIALS_INVALID',
      });
    } finally {
      await producer.close();
    }
  });
});

describe('TLS', () => {
  test('a plaintext client and a client that trusts another CA are refused', async () => {
    const token = await createToken('writer');
    const plain = clients(broker.address, undefined);
    expect((await publish(plain)).code).toBe(grpc.status.UNAVAILABLE);
    const otherCa = await createCa('other', 1);
    const otherFile = join(dir, 'other-ca.crt');
    writeFileSync(otherFile, otherCa.cert);
    const wrong = clients(broker.address, { tls: { caFile: otherFile }, auth: { token } });
    expect((await publish(wrong)).code).toBe(grpc.status.UNAVAILABLE);
    plain.close();
    wrong.close();
  });

  test('a broker whose certificate has expired is refused by clients', async () => {
    const expired = writeFiles(
      'expired',
      await serverCert(ca, {
        notBefore: new Date(Date.now() - 2 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
      }),
    );
    const stale = await startBroker(
      brokerOptions(testDatabase('secexp'), [{ name: TOPIC, partitions: 1 }], {
        security: {
          tls: { caFile: caFile(), ...expired },
          authentication: true,
          authorization: true,
          kubeconfig: testEnv().kubeconfig,
          reviewCacheMs: 1000,
        },
      }),
      capturingLogger(logLines),
    );
    try {
      const c = clients(stale.address, withToken(await createToken('writer')));
      expect((await publish(c)).code).toBe(grpc.status.UNAVAILABLE);
      c.close();
    } finally {
      await stale.shutdown();
    }
  });

  test('a rotated certificate is served without a restart', async () => {
    const serial = () =>
      new Promise<string>((resolve, reject) => {
        const [host, port] = [broker.address.split(':')[0], Number(broker.address.split(':')[1])];
        const s = tlsConnect({ host, port, ca: ca.cert, ALPNProtocols: ['h2'] }, () => {
          resolve(s.getPeerCertificate().serialNumber);
          s.end();
        });
        s.on('error', reject);
      });
    const before = await serial();
    writeFiles('broker', await serverCert(ca));
    const after = await waitFor('the new certificate', async () => {
      const s = await serial();
      return s !== before ? s : undefined;
    });
    expect(after).not.toBe(before);
    const c = clients(broker.address, withToken(await createToken('writer')));
    expect((await publish(c)).code).toBe(grpc.status.OK);
    c.close();
  });
});

// Every RPC of Broker and Admin, with a request naming topic `orders` and group `g`, and the
// rule that allows it. A new RPC without a case here fails the first test.
const GROUP = 'g';
const CASES: Record<string, { operation: string; request: object; stream?: boolean }> = {
  '/herald.v1.Broker/Publish': {
    operation: 'publish',
    request: { topic: TOPIC, partition: 0, messages: [{ body: Buffer.from('x') }] },
  },
  '/herald.v1.Broker/PublishStream': {
    operation: 'publish',
    stream: true,
    request: {
      requestId: 1,
      publish: { topic: TOPIC, partition: 0, messages: [{ body: Buffer.from('x') }] },
    },
  },
  '/herald.v1.Broker/Pull': {
    operation: 'consume',
    request: { group: GROUP, topic: TOPIC, partition: 0, maxMessages: 1, maxWaitMs: 0 },
  },
  '/herald.v1.Broker/Subscribe': {
    operation: 'consume',
    stream: true,
    request: { start: { group: GROUP, topic: TOPIC, partition: 0, credits: 1, ackTimeoutMs: 30_000 } },
  },
  '/herald.v1.Broker/Ack': {
    operation: 'consume',
    request: { group: GROUP, topic: TOPIC, partition: 0, offsets: [999_999] },
  },
  '/herald.v1.Broker/Nack': {
    operation: 'consume',
    request: { group: GROUP, topic: TOPIC, partition: 0, offsets: [999_999] },
  },
  '/herald.v1.Admin/GetLag': { operation: 'admin', request: { group: GROUP, topic: TOPIC } },
  '/herald.v1.Admin/ListDeadLetters': {
    operation: 'admin',
    request: { filter: { topic: TOPIC, group: GROUP } },
  },
  '/herald.v1.Admin/ReplayDeadLetters': {
    operation: 'admin',
    request: { filter: { topic: TOPIC, group: GROUP, ids: [1] } },
  },
  '/herald.v1.Admin/PurgeDeadLetters': {
    operation: 'admin',
    request: { filter: { topic: TOPIC, group: GROUP, ids: [1] } },
  },
  '/herald.v1.Admin/Trace': { operation: 'admin', request: { topic: TOPIC, refKey: 'k' } },
  // Peek reads message bodies: consume on the topic, no group.
  '/herald.v1.Admin/Peek': { operation: 'consume', request: { topic: TOPIC, partition: 0, limit: 1 } },
  '/herald.v1.Admin/ResetOffsets': {
    operation: 'admin',
    request: { group: GROUP, topic: TOPIC, partitions: [0], earliest: true },
  },
};

/** Calls `path` with `request` on a raw channel and returns how it ended (a stream: its first answer or its end). */
function call(client: grpc.Client, path: string, c: (typeof CASES)[string]): Promise<Outcome> {
  const def = [
    ...Object.values(loadProtos().grpc.herald.v1.Broker.service),
    ...Object.values(loadProtos().grpc.herald.v1.Admin.service),
  ].find((m) => m.path === path)!;
  const deadline = Date.now() + 5_000;
  return new Promise((resolve) => {
    if (!c.stream) {
      client.makeUnaryRequest(
        path,
        def.requestSerialize,
        def.responseDeserialize,
        c.request,
        { deadline },
        (err) => resolve(outcome(err)),
      );
      return;
    }
    const stream = client.makeBidiStreamRequest(path, def.requestSerialize, def.responseDeserialize, {
      deadline,
    });
    // A PublishStream request refused for its topic is answered in band (PublishStreamResponse.error).
    stream.on('data', (r: { error?: Status | null }) => {
      resolve(r.error ? statusOutcome(r.error) : { code: grpc.status.OK });
      stream.cancel();
    });
    stream.on('error', (err: grpc.ServiceError) => resolve(outcome(err)));
    stream.on('end', () => resolve({ code: grpc.status.OK }));
    stream.write(c.request);
  });
}

describe('authorization', () => {
  test('every RPC of Broker and Admin has a case in this table', () => {
    expect(Object.keys(CASES).sort()).toEqual([...BROKER_ACCESS_BY_PATH.keys()].sort());
  });

  test.each(Object.keys(CASES))('%s: PERMISSION_DENIED without the rule, allowed with it', async (path) => {
    const c = CASES[path];
    const sa = `rpc-${path.split('/')[2].toLowerCase()}`;
    await createServiceAccount(sa);
    const creds = channelCredentials(withToken(await createToken(sa)));
    const client = new grpc.Client(broker.address, creds);
    // A rule for the other operations does not help.
    const others = ['publish', 'consume', 'admin'].filter((o) => o !== c.operation).join(', ');
    await policy(
      sa,
      `[{kind: ServiceAccount, name: ${sa}}]`,
      `[{operations: [${others}], topics: [{prefix: ""}], groups: [{prefix: ""}]}]`,
    );
    const denied = await waitFor('the policy seen', async () => {
      const o = await call(client, path, c);
      return o.code === grpc.status.PERMISSION_DENIED ? o : undefined;
    });
    expect(denied.reason).toBe('PERMISSION_DENIED');
    expect(denied.metadata).toMatchObject({
      operation: c.operation,
      subject: `system:serviceaccount:${ns.name}:${sa}`,
    });
    expect(denied.metadata?.resource).toContain(`topic/${TOPIC}`);
    await policy(
      sa,
      `[{kind: ServiceAccount, name: ${sa}}]`,
      `[{operations: [${c.operation}], topics: [{name: ${TOPIC}}], groups: [{name: ${GROUP}}]}]`,
    );
    const allowed = await waitFor('the rule seen', async () => {
      const o = await call(client, path, c);
      return o.code !== grpc.status.PERMISSION_DENIED ? o : undefined;
    });
    // Allowed: the call reached its handler (which may still refuse it on its own terms).
    expect(allowed.code).not.toBe(grpc.status.UNAUTHENTICATED);
    expect(allowed.reason).not.toBe('PERMISSION_DENIED');
    client.close();
  });

  test('a PublishStream request for a topic the caller may not publish to is answered with PERMISSION_DENIED; the stream goes on', async () => {
    await createServiceAccount('one-topic');
    await policy(
      'one-topic',
      `[{kind: ServiceAccount, name: one-topic}]`,
      `[{operations: [publish], topics: [{name: ${TOPIC}}]}]`,
    );
    const c = clients(broker.address, withToken(await createToken('one-topic')));
    await waitFor('the rule seen', async () =>
      (await publish(c)).code === grpc.status.OK ? true : undefined,
    );
    const stream = c.broker.PublishStream({ deadline: Date.now() + 30_000 });
    const answers = new Map<number, PublishStreamResponse>();
    stream.on('data', (r: PublishStreamResponse) => answers.set(r.requestId, r));
    const ended = new Promise<Outcome>((resolve) => {
      stream.on('error', (err: grpc.ServiceError) => resolve(outcome(err)));
      stream.on('status', (st: grpc.StatusObject) => resolve({ code: st.code }));
    });
    ['orders', 'not-mine', 'orders'].forEach((topic, i) =>
      stream.write({
        requestId: i + 1,
        publish: {
          topic: topic === 'orders' ? TOPIC : topic,
          partition: 0,
          messages: [{ body: Buffer.from(`m${i}`) }],
        },
      }),
    );
    stream.end();
    expect(await ended).toEqual({ code: grpc.status.OK });
    expect(answers.get(1)?.ok?.results).toHaveLength(1);
    expect(answers.get(3)?.ok?.results).toHaveLength(1);
    const refused = answers.get(2)?.error;
    expect(refused && statusOutcome(refused)).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      reason: 'PERMISSION_DENIED',
      metadata: { operation: 'publish' },
    });
    expect(refused && errorInfoOf(refused)?.metadata.resource).toContain('topic/not-mine');
    c.close();
  });

  test('a Subscribe stream ends with PERMISSION_DENIED within seconds of its rule being removed', async () => {
    await policy(
      'reader',
      `[{kind: ServiceAccount, name: reader}]`,
      `[{operations: [consume], topics: [{name: ${TOPIC}}], groups: [{name: live}]}]`,
    );
    const c = clients(broker.address, withToken(await createToken('reader')));
    const stream = await waitFor('a running subscription', async () => {
      const s = c.broker.Subscribe();
      const first = await new Promise<Outcome | 'running'>((resolve) => {
        s.on('error', (err: grpc.ServiceError) => resolve(outcome(err)));
        s.write({ start: { group: 'live', topic: TOPIC, partition: 0, credits: 100, ackTimeoutMs: 30_000 } });
        setTimeout(() => resolve('running'), 1_000);
      });
      return first === 'running' ? s : undefined;
    });
    const ended = new Promise<{ outcome: Outcome; at: number }>((resolve) =>
      stream.on('error', (err: grpc.ServiceError) => resolve({ outcome: outcome(err), at: Date.now() })),
    );
    const removedAt = Date.now();
    await kube().custom.deleteNamespacedCustomObject({
      group: 'herald.dev',
      version: 'v1alpha1',
      plural: 'accesspolicies',
      namespace: ns.name,
      name: 'reader',
    });
    const end = await ended;
    expect(end.outcome).toMatchObject({ code: grpc.status.PERMISSION_DENIED, reason: 'PERMISSION_DENIED' });
    expect(end.at - removedAt).toBeLessThan(5_000);
    c.close();
  });

  test('refusals and authentication steps are counted in /metrics, served over HTTPS with the rotating certificate', async () => {
    // A real TLS client that trusts only our CA; plain HTTP gets no answer.
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const [host, port] = broker.metricsAddress.split(':');
        httpsGet({ host, port: Number(port), path, ca: ca.cert }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }).on('error', reject);
      });
    await expect(fetch(`http://${broker.metricsAddress}/metrics`)).rejects.toThrow();
    expect(await get('/readyz')).toEqual({ status: 200, body: 'ok\n' });
    const text = (await get('/metrics')).body;
    expect(text).toMatch(
      /herald_access_refusals_total\{reason="PERMISSION_DENIED",operation="publish"\} [1-9]/,
    );
    // The tokens of the tests before were reviewed, and their first calls waited for that.
    expect(text).toMatch(/herald_auth_seconds_count\{step="token_review"\} [1-9]/);
    expect(text).toMatch(/herald_auth_seconds_count\{step="wait"\} [1-9]/);
  });

  test('a refused publish and a refused ack are traced under their ref key and message id', async () => {
    await createServiceAccount('tracer');
    await policy(
      'tracer',
      `[{kind: ServiceAccount, name: tracer}]`,
      `[{operations: [admin], topics: [{prefix: ""}], groups: [{prefix: ""}]}]`,
    );
    const admin = clients(broker.address, withToken(await createToken('tracer')));
    const nobody = clients(broker.address, withToken(await createToken('nobody')));
    const anonymous = clients(broker.address, { tls: { caFile: caFile() } });
    const refusedPublish = (c: Clients, refKey: string) =>
      new Promise<Outcome>((resolve) =>
        c.broker.Publish(
          { topic: TOPIC, partition: 0, messages: [{ body: Buffer.from('x'), refKey }] },
          (err) => resolve(outcome(err)),
        ),
      );
    expect(await refusedPublish(nobody, 'order-denied')).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
    });
    expect(await refusedPublish(anonymous, 'order-anon')).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    const ack = await new Promise<Outcome>((resolve) =>
      nobody.broker.Ack({ group: GROUP, topic: TOPIC, partition: 0, offsets: [424_242] }, (err) =>
        resolve(outcome(err)),
      ),
    );
    expect(ack.code).toBe(grpc.status.PERMISSION_DENIED);
    // A PublishStream request refused in band is traced like a refused Publish.
    const stream = nobody.broker.PublishStream({ deadline: Date.now() + 10_000 });
    const answered = new Promise<PublishStreamResponse>((resolve) => stream.on('data', resolve));
    stream.on('error', () => undefined);
    stream.write({
      requestId: 7,
      publish: { topic: TOPIC, partition: 0, messages: [{ body: Buffer.from('x'), refKey: 'order-stream' }] },
    });
    expect((await answered).error?.code).toBe(grpc.status.PERMISSION_DENIED);
    stream.end();
    const trace = (query: object) =>
      waitFor('the refusal traced', async () => {
        const events = await new Promise<{ event: string; detail: Record<string, string> }[]>((resolve) =>
          admin.admin.Trace(query, (err, r) => resolve(err ? [] : (r?.events ?? []))),
        );
        return events.find((e) => e.event === 'refused');
      });
    expect((await trace({ topic: TOPIC, refKey: 'order-denied' })).detail).toMatchObject({
      code: 'PERMISSION_DENIED',
      reason: 'PERMISSION_DENIED',
      method: 'herald.v1.Broker/Publish',
      subject: `system:serviceaccount:${ns.name}:nobody`,
      operation: 'publish',
    });
    expect((await trace({ topic: TOPIC, refKey: 'order-stream' })).detail).toMatchObject({
      code: 'PERMISSION_DENIED',
      method: 'herald.v1.Broker/PublishStream',
      subject: `system:serviceaccount:${ns.name}:nobody`,
    });
    expect((await trace({ topic: TOPIC, refKey: 'order-anon' })).detail).toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'CREDENTIALS_MISSING',
    });
    expect((await trace({ messageId: `${TOPIC}/0/424242` })).detail).toMatchObject({
      code: 'PERMISSION_DENIED',
      method: 'herald.v1.Broker/Ack',
      operation: 'consume',
    });
    for (const c of [admin, nobody, anonymous]) c.close();
  });
});

test('the TLS and token grpcurl examples of docs/clients.md do what the text says', async () => {
  const lines = docShellLines('clients.md');
  const exportToken = lines.find((l) => l.startsWith('export TOKEN=$(kubectl'))!;
  const examples = lines.filter((l) => l.startsWith('grpcurl -cacert '));
  expect(exportToken).toBeDefined();
  expect(examples.length).toBe(3);
  await createServiceAccount('orders-writer');
  await policy(
    'docs',
    `[{kind: ServiceAccount, name: orders-writer}]`,
    `[{operations: [publish], topics: [{name: ${TOPIC}}]}]`,
  );
  const run = async (example: string) => {
    const r = await runDocExample(
      exportToken,
      ns.name,
      example.replaceAll('127.0.0.1:7600', broker.address),
      dir,
    );
    return { code: r.code, out: r.stdout + r.stderr };
  };
  const [list, published, denied] = [await run(examples[0]), await run(examples[1]), await run(examples[2])];
  expect(list.out.split('\n')).toEqual(expect.arrayContaining(['herald.v1.Broker', 'herald.v1.Admin']));
  expect(published.code).toBe(0);
  expect(JSON.parse(published.out)).toMatchObject({ topic: TOPIC, results: [{}] });
  expect(denied.code).not.toBe(0);
  expect(JSON.parse(denied.out)).toMatchObject({
    code: 7,
    details: [
      {
        reason: 'PERMISSION_DENIED',
        metadata: { operation: 'admin', subject: `system:serviceaccount:${ns.name}:orders-writer` },
      },
    ],
  });
});

test('no token or private key appears in any log or any non-Secret object', async () => {
  expect(secrets.length).toBeGreaterThan(5);
  await expectNoCredentials({
    namespaces: [ns.name],
    credentials: secrets,
    logs: [['broker log', logLines.join('\n')]],
  });
});
